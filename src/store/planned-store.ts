import type { Kysely } from 'kysely';
import { all, get, type Plan, run } from './plan.ts';
import { buildPlans, type Once, type Plans } from './plans.ts';
import { buildQueries, type CheckedRow, MAX_ROWS, type Queries } from './queries.ts';
import type { ApiKeyRow, Database, DeliveryRow, LedgerRow, TaskRow, WebhookRow } from './schema.ts';
import type { ActiveKey, Lane, Settlement, Store, UsageRow } from './store.ts';
import { buildWebhookQueries, type WebhookQueries } from './webhook-queries.ts';
import { WriteBatcher } from './write-batcher.ts';

/**
 * How a plan needs to run: `statement`, as its statements come (one statement is atomic by
 * itself, and some reads need no common snapshot); `snapshot`, its reads in one read
 * transaction; `write`, in one write transaction whose lock is taken before its first
 * statement, so that what it reads cannot change before it writes.
 */
export type Isolation = 'statement' | 'snapshot' | 'write';

/** Every statement and plan, compiled once by a database's own query builder. */
export interface Statements {
  q: Queries;
  w: WebhookQueries;
  plans: Plans;
}

export function buildStatements(db: Kysely<Database>): Statements {
  const q = buildQueries(db);
  const w = buildWebhookQueries(db);
  return { q, w, plans: buildPlans(q, w) };
}

/** How a database runs plans. */
export interface Driver {
  /** Runs the plan `make` makes; a driver may make it again to retry a transaction the database gave up. */
  transact<T>(make: () => Plan<T>, isolation: Isolation): Promise<T>;
  /** How many groups of check outcomes (write-batcher.ts) may be written at once. */
  readonly groups: number;
  close(): Promise<void>;
}

/** An active key as the queries answer it: `metered` is 1 or 0 (SQLite has no boolean). */
type StoredActiveKey = Omit<ActiveKey, 'metered'> & { metered: number | boolean };
const activeKey = (row: StoredActiveKey | undefined): ActiveKey | undefined => row && { ...row, metered: Boolean(row.metered) };

/**
 * The Store for every database: each method is a plan (plans.ts, or one statement of
 * queries.ts) run by the database's driver. The queries are compiled once by the
 * driver's own Kysely dialect, so both databases share one set of statements.
 */
export class PlannedStore implements Store {
  readonly #driver: Driver;
  readonly #q: Queries;
  readonly #w: WebhookQueries;
  readonly #plans: Plans;
  /**
   * Task creates that arrive together are written together: those of keys without limits in
   * one statement (queries.ts: insertUnlimitedTasks); the rest in one transaction (one
   * commit for many).
   */
  readonly #unlimitedCreates: WriteBatcher<TaskRow, boolean>;
  readonly #creates: WriteBatcher<TaskRow>;
  /** So are the outcomes of checks of upstream tasks, most of a worker's writes. */
  readonly #checks: WriteBatcher<CheckedRow, boolean>;

