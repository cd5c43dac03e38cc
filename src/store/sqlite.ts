import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrations } from './migrations.ts';
import type { PreparedQuery } from './prepared.ts';
import { buildQueries, type Queries } from './queries.ts';
import { buildWebhookQueries, type WebhookQueries } from './webhook-queries.ts';
import { InsufficientBalance, LimitReached } from '../errors.ts';
import type { ApiKeyRow, Database, DeliveryRow, IdempotencyRow, LedgerRow, TaskRow, WebhookEvent, WebhookRow } from './schema.ts';
import type { IdempotentTask, Lane, LedgerAudit, Settlement, Store, UsageRow } from './store.ts';

/** The embedded default: one SQLite file in WAL mode, shared safely by several processes. */
export async function openSqliteStore(file: string): Promise<Store> {
  mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // Another process (api, worker, CLI) may hold the write lock for a moment.
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  // Kysely's SQLite adapter takes no lock for migrations (kysely-org/kysely#729): processes
  // starting together on a new file would all migrate it, and all but one fail. One write
  // transaction around the whole run makes the others wait for it, then find nothing to do;
  // it also makes the run all or nothing.
  sqlite.exec('BEGIN IMMEDIATE');
  const { error, results } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  sqlite.exec(error ? 'ROLLBACK' : 'COMMIT');
  if (error) throw new Error(`database migration failed: ${String(results?.find((r) => r.status === 'Error')?.migrationName ?? error)}`);
  return new SqliteStore(sqlite, db);
}

const DAY_MS = 24 * 3600 * 1000;

/** Rows the cache keeps at most; past that it starts over. */
const CACHE_LIMIT = 10_000;

/** A prepared statement and whether running it may change rows. */
interface Compiled {
  statement: BetterSqlite3.Statement;
  writes: boolean;
}

/**
 * Polls dominate a gateway's traffic and read the same two rows (the key, the task) again
 * and again, so the store keeps a cache of them that is never stale: it is dropped after
 * every statement that writes through this connection, and whenever PRAGMA data_version
 * says another process committed (checked at most once a millisecond). Whether a
 * statement writes is SQLite's own answer (Statement.readonly), taken once per statement
 * in #execute, the one place statements run; so no method can forget to drop the cache,
 * whatever it returns (DELETE … RETURNING and UPDATE … RETURNING write too). Task inserts
 * that arrive together are committed together, one WAL commit for many creates.
 *
 * The helpers are #private so that the object's methods are exactly the Store's
 * (test/store.test.ts holds every writing method to the rule above).
 */
class SqliteStore implements Store {
  readonly #q: Queries;
  readonly #w: WebhookQueries;
  readonly #statements = new Map<string, Compiled>();
  readonly #keys = new Map<string, ApiKeyRow>();
  readonly #keysById = new Map<string, ApiKeyRow>();
  readonly #tasks = new Map<string, TaskRow>();
  readonly #sqlite: BetterSqlite3.Database;
  readonly #db: Kysely<Database>;
  readonly #dataVersion: BetterSqlite3.Statement;
  #seenVersion = -1;
  #checkedAt = 0;
  readonly #insertOnce: BetterSqlite3.Transaction<(task: TaskRow, once: { key: string; hash: string; staleBefore: number }) => IdempotentTask | null>;
  #pendingInserts: { task: TaskRow; resolve: () => void; reject: (error: unknown) => void }[] = [];
  readonly #settle: BetterSqlite3.Transaction<(id: string, settlement: Settlement) => TaskRow | undefined>;
  readonly #insertAlone: (task: TaskRow) => void;
  readonly #insertKey: BetterSqlite3.Transaction<(key: Parameters<Store['insertKey']>[0]) => void>;
  readonly #deleteWebhook: BetterSqlite3.Transaction<(id: string, keyId: string, now: number) => boolean>;
  readonly #adjust: BetterSqlite3.Transaction<(keyId: string, change: Parameters<Store['adjustBalance']>[1]) => number | undefined>;

