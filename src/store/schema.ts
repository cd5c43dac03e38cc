import type { Generated, Selectable } from 'kysely';

/** Table shapes as the query builder sees them. Times are Unix milliseconds. */

export interface ApiKeyTable {
  id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
  /** Micro-dollars left; null: unmetered (priced and recorded, never refused for money). */
  balance: number | null;
  /** `test`: its tasks run on the preview renderer, whatever channels exist, and are never charged. */
  mode: KeyMode;
  /** Task creations a minute (over RATE_LIMIT_PER_MINUTE); null: the default. */
  limit_rpm: number | null;
  /** Unfinished (queued or running) tasks at once; null: no limit. */
  limit_in_flight: number | null;
  /** Micro-dollars of tasks per UTC day (billed, or quoted while unfinished); null: no limit. */
  limit_daily_spend: number | null;
  /** Signs deliveries to its tasks' callback_url (registered webhooks have their own); null until first needed. */
  webhook_secret: string | null;
}

export interface KeyLimits {
  limit_rpm: number | null;
  limit_in_flight: number | null;
  limit_daily_spend: number | null;
}

export type KeyMode = 'live' | 'test';

export type TaskStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';

export interface TaskTable {
  id: string;
  key_id: string;
  model: string;
  status: TaskStatus;
  progress: number;
  /** The validated VideoJob as JSON: what the runner hands the provider. */
  job: string;
  prompt: string;
  seconds: string | null;
  size: string | null;
  remixed_from_video_id: string | null;
  warnings: string | null;
  /** The channel that serves the task: `local` (the preview renderer) or an upstream channel's name. */
  provider: string;
  /** The provider's opaque handle from start(), as JSON; null until started. */
  operation: string | null;
  /**
   * When a submission to an upstream began, set (and committed) before the upstream is
   * called: a task found with this set and no operation may have been created upstream.
   */
  submit_started_at: number | null;
  /** What the upstream reported charging for the task, as JSON (xAI ticks, Vidu credits). */
  usage: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  expires_at: number | null;
  /** When the runner may next look at the task. */
  run_after: number;
  /** Failed steps so far; each failure waits longer before the next try, until the runner gives up. */
  attempts: number;
  /**
   * Claims during which the task was running (in_progress) that were not handed back: one
   * is the current runner's while it holds the task; the rest ended with their worker gone
   * (killed, crashed, or stalled past its lease).
   */
  claims: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  video_key: string | null;
  video_size: number | null;
  /** What the task was quoted at submit (micro-dollars): the most it can cost. */
  price: number | null;
  /** The amount held on its key's balance at submit; null when the key is unmetered. */
  hold: number | null;
  /** What it was billed when it ended: the probed output's price when completed, 0 otherwise. */
  cost: number | null;
  /** The mode of the key that made it: a `test` task ran on the preview renderer and is never charged. */
  mode: KeyMode;
  /** The x-request-id of the request that created it, for following it through the logs. */
  request_id: string | null;
  /** Where its end is announced, besides the key's webhooks. */
  callback_url: string | null;
}

export type LedgerKind = 'hold' | 'capture' | 'release' | 'topup' | 'adjustment';

/** Every change to a balance, appended in the transaction that causes it; never updated. */
export interface LedgerTable {
  /** Rises with every entry (a cursor for pages). */
  id: Generated<number>;
  key_id: string;
  task_id: string | null;
  kind: LedgerKind;
  /** Signed change to the balance (micro-dollars): a hold is negative, its capture gives back what was not spent. */
  amount: number;
  /** The balance after this entry. */
  balance: number;
  created_at: number;
  note: string | null;
}

/** What one ended task was billed; written once, when it ends, and kept after the task is deleted. */
export interface ChargeTable {
  task_id: string;
  key_id: string;
  model: string;
  mode: KeyMode;
  /** How it ended: completed, failed or cancelled (a task deleted before it ended counts as cancelled). */
  status: TaskStatus;
  /** Micro-dollars billed: 0 unless completed. */
  cost: number;
  /** What the upstream reported charging, in micro-dollars; null when it reported nothing. */
  upstream_cost: number | null;
  created_at: number;
  /** The UTC day of created_at, YYYY-MM-DD: the report's days, the same in every database. */
  day: string;
}

export interface IdempotencyTable {
  key_id: string;
  idempotency_key: string;
  request_hash: string;
  task_id: string;
  created_at: number;
}

export type WebhookEvent = 'video.completed' | 'video.failed' | 'video.cancelled';

/** An endpoint a key registered: each task end of the key's is delivered there. */
export interface WebhookTable {
  id: string;
  key_id: string;
  url: string;
  /** Standard Webhooks secret (`whsec_…`): shown once, kept to sign. */
  secret: string;
  /** The events it wants, as a JSON array of WebhookEvent. */
  events: string;
  created_at: number;
  /** Deleted endpoints stay, so that their deliveries still name them; nothing more is sent there. */
  deleted_at: number | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/**
 * One event bound for one URL: the outbox row the settle transaction writes, then the
 * deliverer's record of each attempt. Every delivery of one event shares its event_id.
 */
export interface DeliveryTable {
  id: string;
  event_id: string;
  type: WebhookEvent;
  key_id: string;
  task_id: string;
  /** The task's request id, for the deliverer's log lines. */
  request_id: string | null;
  /** The endpoint; null for the task's own callback_url. */
  webhook_id: string | null;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  /** The HTTP status of the last answer; null when none came. */
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
  /** When the event happened: the event's created_at, and the start of its day of retries. */
  created_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
}

export interface SettingTable {
  name: string;
  value: string;
}

export interface Database {
  api_keys: ApiKeyTable;
  tasks: TaskTable;
  settings: SettingTable;
  idempotency_keys: IdempotencyTable;
  ledger: LedgerTable;
  charges: ChargeTable;
  webhooks: WebhookTable;
  deliveries: DeliveryTable;
}

export type ApiKeyRow = ApiKeyTable;
export type TaskRow = TaskTable;
export type LedgerRow = Selectable<LedgerTable>;
export type IdempotencyRow = IdempotencyTable;
export type WebhookRow = WebhookTable;
export type DeliveryRow = DeliveryTable;
