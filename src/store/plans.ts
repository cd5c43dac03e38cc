import { randomBytes } from 'node:crypto';
import { InsufficientBalance, KeyRevoked, LimitReached } from '../errors.ts';
import { all, get, type Plan, run } from './plan.ts';
import { type CheckedRow, type LeaseRow, type LedgerEntry, MAX_ROWS, type Queries } from './queries.ts';
import type { ApiKeyRow, DeliveryRow, IdempotencyRow, TaskRow, WebhookEvent, WebhookRow } from './schema.ts';
import type { IdempotentTask, Lane, LedgerAudit, Settlement, Store, StoreGauges } from './store.ts';
import type { WebhookQueries } from './webhook-queries.ts';

const DAY_MS = 24 * 3600 * 1000;

export type Once = { key: string; hash: string; staleBefore: number };

/** Rows written by one statement per MAX_ROWS of them (a multi-row statement's bound): each statement's answer, in order. */
function* chunked<R, A>(rows: R[], write: (some: R[]) => Plan<A>): Plan<A[]> {
  const answers: A[] = [];
  for (let start = 0; start < rows.length; start += MAX_ROWS) answers.push(yield* write(rows.slice(start, start + MAX_ROWS)));
  return answers;
}

/**
 * The store's operations of more than one statement, as plans (plan.ts), as pg-boss keeps
 * its SQL in plans.ts: what each reads, decides and writes, in order, written once for
 * every database. A driver runs each in one transaction.
 */
