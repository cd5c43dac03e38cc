import type { ApiKeyRow, DeliveryRow, IdempotencyRow, KeyLimits, KeyMode, LedgerRow, TaskRow, WebhookRow } from './schema.ts';

/** An Idempotency-Key's claim and the task it made. */
export interface IdempotentTask {
  claim: IdempotencyRow;
  task: TaskRow;
}

/**
 * How a task ends, with the guard that makes it happen at most once: a runner settles under
 * its lease, a client under its key, the expiry sweep only a video past expires_at.
 */
export type Settlement =
  | {
      kind: 'completed';
      owner: string;
      now: number;
      expiresAt: number;
      videoKey: string;
      videoSize: number;
      seconds: string;
      size: string;
      usage: string | null;
      /** What the video is billed (micro-dollars): captured from the hold, which gives back the rest. */
      cost: number;
      /** What the upstream reported charging, in micro-dollars; null when it said nothing (or the preview renderer made it). */
      upstreamCost: number | null;
    }
  | { kind: 'failed'; owner: string; now: number; code: string; message: string }
  | { kind: 'cancelled'; keyId: string; now: number }
  /** The task and its row go; an unfinished one ends as if cancelled. */
  | { kind: 'deleted'; keyId: string; now: number }
  /** A completed video's file is gone; the task stays, as a record. */
  | { kind: 'expired'; now: number };

export interface UsageRow {
  group: string;
  tasks: number;
  completed: number;
  /** Micro-dollars billed. */
  revenue: number;
  /** Micro-dollars the upstreams reported charging, where they did; null when none did. */
  upstream_cost: number | null;
}

export interface LedgerAudit {
  balanceMismatches: { key_id: string; balance: number; total: number }[];
  negativeEntries: { id: number; key_id: string; balance: number }[];
  holdsAndEnds: { task_id: string; held: number; status: string | null; task_hold: number | null; ends: number; given_back: number }[];
  holdsMissing: { id: string; hold: number }[];
}

export interface StoreGauges {
  unfinished: { model: string; status: string; tasks: number }[];
  due: { lane: Lane; tasks: number; oldest: number }[];
  storageBytes: number;
  moneyHeld: number;
  moneyCaptured: number;
}

/** The lanes a runner claims from: the preview renderer's long steps, upstream tasks' short ones. */
export type Lane = 'local' | 'upstream';

/**
 * A key as requests are authenticated by it, and as the read cache keeps it: everything but
 * its balance, which moves with every create of a metered key (its hold) and would drop the
 * cached key each time. Whether it is metered never changes; the balance itself is read
 * from the database (keyById) where it is needed.
 */
export type ActiveKey = Omit<ApiKeyRow, 'balance'> & { metered: boolean };

/**
 * What the rest of the gateway may ask of the database. Methods name what they do for
 * the gateway, not the SQL; every write that a runner makes names the lease it holds,
 * so a runner that lost its lease (or a task deleted under it) changes nothing.
 */
export interface Store {
  /** `balance` in micro-dollars, or null for an unmetered key. */
  insertKey(key: { id: string; name: string; hash: string; prefix: string; now: number; balance: number | null; mode: KeyMode } & KeyLimits): Promise<void>;
  /** Any key, revoked or not. */
  keyById(id: string): Promise<ApiKeyRow | undefined>;
  /**
   * Adds to (or, negative, takes from) a metered key's balance, with its ledger entry.
   * Answers the new balance; undefined for no such key or an unmetered one. A change that
   * would take the balance below zero throws InsufficientBalance.
   */
  adjustBalance(keyId: string, change: { kind: 'topup' | 'adjustment'; amount: number; now: number; note: string | null }): Promise<number | undefined>;
  /** What live tasks that ended in [from, to) (ms) were billed, per key, model or UTC day; one key's, or every key's. */
  usage(query: { from: number; to: number; groupBy: 'key' | 'model' | 'day'; keyId: string | null }): Promise<UsageRow[]>;
  /** Everything the ledger check reads, in one read transaction (see billing/ledger-check.ts). */
  ledgerAudit(): Promise<LedgerAudit>;
  /** A key's ledger entries in order, after the entry `after` (0: from the start). */
  ledger(keyId: string, after: number, limit: number): Promise<LedgerRow[]>;
  activeKeyByHash(hash: string): Promise<ActiveKey | undefined>;
  /** The key with this id unless it is revoked (a signed link names its owner key by id). */
  activeKeyById(id: string): Promise<ActiveKey | undefined>;
  listKeys(): Promise<ApiKeyRow[]>;
  revokeKey(id: string, now: number): Promise<boolean>;

  /**
   * Saves a task; when it has a `hold`, takes it off its key's balance in the same
   * transaction, with the ledger's hold entry, or throws InsufficientBalance and saves nothing.
   * The key's limits are checked in that transaction too (LimitReached): tasks in flight,
   * and spend per UTC day.
   */
  insertTask(task: TaskRow): Promise<void>;
  taskById(id: string): Promise<TaskRow | undefined>;
  taskForKey(id: string, keyId: string): Promise<TaskRow | undefined>;
  listTasks(query: { keyId: string; order: 'asc' | 'desc'; after: { createdAt: number; id: string } | null; limit: number; status?: string | null; model?: string | null }): Promise<TaskRow[]>;