  constructor(sqlite: BetterSqlite3.Database, db: Kysely<Database>) {
    this.#sqlite = sqlite;
    this.#db = db;
    this.#q = buildQueries(db);
    this.#w = buildWebhookQueries(db);
    this.#dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
    this.#insertOnce = sqlite.transaction((task: TaskRow, once: { key: string; hash: string; staleBefore: number }) => this.#claimAndInsert(task, once));
    this.#settle = sqlite.transaction((id: string, settlement: Settlement) => this.#settleTask(id, settlement));
    this.#insertAlone = sqlite.transaction((task: TaskRow) => this.#insertOne(task));
    // A key's opening balance is its first ledger entry: every balance is the sum of its entries.
    this.#insertKey = sqlite.transaction((key: Parameters<Store['insertKey']>[0]) => {
      this.#run(this.#q.insertKey, key);
      if (key.balance) this.#run(this.#q.insertLedger, { keyId: key.id, taskId: null, kind: 'topup', amount: key.balance, balance: key.balance, now: key.now, note: 'opening balance' });
    });
    this.#deleteWebhook = sqlite.transaction((id: string, keyId: string, now: number) => {
      if (this.#run(this.#w.deleteWebhook, { id, keyId, now }) === 0) return false;
      this.#run(this.#w.cancelDeliveriesTo, { webhookId: id });
      return true;
    });
    this.#adjust = sqlite.transaction((keyId: string, change: Parameters<Store['adjustBalance']>[1]) => this.#adjustBalance(keyId, change));
  }

  #forget(): void {
    this.#keys.clear();
    this.#keysById.clear();
    this.#tasks.clear();
  }

  /** Drops the cache if another connection has committed since we last looked. */
  #fresh(): void {
    const now = Date.now();
    if (now === this.#checkedAt) return;
    this.#checkedAt = now;
    const version = this.#dataVersion.get() as number;
    if (version !== this.#seenVersion) {
      this.#seenVersion = version;
      this.#forget();
    }
  }

  #cached<T>(cache: Map<string, T>, key: string, load: () => T | undefined): T | undefined {
    this.#fresh();
    const hit = cache.get(key);
    if (hit) return hit;
    const row = load();
    if (row) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, row);
    }
    return row;
  }

  #execute<P, R>(query: PreparedQuery<P>, params: P, run: (statement: BetterSqlite3.Statement, values: unknown[]) => R): R {
    let compiled = this.#statements.get(query.sql);
    if (!compiled) {
      const statement = this.#sqlite.prepare(query.sql);
      compiled = { statement, writes: !statement.readonly };
      this.#statements.set(query.sql, compiled);
    }
    try {
      return run(compiled.statement, query.bind(params));
    } finally {
      // Also when it throws: a statement that failed part-way through a transaction may still have changed rows.
      if (compiled.writes) this.#forget();
    }
  }

  #all<P, R>(query: PreparedQuery<P>, params: P): R[] {
    return this.#execute(query, params, (statement, values) => statement.all(...values) as R[]);
  }

  #get<P, R>(query: PreparedQuery<P>, params: P): R | undefined {
    return this.#execute(query, params, (statement, values) => statement.get(...values) as R | undefined);
  }

  /** Runs a statement that answers no rows; answers how many rows it changed. */
  #run<P>(query: PreparedQuery<P>, params: P): number {
    return this.#execute(query, params, (statement, values) => statement.run(...values).changes);
  }

  async insertKey(key: Parameters<Store['insertKey']>[0]) {
    this.#insertKey.immediate(key);
  }
  async keyById(id: string) {
    return this.#get<{ id: string }, ApiKeyRow>(this.#q.keyById, { id });
  }
  async adjustBalance(keyId: string, change: Parameters<Store['adjustBalance']>[1]) {
    return this.#adjust.immediate(keyId, change);
  }
  #adjustBalance(keyId: string, { kind, amount, now, note }: Parameters<Store['adjustBalance']>[1]): number | undefined {
    const key = this.#get<{ id: string }, ApiKeyRow>(this.#q.keyById, { id: keyId });
    if (!key || key.balance === null) return undefined;
    const changed = amount >= 0 ? this.#credit(keyId, amount) : this.#debit(keyId, -amount);
    this.#run(this.#q.insertLedger, { keyId, taskId: null, kind, amount, balance: changed, now, note });
    return changed;
  }
  /** The new balance; throws InsufficientBalance when the balance does not cover the amount. */
  #debit(keyId: string, amount: number): number {
    const row = this.#get<{ keyId: string; amount: number }, { balance: number }>(this.#q.debit, { keyId, amount });
    if (row) return row.balance;
    const balance = this.#get<{ id: string }, ApiKeyRow>(this.#q.keyById, { id: keyId })?.balance ?? 0;
    throw new InsufficientBalance(`This key's balance (${balance} micro-USD) does not cover ${amount} micro-USD`, amount, balance);
  }
  #credit(keyId: string, amount: number): number {
    const row = this.#get<{ keyId: string; amount: number }, { balance: number }>(this.#q.credit, { keyId, amount });
    // Only a metered key has a hold to give back, and a key never stops being metered.
    if (!row) throw new Error(`key ${keyId} has no balance to credit`);
    return row.balance;
  }
  async usage({ from, to, groupBy, keyId }: Parameters<Store['usage']>[0]) {
    const query = groupBy === 'key' ? this.#q.usageByKey : groupBy === 'model' ? this.#q.usageByModel : this.#q.usageByDay;
    return this.#all<{ from: number; to: number; keyId: string | null }, UsageRow>(query, { from, to, keyId });
  }
  async ledgerAudit() {
    // One snapshot: a task settling between two of these reads must not look half-settled.
    return this.#sqlite.transaction(() => ({
      balanceMismatches: this.#all<object, LedgerAudit['balanceMismatches'][number]>(this.#q.balanceMismatches, {}),
      negativeEntries: this.#all<object, LedgerAudit['negativeEntries'][number]>(this.#q.negativeEntries, {}),
      holdsAndEnds: this.#all<object, LedgerAudit['holdsAndEnds'][number]>(this.#q.holdsAndEnds, {}),
      holdsMissing: this.#all<object, LedgerAudit['holdsMissing'][number]>(this.#q.holdsMissing, {}),
    }))();
  }
  async ledger(keyId: string, after: number, limit: number) {
    return this.#all<{ keyId: string; after: number; limit: number }, LedgerRow>(this.#q.ledgerPage, { keyId, after, limit });
  }
  async activeKeyByHash(hash: string) {
    return this.#cached(this.#keys, hash, () => this.#get<{ hash: string }, ApiKeyRow>(this.#q.activeKeyByHash, { hash }));
  }
  async activeKeyById(id: string) {
    return this.#cached(this.#keysById, id, () => this.#get<{ id: string }, ApiKeyRow>(this.#q.activeKeyById, { id }));
  }
  async listKeys() {
    return this.#all<object, ApiKeyRow>(this.#q.listKeys, {});
  }
  async revokeKey(id: string, now: number) {
    return this.#run(this.#q.revokeKey, { id, now }) > 0;
  }

  insertTask(task: TaskRow) {
    return new Promise<void>((resolve, reject) => {
      if (this.#pendingInserts.length === 0) setImmediate(() => this.#flushInserts());
      this.#pendingInserts.push({ task, resolve, reject });
    });
  }

  #flushInserts(): void {
    const batch = this.#pendingInserts;
    this.#pendingInserts = [];
    const insertAll = this.#sqlite.transaction(() => {
      for (const { task } of batch) this.#insertOne(task);
    });
    try {
      insertAll();
    } catch {
      // One bad row (or a balance short of its hold) must not fail its neighbours: retry them one by one.
      for (const { task, resolve, reject } of batch) {
        try {
          this.#insertAlone(task);
          resolve();
        } catch (error) {
          reject(error);
        }
      }
      return;
    }
    for (const { resolve } of batch) resolve();
  }
  /** Saves a task, taking its hold off its key's balance with the ledger entry; the caller runs it in a transaction. */
  #insertOne(task: TaskRow): void {
    this.#checkLimits(task);
    if (task.hold !== null) {
      const balance = this.#debit(task.key_id, task.hold);
      this.#run(this.#q.insertLedger, { keyId: task.key_id, taskId: task.id, kind: 'hold', amount: -task.hold, balance, now: task.created_at, note: null });
    }
    this.#run(this.#q.insertTask, task);
  }
  /** The key's limits on unfinished tasks and on spend per UTC day, read in the insert's transaction so that racing submits cannot pass them together. */
  #checkLimits(task: TaskRow): void {
    const key = this.#get<{ id: string }, ApiKeyRow>(this.#q.keyById, { id: task.key_id });
    if (!key) return;
    if (key.limit_in_flight !== null) {
      const { n } = this.#get<{ keyId: string }, { n: number }>(this.#q.inFlight, { keyId: key.id })!;
      if (n >= key.limit_in_flight) {
        throw new LimitReached(`This key may have ${key.limit_in_flight} unfinished videos at once; retry when one has ended`, 'tasks_in_flight_limit', 10);
      }
    }
    if (key.limit_daily_spend !== null && task.mode === 'live' && task.price !== null) {
      const since = Math.floor(task.created_at / DAY_MS) * DAY_MS;
      const { billed, quoted } = this.#get<{ keyId: string; since: number }, { billed: number; quoted: number }>(this.#q.spentSince, { keyId: key.id, since })!;
      if (billed + quoted + task.price > key.limit_daily_spend) {
        const retryAfter = Math.ceil((since + DAY_MS - task.created_at) / 1000);
        throw new LimitReached(
          `This key may spend ${key.limit_daily_spend} micro-USD a day (UTC); it has spent or holds ${billed + quoted}, and this video is quoted at ${task.price}`,
          'daily_spend_limit',
          retryAfter,
        );
      }
    }
  }
  async taskById(id: string) {
    return this.#get<{ id: string }, TaskRow>(this.#q.taskById, { id });
  }
  async taskForKey(id: string, keyId: string) {
    const task = this.#cached(this.#tasks, id, () => this.#get<{ id: string }, TaskRow>(this.#q.taskById, { id }));
    return task?.key_id === keyId ? task : undefined;
  }
  async listTasks({ keyId, order, after, limit, status = null, model = null }: Parameters<Store['listTasks']>[0]) {
    const query = after
      ? order === 'desc' ? this.#q.newestFirstAfter : this.#q.oldestFirstAfter
      : order === 'desc' ? this.#q.newestFirst : this.#q.oldestFirst;
    // Without a cursor the query ignores createdAt and id.
    return this.#all<Parameters<typeof query.bind>[0], TaskRow>(query, { keyId, limit, createdAt: after?.createdAt ?? 0, id: after?.id ?? '', status, model });
  }

  async settle(id: string, settlement: Settlement) {
    return this.#settle.immediate(id, settlement);
  }
  /** The guarded state change and the money that moves with it; the caller runs it in a transaction. */
  #settleTask(id: string, s: Settlement): TaskRow | undefined {
    const task = this.#changeState(id, s);
    if (!task) return undefined;
    if (task.hold !== null) this.#settleHold(task, task.hold, s);
    this.#charge(task, s);
    this.#queueEvent(task, s);
    return task;
  }
  /**
   * The outbox: one delivery of the task's end per webhook of its key that wants it, and one
   * to its callback_url, written with the end itself so that no crash can lose one. A delete
   * or an expiry is no event: the key asked for the first, and the video is long done.
   */
  #queueEvent(task: TaskRow, s: Settlement): void {
    if (s.kind !== 'completed' && s.kind !== 'failed' && s.kind !== 'cancelled') return;
    const type: WebhookEvent = `video.${s.kind}`;
    const eventId = `evt_${randomBytes(12).toString('hex')}`;
    const targets: { webhookId: string | null; url: string }[] = this.#all<{ keyId: string }, WebhookRow>(this.#w.webhooksOfKey, { keyId: task.key_id })
      .filter((webhook) => (JSON.parse(webhook.events) as string[]).includes(type))
      .map((webhook) => ({ webhookId: webhook.id, url: webhook.url }));
    if (task.callback_url !== null) targets.push({ webhookId: null, url: task.callback_url });
    for (const { webhookId, url } of targets) {
      this.#run(this.#w.insertDelivery, {
        id: `dlv_${randomBytes(12).toString('hex')}`,
        event_id: eventId,
        type,
        key_id: task.key_id,
        task_id: task.id,
        webhook_id: webhookId,
        url,
        status: 'pending',
        attempts: 0,
        next_attempt_at: s.now,
        last_attempt_at: null,
        last_status: null,
        last_error: null,
        delivered_at: null,
        created_at: s.now,
        lease_owner: null,
        lease_expires_at: null,
      });
    }
  }
  /** The task's line in the usage report, written as it ends (once: task_id is its key). */
  #charge(task: TaskRow, s: Settlement): void {
    const unfinished = task.status === 'queued' || task.status === 'in_progress';
    if (s.kind === 'expired' || (s.kind === 'deleted' && !unfinished)) return;
    const completed = s.kind === 'completed';
    this.#run(this.#q.insertCharge, {
      task_id: task.id,
      key_id: task.key_id,
      model: task.model,
      mode: task.mode,
      status: completed ? 'completed' : s.kind === 'failed' ? 'failed' : 'cancelled',
      cost: completed ? Math.min(s.cost, task.hold ?? s.cost) : 0,
      upstream_cost: completed ? s.upstreamCost : null,
      created_at: s.now,
      day: new Date(s.now).toISOString().slice(0, 10),
    });
  }
  /**
   * A held amount ends once, with its task: captured when the video was made (what it
   * cost is kept, the rest given back), released in full otherwise.
   */
  #settleHold(task: TaskRow, hold: number, s: Settlement): void {
    const unfinished = task.status === 'queued' || task.status === 'in_progress';
    let kind: 'capture' | 'release';
    let back: number;
    if (s.kind === 'completed') {
      kind = 'capture';
      back = hold - Math.min(s.cost, hold);
    } else if (s.kind === 'failed' || s.kind === 'cancelled' || (s.kind === 'deleted' && unfinished)) {
      kind = 'release';
      back = hold;
    } else return;
    const balance = this.#credit(task.key_id, back);
    const note = kind === 'capture' ? `cost ${hold - back}` : null;
    this.#run(this.#q.insertLedger, { keyId: task.key_id, taskId: task.id, kind, amount: back, balance, now: s.now, note });
  }
  #changeState(id: string, s: Settlement): TaskRow | undefined {
    switch (s.kind) {
      case 'completed':
        return this.#get(this.#q.settleCompleted, { id, ...s });
      case 'failed':
        return this.#get(this.#q.settleFailed, { id, ...s });
      case 'cancelled':
        return this.#get(this.#q.settleCancelled, { id, ...s });
      case 'deleted':
        return this.#get(this.#q.settleDeleted, { id, ...s });
      case 'expired':
        return this.#get(this.#q.settleExpired, { id, ...s });
    }
  }

  async claimDue(lane: Lane, owner: string, now: number, leaseUntil: number, limit: number) {
    return this.#all<Parameters<Queries['claimLocal']['bind']>[0], TaskRow>(lane === 'local' ? this.#q.claimLocal : this.#q.claimUpstream, { owner, now, leaseUntil, limit });
  }
  async renewLease(id: string, owner: string, leaseUntil: number) {
    return this.#run(this.#q.renewLease, { id, owner, leaseUntil }) > 0;
  }
  async markStarted(id: string, owner: string, operation: string, now: number) {
    return this.#run(this.#q.markStarted, { id, owner, operation, now }) > 0;
  }
  async setProgress(id: string, owner: string, progress: number, now: number) {
    return this.#run(this.#q.setProgress, { id, owner, progress, now }) > 0;
  }
  async markSubmitting(id: string, owner: string, provider: string, now: number) {
    return this.#run(this.#q.markSubmitting, { id, owner, provider, now }) > 0;
  }
  async submitted(id: string, owner: string, step: Parameters<Store['submitted']>[2]) {
    return this.#run(this.#q.submitted, { id, owner, ...step }) > 0;
  }
  async checked(id: string, owner: string, step: Parameters<Store['checked']>[2]) {
    return this.#run(this.#q.checked, { id, owner, ...step }) > 0;
  }
  async checkNow(id: string, now: number) {
    return this.#run(this.#q.checkNow, { id, now }) > 0;
  }
  async release(id: string, owner: string, runAfter: number) {
    return this.#run(this.#q.release, { id, owner, runAfter }) > 0;
  }
  async retry(id: string, owner: string, runAfter: number, submitStartedAt: number | null = null) {
    return this.#run(this.#q.retry, { id, owner, runAfter, submitStartedAt }) > 0;
  }

  async unfinishedByProvider() {
    const rows = this.#all<Record<string, never>, { provider: string; tasks: number }>(this.#q.unfinishedByProvider, {});
    return new Map(rows.map((row) => [row.provider, row.tasks]));
  }
  async gauges(now: number) {
    // One read transaction: the figures agree with one another.
    return this.#sqlite.transaction(() => {
      const kept = this.#get<Record<string, never>, { bytes: number | null; held: number | null }>(this.#q.keptAndHeld, {});
      return {
        unfinished: this.#all<Record<string, never>, { model: string; status: string; tasks: number }>(this.#q.unfinishedByModel, {}),
        due: this.#all<{ now: number }, { lane: Lane; tasks: number; oldest: number }>(this.#q.dueByLane, { now }),
        storageBytes: kept?.bytes ?? 0,
        moneyHeld: kept?.held ?? 0,
        moneyCaptured: this.#get<Record<string, never>, { captured: number | null }>(this.#q.captured, {})?.captured ?? 0,
      };
    })();
  }
  async expiredVideos(now: number, limit: number) {
    return this.#all<{ now: number; limit: number }, { id: string; video_key: string | null }>(this.#q.expiredVideos, { now, limit });
  }

  async insertTaskOnce(task: TaskRow, once: { key: string; hash: string; staleBefore: number }) {
    return this.#insertOnce.immediate(task, once);
  }
  /** Claims the key and saves the task, or answers the claim that holds the key; the caller runs it in a transaction. */
  #claimAndInsert(task: TaskRow, { key, hash, staleBefore }: { key: string; hash: string; staleBefore: number }): IdempotentTask | null {
    const claim = { keyId: task.key_id, key, hash, taskId: task.id, now: task.created_at, staleBefore };
    if (this.#run(this.#q.claimIdempotencyKey, claim) > 0) {
      this.#insertOne(task);
      return null;
    }
    const held = this.#heldClaim(task.key_id, key, staleBefore);
    // The claim was refused because it is live with its task; in this transaction that still holds.
    if (!held) throw new Error(`Idempotency-Key claim for ${task.key_id} is neither free nor held`);
    return held;
  }
  async idempotentTask(keyId: string, key: string, staleBefore: number) {
    return this.#heldClaim(keyId, key, staleBefore);
  }
  #heldClaim(keyId: string, key: string, staleBefore: number): IdempotentTask | undefined {
    const claim = this.#get<{ keyId: string; key: string }, IdempotencyRow>(this.#q.idempotencyKey, { keyId, key });
    if (!claim || claim.created_at < staleBefore) return undefined;
    const task = this.#get<{ id: string }, TaskRow>(this.#q.taskById, { id: claim.task_id });
    return task ? { claim, task } : undefined;
  }

  async insertWebhook(webhook: WebhookRow) {
    this.#run(this.#w.insertWebhook, webhook);
  }
  async webhooksOfKey(keyId: string) {
    return this.#all<{ keyId: string }, WebhookRow>(this.#w.webhooksOfKey, { keyId });
  }
  async webhookOfKey(id: string, keyId: string) {
    return this.#get<{ id: string; keyId: string }, WebhookRow>(this.#w.webhookOfKey, { id, keyId });
  }
  async deleteWebhook(id: string, keyId: string, now: number) {
    return this.#deleteWebhook.immediate(id, keyId, now);
  }
  async keyWebhookSecret(keyId: string, candidate: string) {
    this.#run(this.#w.setKeyWebhookSecret, { keyId, secret: candidate });
    const row = this.#get<{ keyId: string }, { webhook_secret: string | null }>(this.#w.keyWebhookSecret, { keyId });
    if (!row?.webhook_secret) throw new Error(`no key ${keyId}`);
    return row.webhook_secret;
  }
  async claimDeliveries(owner: string, now: number, leaseUntil: number, limit: number) {
    const claimed = this.#all<Parameters<WebhookQueries['claimDeliveries']['bind']>[0], DeliveryRow>(this.#w.claimDeliveries, { owner, now, leaseUntil, limit });
    return claimed.map((delivery) => ({ ...delivery, secret: this.#deliverySecret(delivery) }));
  }
  /** A webhook's own secret, or its key's for a callback_url (made when the task was). */
  #deliverySecret(delivery: DeliveryRow): string | null {
    if (delivery.webhook_id !== null) return this.#get<{ id: string }, { secret: string }>(this.#w.webhookSecret, { id: delivery.webhook_id })?.secret ?? null;
    return this.#get<{ keyId: string }, { webhook_secret: string | null }>(this.#w.keyWebhookSecret, { keyId: delivery.key_id })?.webhook_secret ?? null;
  }
  async recordAttempt(id: string, owner: string, attempt: Parameters<Store['recordAttempt']>[2]) {
    const deliveredAt = attempt.status === 'delivered' ? attempt.now : null;
    return this.#run(this.#w.recordAttempt, { id, owner, ...attempt, deliveredAt }) > 0;
  }
  async releaseDelivery(id: string, owner: string) {
    return this.#run(this.#w.releaseDelivery, { id, owner }) > 0;
  }
  async deliveriesOfWebhook(webhookId: string, keyId: string, limit: number) {
    return this.#all<{ webhookId: string; keyId: string; limit: number }, DeliveryRow>(this.#w.deliveriesOfWebhook, { webhookId, keyId, limit });
  }
  async deliveriesOfTask(taskId: string, keyId: string) {
    return this.#all<{ taskId: string; keyId: string }, DeliveryRow>(this.#w.deliveriesOfTask, { taskId, keyId });
  }
  async pendingDeliveries() {
    const row = this.#get<Record<string, never>, { pending: number; oldest: number | null }>(this.#w.pendingDeliveries, {});
    return { pending: row?.pending ?? 0, oldestDueAt: row?.oldest ?? null };
  }

  async sharedSetting(name: string, create: () => string) {
    const existing = this.#get<{ name: string }, { value: string }>(this.#q.setting, { name });
    if (existing) return existing.value;
    this.#run(this.#q.insertSettingIfAbsent, { name, value: create() });
    // Another process may have won the race: read back whatever was stored first.
    return this.#get<{ name: string }, { value: string }>(this.#q.setting, { name })!.value;
  }

  async close() {
    await this.#db.destroy();
  }
}