export function buildPlans(q: Queries, w: WebhookQueries) {
  /** The new balance; throws InsufficientBalance when the balance does not cover the amount. */
  function* debit(keyId: string, amount: number): Plan<number> {
    const row = yield* get<{ keyId: string; amount: number }, { balance: number }>(q.debit, { keyId, amount });
    if (row) return row.balance;
    const balance = (yield* get<{ id: string }, ApiKeyRow>(q.keyById, { id: keyId }))?.balance ?? 0;
    throw new InsufficientBalance(`This key's balance (${balance} micro-USD) does not cover ${amount} micro-USD`, amount, balance);
  }

  function* credit(keyId: string, amount: number): Plan<number> {
    const row = yield* get<{ keyId: string; amount: number }, { balance: number }>(q.credit, { keyId, amount });
    // Only a metered key has a hold to give back, and a key never stops being metered.
    if (!row) throw new Error(`key ${keyId} has no balance to credit`);
    return row.balance;
  }

  /** The key's limits on unfinished tasks and on spend per UTC day, read in the insert's transaction so that racing submits cannot pass them together. */
  function* checkLimits(task: TaskRow): Plan<void> {
    const key = yield* get<{ id: string }, ApiKeyRow>(q.keyById, { id: task.key_id });
    if (!key) return;
    if (key.revoked_at !== null) throw new KeyRevoked();
    if (key.limit_in_flight !== null) {
      const { n } = (yield* get<{ keyId: string }, { n: number }>(q.inFlight, { keyId: key.id }))!;
      if (n >= key.limit_in_flight) {
        throw new LimitReached(`This key may have ${key.limit_in_flight} unfinished videos at once; retry when one has ended`, 'tasks_in_flight_limit', 10);
      }
    }
    if (key.limit_daily_spend !== null && task.mode === 'live' && task.price !== null) {
      const since = Math.floor(task.created_at / DAY_MS) * DAY_MS;
      const { billed, quoted } = (yield* get<{ keyId: string; since: number }, { billed: number; quoted: number }>(q.spentSince, { keyId: key.id, since }))!;
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

  /** Saves a task, taking its hold off its key's balance with the ledger entry. */
  function* insertTask(task: TaskRow): Plan<void> {
    yield* checkLimits(task);
    if (task.hold !== null) {
      const balance = yield* debit(task.key_id, task.hold);
      yield* run(q.insertLedger, { keyId: task.key_id, taskId: task.id, kind: 'hold', amount: -task.hold, balance, now: task.created_at, note: null });
    }
    yield* run(q.insertTask, task);
  }

  /**
   * Task creates that arrived together (group commit), key by key: a key with limits has
   * its tasks saved one by one, as insertTask; any other key is read once, the group's holds
   * on it are taken with one debit (each ledger entry with the balance after it, as one by
   * one would have written), and the entries and tasks are written in as few statements as
   * the rows allow. A debit the balance does not cover fails the group, whose creates are
   * then saved one by one (write-batcher.ts), each refused or taken on its own.
   */
  function* insertTasks(tasks: TaskRow[]): Plan<void> {
    const byKey = new Map<string, TaskRow[]>();
    for (const task of tasks) {
      const ofKey = byKey.get(task.key_id);
      if (ofKey) ofKey.push(task);
      else byKey.set(task.key_id, [task]);
    }
    const rows: TaskRow[] = [];
    const holds: LedgerEntry[] = [];
    for (const [keyId, ofKey] of byKey) {
      const key = yield* get<{ id: string }, ApiKeyRow>(q.keyById, { id: keyId });
      // A revoked key's creates go one by one too, to be refused there (checkLimits).
      if (key && (key.revoked_at !== null || key.limit_in_flight !== null || key.limit_daily_spend !== null)) {
        for (const task of ofKey) yield* insertTask(task);
        continue;
      }
      const held = ofKey.filter((task): task is TaskRow & { hold: number } => task.hold !== null);
      if (held.length > 0) {
        const total = held.reduce((sum, task) => sum + task.hold, 0);
        let balance = (yield* debit(keyId, total)) + total;
        for (const task of held) {
          balance -= task.hold;
          holds.push({ keyId, taskId: task.id, kind: 'hold', amount: -task.hold, balance, now: task.created_at, note: null });
        }
      }
      rows.push(...ofKey);
    }
    yield* chunked(holds, (some) => run(q.insertLedgers(some.length), some));
    yield* chunked(rows, (some) => run(q.insertTasks(some.length), some));
  }

  /**
   * Tasks of keys without limits (queries.ts: on PostgreSQL with their holds), at most
   * MAX_ROWS, in one statement that commits whole: the ids saved.
   */
  function* insertUnlimitedTasks(tasks: TaskRow[]): Plan<Set<string>> {
    const saved = yield* all<TaskRow[], { id: string }>(q.insertUnlimitedTasks(tasks.length), tasks);
    return new Set(saved.map(({ id }) => id));
  }

  /** Renews `owner`'s leases on these tasks, as many statements as they take: the ids it still held. */
  function* renewLeases(ids: string[], owner: string, leaseUntil: number): Plan<Set<string>> {
    const rows = ids.map((id): LeaseRow => ({ id, owner, leaseUntil }));
    const held = yield* chunked(rows, (some) => all<LeaseRow[], { id: string }>(q.renewLeases(some.length), some));
    return new Set(held.flat().map(({ id }) => id));
  }

  /** Checks' outcomes that arrived together, at most MAX_ROWS, in one statement: whether each was written (its lease held). */
  function* checkedTasks(rows: CheckedRow[]): Plan<boolean[]> {
    const written = yield* all<CheckedRow[], { id: string }>(q.checkedTasks(rows.length), rows);
    const ids = new Set(written.map(({ id }) => id));
    return rows.map(({ id }) => ids.has(id));
  }

  function* changeState(id: string, s: Settlement): Plan<TaskRow | undefined> {
    const query = { completed: q.settleCompleted, failed: q.settleFailed, cancelled: q.settleCancelled, deleted: q.settleDeleted, expired: q.settleExpired }[s.kind];
    return yield* get<object, TaskRow>(query as Queries['settleExpired'], { id, ...s });
  }

  /**
   * A held amount ends once, with its task: captured when the video was made (what it
   * cost is kept, the rest given back), released in full otherwise.
   */
  function* settleHold(task: TaskRow, hold: number, s: Settlement): Plan<void> {
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
    const balance = yield* credit(task.key_id, back);
    const note = kind === 'capture' ? `cost ${hold - back}` : null;
    yield* run(q.insertLedger, { keyId: task.key_id, taskId: task.id, kind, amount: back, balance, now: s.now, note });
  }

  /** The task's line in the usage report, written as it ends (once: task_id is its key). */
  function* charge(task: TaskRow, s: Settlement): Plan<void> {
    const unfinished = task.status === 'queued' || task.status === 'in_progress';
    if (s.kind === 'expired' || (s.kind === 'deleted' && !unfinished)) return;
    const completed = s.kind === 'completed';
    yield* run(q.insertCharge, {
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
   * The outbox: one delivery of the task's end per webhook of its key that wants it, and one
   * to its callback_url, written with the end itself so that no crash can lose one. A delete
   * or an expiry is no event: the key asked for the first (and what was still to be sent of
   * the task's earlier events is not), and the video is long done.
   */
  function* queueEvent(task: TaskRow, s: Settlement): Plan<void> {
    if (s.kind === 'deleted') yield* run(w.cancelDeliveriesOf, { taskId: task.id });
    if (s.kind !== 'completed' && s.kind !== 'failed' && s.kind !== 'cancelled') return;
    const type: WebhookEvent = `video.${s.kind}`;
    const eventId = `evt_${randomBytes(12).toString('hex')}`;
    const targets: { webhookId: string | null; url: string }[] = (yield* all<{ keyId: string }, WebhookRow>(w.webhooksOfKey, { keyId: task.key_id }))
      .filter((webhook) => (JSON.parse(webhook.events) as string[]).includes(type))
      .map((webhook) => ({ webhookId: webhook.id, url: webhook.url }));
    if (task.callback_url !== null) targets.push({ webhookId: null, url: task.callback_url });
    for (const { webhookId, url } of targets) {
      yield* run(w.insertDelivery, {
        id: `dlv_${randomBytes(12).toString('hex')}`,
        event_id: eventId,
        type,
        key_id: task.key_id,
        task_id: task.id,
        request_id: task.request_id,
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

  function* heldClaim(keyId: string, key: string, staleBefore: number): Plan<IdempotentTask | undefined> {
    const claim = yield* get<{ keyId: string; key: string }, IdempotencyRow>(q.idempotencyKey, { keyId, key });
    if (!claim || claim.created_at < staleBefore) return undefined;
    const task = yield* get<{ id: string }, TaskRow>(q.taskById, { id: claim.task_id });
    return task ? { claim, task } : undefined;
  }

  /** A webhook's own secret, or its key's for a callback_url (made when the task was). */
  function* deliverySecret(delivery: DeliveryRow): Plan<string | null> {
    if (delivery.webhook_id !== null) return (yield* get<{ id: string }, { secret: string }>(w.webhookSecret, { id: delivery.webhook_id }))?.secret ?? null;
    return (yield* get<{ keyId: string }, { webhook_secret: string | null }>(w.keyWebhookSecret, { keyId: delivery.key_id }))?.webhook_secret ?? null;
  }

  return {
    insertTask,
    insertTasks,
    insertUnlimitedTasks,
    checkedTasks,
    renewLeases,
    heldClaim,

    *insertKey(key: Parameters<Store['insertKey']>[0]): Plan<void> {
      yield* run(q.insertKey, key);
      // A key's opening balance is its first ledger entry: every balance is the sum of its entries.
      if (key.balance) yield* run(q.insertLedger, { keyId: key.id, taskId: null, kind: 'topup', amount: key.balance, balance: key.balance, now: key.now, note: 'opening balance' });
    },

    *adjustBalance(keyId: string, { kind, amount, now, note }: Parameters<Store['adjustBalance']>[1]): Plan<number | undefined> {
      const key = yield* get<{ id: string }, ApiKeyRow>(q.keyById, { id: keyId });
      if (!key || key.balance === null) return undefined;
      const balance = amount >= 0 ? yield* credit(keyId, amount) : yield* debit(keyId, -amount);
      yield* run(q.insertLedger, { keyId, taskId: null, kind, amount, balance, now, note });
      return balance;
    },

    /** One snapshot: a task settling between two of these reads must not look half-settled. */
    *ledgerAudit(): Plan<LedgerAudit> {
      return {
        balanceMismatches: yield* all<object, LedgerAudit['balanceMismatches'][number]>(q.balanceMismatches, {}),
        negativeEntries: yield* all<object, LedgerAudit['negativeEntries'][number]>(q.negativeEntries, {}),
        holdsAndEnds: yield* all<object, LedgerAudit['holdsAndEnds'][number]>(q.holdsAndEnds, {}),
        holdsMissing: yield* all<object, LedgerAudit['holdsMissing'][number]>(q.holdsMissing, {}),
      };
    },

    /** The guarded state change and everything that moves with it. */
    *settle(id: string, s: Settlement): Plan<TaskRow | undefined> {
      const task = yield* changeState(id, s);
      if (!task) return undefined;
      if (task.hold !== null) yield* settleHold(task, task.hold, s);
      yield* charge(task, s);
      yield* queueEvent(task, s);
      return task;
    },

    /** Claims the Idempotency-Key and saves the task, or answers the claim that holds the key. */
    *claimAndInsert(task: TaskRow, { key, hash, staleBefore }: Once): Plan<IdempotentTask | null> {
      const claim = { keyId: task.key_id, key, hash, taskId: task.id, now: task.created_at, staleBefore };
      if ((yield* run(q.claimIdempotencyKey, claim)) > 0) {
        yield* insertTask(task);
        return null;
      }
      const held = yield* heldClaim(task.key_id, key, staleBefore);
      // The claim was refused because it is live with its task; in this transaction that still holds.
      if (!held) throw new Error(`Idempotency-Key claim for ${task.key_id} is neither free nor held`);
      return held;
    },

    /** A page of a webhook's deliveries, newest first, after the cursor delivery if given; null when the cursor is none of its deliveries. */
    *deliveriesPage(webhookId: string, keyId: string, limit: number, afterId: string | null): Plan<DeliveryRow[] | null> {
      if (afterId === null) return yield* all<{ webhookId: string; keyId: string; limit: number }, DeliveryRow>(w.deliveriesOfWebhook, { webhookId, keyId, limit });
      const cursor = yield* get<{ webhookId: string; keyId: string; id: string }, DeliveryRow>(w.deliveryOfWebhook, { webhookId, keyId, id: afterId });
      if (!cursor) return null;
      return yield* all<Parameters<WebhookQueries['deliveriesOfWebhookAfter']['bind']>[0], DeliveryRow>(w.deliveriesOfWebhookAfter, { webhookId, keyId, limit, createdAt: cursor.created_at, id: cursor.id });
    },

    /** One snapshot: the figures agree with one another. */
    *gauges(now: number): Plan<StoreGauges> {
      const kept = yield* get<Record<string, never>, { bytes: number | null; held: number | null }>(q.keptAndHeld, {});
      return {
        unfinished: yield* all<Record<string, never>, { model: string; status: string; tasks: number }>(q.unfinishedByModel, {}),
        due: yield* all<{ now: number }, { lane: Lane; tasks: number; oldest: number }>(q.dueByLane, { now }),
        storageBytes: kept?.bytes ?? 0,
        moneyHeld: kept?.held ?? 0,
        moneyCaptured: (yield* get<Record<string, never>, { captured: number | null }>(q.captured, {}))?.captured ?? 0,
      };
    },

    *deleteWebhook(id: string, keyId: string, now: number): Plan<boolean> {
      if ((yield* run(w.deleteWebhook, { id, keyId, now })) === 0) return false;
      yield* run(w.cancelDeliveriesTo, { webhookId: id });
      return true;
    },

    *keyWebhookSecret(keyId: string, candidate: string): Plan<string> {
      yield* run(w.setKeyWebhookSecret, { keyId, secret: candidate });
      const row = yield* get<{ keyId: string }, { webhook_secret: string | null }>(w.keyWebhookSecret, { keyId });
      if (!row?.webhook_secret) throw new Error(`no key ${keyId}`);
      return row.webhook_secret;
    },

    *claimDeliveries(owner: string, now: number, leaseUntil: number, limit: number): Plan<(DeliveryRow & { secret: string | null })[]> {
      const claimed = yield* all<Parameters<WebhookQueries['claimDeliveries']['bind']>[0], DeliveryRow>(w.claimDeliveries, { owner, now, leaseUntil, limit });
      const withSecrets: (DeliveryRow & { secret: string | null })[] = [];
      for (const delivery of claimed) withSecrets.push({ ...delivery, secret: yield* deliverySecret(delivery) });
      return withSecrets;
    },

    *sharedSetting(name: string, create: () => string): Plan<string> {
      const existing = yield* get<{ name: string }, { value: string }>(q.setting, { name });
      if (existing) return existing.value;
      yield* run(q.insertSettingIfAbsent, { name, value: create() });
      // Another process may have won the race: read back whatever was stored first.
      return (yield* get<{ name: string }, { value: string }>(q.setting, { name }))!.value;
    },
  };
}

export type Plans = ReturnType<typeof buildPlans>;