  /**
   * The one way a task ends (completed, failed, cancelled, deleted, its video expired): the
   * final state and whatever must change with it, in one transaction: a held amount is
   * captured (completed: the cost is kept, the rest given back) or released in full
   * (failed, cancelled, deleted unfinished), with its ledger entry; a completed, failed or
   * cancelled task's event is queued for each of its key's webhooks that wants it and for
   * its callback_url (the outbox the deliverer sends from). Answers the task as
   * settled (as it was, for a delete), or undefined when its guard refused: the task was
   * already settled, or is not this lease's or this key's.
   */
  settle(id: string, settlement: Settlement): Promise<TaskRow | undefined>;

  /** Leases due tasks of one lane to `owner`; a running task's `claims` counts this claim until it is handed back. */
  claimDue(lane: Lane, owner: string, now: number, leaseUntil: number, limit: number): Promise<TaskRow[]>;
  /** Renews `owner`'s leases on these tasks at once (a heartbeat): the ids it still holds. */
  renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<Set<string>>;
  /** A long step (the preview renderer) has begun: the task runs, and this runner keeps it. */
  markStarted(id: string, owner: string, operation: string, now: number): Promise<boolean>;
  setProgress(id: string, owner: string, progress: number, now: number): Promise<boolean>;
  /** Records, before the upstream is called, that a submission to `provider` begins. */
  markSubmitting(id: string, owner: string, provider: string, now: number): Promise<boolean>;
  /** The upstream accepted the task: save its operation and hand the task back until its first check. */
  submitted(id: string, owner: string, step: { provider: string; operation: string; now: number; runAfter: number }): Promise<boolean>;
  /** A check found the task still going: save its progress and hand it back until the next check. */
  checked(id: string, owner: string, step: { progress: number; updatedAt: number; runAfter: number }): Promise<boolean>;
  /** An upstream called back: check the task now. */
  checkNow(id: string, now: number): Promise<boolean>;
  /** Hands a task back (the runner stops): any runner may take it from runAfter on. */
  release(id: string, owner: string, runAfter: number): Promise<boolean>;
  /**
   * Hands a task back after a step failed, counting the failed attempt. The submission mark
   * stays as the row has it, whatever the caller read before; `unsent` clears it (the
   * submit surely made nothing).
   */
  retry(id: string, owner: string, runAfter: number, options?: { unsent?: boolean }): Promise<boolean>;

  /** How many tasks are queued or running, per channel name (`local`: the preview renderer). */
  unfinishedByProvider(): Promise<Map<string, number>>;

  /** What the metrics read of the database at each scrape (see metrics/metrics.ts). */
  gauges(now: number): Promise<StoreGauges>;

  /** Completed tasks whose video has expired and whose file is still kept. */
  expiredVideos(now: number, limit: number): Promise<{ id: string; video_key: string | null }[]>;

  /**
   * Saves a task made under an Idempotency-Key together with the key's claim, in one
   * transaction, so that no crash leaves a claim without its task. Answers null when saved;
   * when a live claim (younger than `staleBefore`, its task still there) holds the key, saves
   * nothing and answers that claim with its task.
   */
  insertTaskOnce(task: TaskRow, once: { key: string; hash: string; staleBefore: number }): Promise<IdempotentTask | null>;
  /** The live claim on an Idempotency-Key with its task, if any (see insertTaskOnce). */
  idempotentTask(keyId: string, key: string, staleBefore: number): Promise<IdempotentTask | undefined>;

  insertWebhook(webhook: WebhookRow): Promise<void>;
  /** A key's webhooks that are not deleted, oldest first. */
  webhooksOfKey(keyId: string): Promise<WebhookRow[]>;
  webhookOfKey(id: string, keyId: string): Promise<WebhookRow | undefined>;
  /** Deletes a webhook and cancels what was still to be sent to it; false when the key has no such webhook. */
  deleteWebhook(id: string, keyId: string, now: number): Promise<boolean>;
  /** The key's secret for its callback_url deliveries: `candidate` becomes it when it has none yet. */
  keyWebhookSecret(keyId: string, candidate: string): Promise<string>;
  /** Leases due deliveries to `owner`, each with the secret that signs it (null: its webhook is gone). */
  claimDeliveries(owner: string, now: number, leaseUntil: number, limit: number): Promise<(DeliveryRow & { secret: string | null })[]>;
  /** One attempt's outcome, under the lease that made it. */
  recordAttempt(id: string, owner: string, attempt: { status: DeliveryRow['status']; now: number; nextAttemptAt: number; lastStatus: number | null; lastError: string | null }): Promise<boolean>;
  releaseDelivery(id: string, owner: string): Promise<boolean>;
  /** A webhook's deliveries, newest first. */
  /** A page of a webhook's deliveries, newest first, after the delivery `afterId` if given; null when that is none of its deliveries. */
  deliveriesOfWebhook(webhookId: string, keyId: string, limit: number, afterId?: string | null): Promise<DeliveryRow[] | null>;
  /** The deliveries of one task's events, oldest first. */
  deliveriesOfTask(taskId: string, keyId: string): Promise<DeliveryRow[]>;
  /** How many deliveries wait to be sent, and when the oldest of them fell due (null: none). */
  pendingDeliveries(): Promise<{ pending: number; oldestDueAt: number | null }>;

  /** Throws unless the database answers a query now (GET /readyz). */
  ping(): Promise<void>;

  /** A value shared by every process on this database, made by `create` the first time. */
  sharedSetting(name: string, create: () => string): Promise<string>;
  close(): Promise<void>;
}