  constructor(driver: Driver, { q, w, plans }: Statements) {
    this.#driver = driver;
    this.#q = q;
    this.#w = w;
    this.#plans = plans;
    const insertUnlimited = async (tasks: TaskRow[]) => {
      const saved = await this.#read(() => plans.insertUnlimitedTasks(tasks));
      return tasks.map(({ id }) => saved.has(id));
    };
    // Several groups at once: each is one statement, and groups that debit one key take turns on its row lock (queries.ts).
    this.#unlimitedCreates = new WriteBatcher(insertUnlimited, async (task) => (await insertUnlimited([task]))[0]!, driver.groups, MAX_ROWS);
    this.#creates = new WriteBatcher(
      async (tasks) => {
        await this.#write(() => plans.insertTasks(tasks));
        return tasks.map(() => undefined);
      },
      async (task) => this.#write(() => plans.insertTask(task)),
      // One group at a time: two would often debit one key's balance together, and on
      // PostgreSQL one of them would be given up for the conflict and run again (bench, a
      // metered key: 2 groups saw creates fail after 8 tries; 1 group writes as fast).
      1,
    );
    this.#checks = new WriteBatcher(
      async (rows) => this.#read(() => plans.checkedTasks(rows)),
      async ({ id, owner, progress, updatedAt, runAfter }) => this.#changed(q.checked, { id, owner, progress, updatedAt, runAfter }),
      driver.groups,
      MAX_ROWS,
    );
  }

  #read<T>(make: () => Plan<T>): Promise<T> {
    return this.#driver.transact(make, 'statement');
  }
  #snapshot<T>(make: () => Plan<T>): Promise<T> {
    return this.#driver.transact(make, 'snapshot');
  }
  #write<T>(make: () => Plan<T>): Promise<T> {
    return this.#driver.transact(make, 'write');
  }
  /** A one-statement write: did it change a row? */
  async #changed<P>(query: Parameters<typeof run<P>>[0], params: P): Promise<boolean> {
    return (await this.#driver.transact(() => run(query, params), 'statement')) > 0;
  }

  insertKey(key: Parameters<Store['insertKey']>[0]) {
    return this.#write(() => this.#plans.insertKey(key));
  }
  keyById(id: string) {
    return this.#read(() => get<{ id: string }, ApiKeyRow>(this.#q.keyById, { id }));
  }
  adjustBalance(keyId: string, change: Parameters<Store['adjustBalance']>[1]) {
    return this.#write(() => this.#plans.adjustBalance(keyId, change));
  }
  usage({ from, to, groupBy, keyId }: Parameters<Store['usage']>[0]) {
    const query = groupBy === 'key' ? this.#q.usageByKey : groupBy === 'model' ? this.#q.usageByModel : this.#q.usageByDay;
    return this.#read(() => all<{ from: number; to: number; keyId: string | null }, UsageRow>(query, { from, to, keyId }));
  }
  ledgerAudit() {
    return this.#snapshot(() => this.#plans.ledgerAudit());
  }
  ledger(keyId: string, after: number, limit: number) {
    return this.#read(() => all<{ keyId: string; after: number; limit: number }, LedgerRow>(this.#q.ledgerPage, { keyId, after, limit }));
  }
  async activeKeyByHash(hash: string) {
    return activeKey(await this.#read(() => get<{ hash: string }, StoredActiveKey>(this.#q.activeKeyByHash, { hash })));
  }
  async activeKeyById(id: string) {
    return activeKey(await this.#read(() => get<{ id: string }, StoredActiveKey>(this.#q.activeKeyById, { id })));
  }
  listKeys() {
    return this.#read(() => all<object, ApiKeyRow>(this.#q.listKeys, {}));
  }
  revokeKey(id: string, now: number) {
    return this.#changed(this.#q.revokeKey, { id, now });
  }

  async insertTask(task: TaskRow) {
    if ((task.hold === null || this.#q.unlimitedTakesHolds) && (await this.#unlimitedCreates.add(task))) return;
    await this.#creates.add(task);
  }
  taskById(id: string) {
    return this.#read(() => get<{ id: string }, TaskRow>(this.#q.taskById, { id }));
  }
  async taskForKey(id: string, keyId: string) {
    const task = await this.taskById(id);
    return task?.key_id === keyId ? task : undefined;
  }
  listTasks({ keyId, order, after, limit, status = null, model = null }: Parameters<Store['listTasks']>[0]) {
    const query = after
      ? order === 'desc' ? this.#q.newestFirstAfter : this.#q.oldestFirstAfter
      : order === 'desc' ? this.#q.newestFirst : this.#q.oldestFirst;
    // Without a cursor the query ignores createdAt and id.
    return this.#read(() => all<Parameters<typeof query.bind>[0], TaskRow>(query, { keyId, limit, createdAt: after?.createdAt ?? 0, id: after?.id ?? '', status, model }));
  }
  settle(id: string, settlement: Settlement) {
    return this.#write(() => this.#plans.settle(id, settlement));
  }

  claimDue(lane: Lane, owner: string, now: number, leaseUntil: number, limit: number) {
    return this.#read(() => all<Parameters<Queries['claimLocal']['bind']>[0], TaskRow>(lane === 'local' ? this.#q.claimLocal : this.#q.claimUpstream, { owner, now, leaseUntil, limit }));
  }
  renewLeases(ids: string[], owner: string, leaseUntil: number) {
    return this.#read(() => this.#plans.renewLeases(ids, owner, leaseUntil));
  }
  markStarted(id: string, owner: string, operation: string, now: number) {
    return this.#changed(this.#q.markStarted, { id, owner, operation, now });
  }
  setProgress(id: string, owner: string, progress: number, now: number) {
    return this.#changed(this.#q.setProgress, { id, owner, progress, now });
  }
  markSubmitting(id: string, owner: string, provider: string, now: number) {
    return this.#changed(this.#q.markSubmitting, { id, owner, provider, now });
  }
  submitted(id: string, owner: string, step: Parameters<Store['submitted']>[2]) {
    return this.#changed(this.#q.submitted, { id, owner, ...step });
  }
  checked(id: string, owner: string, step: Parameters<Store['checked']>[2]) {
    return this.#checks.add({ id, owner, ...step });
  }
  checkNow(id: string, now: number) {
    return this.#changed(this.#q.checkNow, { id, now });
  }
  release(id: string, owner: string, runAfter: number) {
    return this.#changed(this.#q.release, { id, owner, runAfter });
  }
  retry(id: string, owner: string, runAfter: number, { unsent = false } = {}) {
    return this.#changed(unsent ? this.#q.retryUnsent : this.#q.retry, { id, owner, runAfter });
  }
  async unfinishedByProvider() {
    const rows = await this.#read(() => all<Record<string, never>, { provider: string; tasks: number }>(this.#q.unfinishedByProvider, {}));
    return new Map(rows.map((row) => [row.provider, row.tasks]));
  }
  gauges(now: number) {
    return this.#snapshot(() => this.#plans.gauges(now));
  }
  expiredVideos(now: number, limit: number) {
    return this.#read(() => all<{ now: number; limit: number }, { id: string; video_key: string | null }>(this.#q.expiredVideos, { now, limit }));
  }

  insertTaskOnce(task: TaskRow, once: Once) {
    return this.#write(() => this.#plans.claimAndInsert(task, once));
  }
  idempotentTask(keyId: string, key: string, staleBefore: number) {
    return this.#read(() => this.#plans.heldClaim(keyId, key, staleBefore));
  }

  async insertWebhook(webhook: WebhookRow) {
    await this.#changed(this.#w.insertWebhook, webhook);
  }
  webhooksOfKey(keyId: string) {
    return this.#read(() => all<{ keyId: string }, WebhookRow>(this.#w.webhooksOfKey, { keyId }));
  }
  webhookOfKey(id: string, keyId: string) {
    return this.#read(() => get<{ id: string; keyId: string }, WebhookRow>(this.#w.webhookOfKey, { id, keyId }));
  }
  deleteWebhook(id: string, keyId: string, now: number) {
    return this.#write(() => this.#plans.deleteWebhook(id, keyId, now));
  }
  keyWebhookSecret(keyId: string, candidate: string) {
    return this.#write(() => this.#plans.keyWebhookSecret(keyId, candidate));
  }
  claimDeliveries(owner: string, now: number, leaseUntil: number, limit: number) {
    return this.#write(() => this.#plans.claimDeliveries(owner, now, leaseUntil, limit));
  }
  recordAttempt(id: string, owner: string, attempt: Parameters<Store['recordAttempt']>[2]) {
    const deliveredAt = attempt.status === 'delivered' ? attempt.now : null;
    return this.#changed(this.#w.recordAttempt, { id, owner, ...attempt, deliveredAt });
  }
  releaseDelivery(id: string, owner: string) {
    return this.#changed(this.#w.releaseDelivery, { id, owner });
  }
  deliveriesOfWebhook(webhookId: string, keyId: string, limit: number, afterId: string | null = null) {
    return this.#snapshot(() => this.#plans.deliveriesPage(webhookId, keyId, limit, afterId));
  }
  deliveriesOfTask(taskId: string, keyId: string) {
    return this.#read(() => all<{ taskId: string; keyId: string }, DeliveryRow>(this.#w.deliveriesOfTask, { taskId, keyId }));
  }
  async pendingDeliveries() {
    const row = await this.#read(() => get<Record<string, never>, { pending: number; oldest: number | null }>(this.#w.pendingDeliveries, {}));
    return { pending: row?.pending ?? 0, oldestDueAt: row?.oldest ?? null };
  }

  async ping() {
    await this.#read(() => get<Record<string, never>, { ok: number }>(this.#q.ping, {}));
  }

  sharedSetting(name: string, create: () => string) {
    return this.#write(() => this.#plans.sharedSetting(name, create));
  }
  close() {
    return this.#driver.close();
  }
}
