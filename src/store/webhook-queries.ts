import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { isPostgres } from './dialect.ts';
import { prepare } from './prepared.ts';
import type { Database, DeliveryRow, WebhookRow } from './schema.ts';

/** The webhook endpoints and the delivery outbox: every statement about them, as queries.ts is for the rest. */
export function buildWebhookQueries(db: Kysely<Database>) {
  const unleased = (eb: ExpressionBuilder<Database, 'deliveries'>, now: number) =>
    eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', now)]);
  const ofWebhook = (p: { webhookId: string; keyId: string }) => db.selectFrom('deliveries').selectAll().where('webhook_id', '=', p.webhookId).where('key_id', '=', p.keyId);
  const liveWebhooks = (keyId: string) => db.selectFrom('webhooks').selectAll().where('key_id', '=', keyId).where('deleted_at', 'is', null);

  return {
    insertWebhook: prepare((p: WebhookRow) => db.insertInto('webhooks').values(p), ['id', 'key_id', 'url', 'secret', 'events', 'created_at', 'deleted_at']),
    webhooksOfKey: prepare((p: { keyId: string }) => liveWebhooks(p.keyId).orderBy('created_at').orderBy('id')),
    webhookOfKey: prepare((p: { id: string; keyId: string }) => liveWebhooks(p.keyId).where('id', '=', p.id)),
    deleteWebhook: prepare((p: { id: string; keyId: string; now: number }) =>
      db.updateTable('webhooks').set({ deleted_at: p.now }).where('id', '=', p.id).where('key_id', '=', p.keyId).where('deleted_at', 'is', null),
    ),
    /** What was still to be sent to a deleted endpoint is not sent. */
    cancelDeliveriesTo: prepare((p: { webhookId: string }) =>
      db.updateTable('deliveries').set({ status: 'cancelled', lease_owner: null, lease_expires_at: null }).where('webhook_id', '=', p.webhookId).where('status', '=', 'pending'),
    ),
    /** A deleted task's events are not sent: what was still pending of them is cancelled. */
    cancelDeliveriesOf: prepare((p: { taskId: string }) =>
      db.updateTable('deliveries').set({ status: 'cancelled', lease_owner: null, lease_expires_at: null }).where('task_id', '=', p.taskId).where('status', '=', 'pending'),
    ),
    keyWebhookSecret: prepare((p: { keyId: string }) => db.selectFrom('api_keys').select('webhook_secret').where('id', '=', p.keyId)),
    /** Sets the key's callback secret unless it has one: two processes racing keep the first. */
    setKeyWebhookSecret: prepare((p: { keyId: string; secret: string }) =>
      db.updateTable('api_keys').set({ webhook_secret: p.secret }).where('id', '=', p.keyId).where('webhook_secret', 'is', null),
    ),

    insertDelivery: prepare((p: DeliveryRow) => db.insertInto('deliveries').values(p), [
      'id', 'event_id', 'type', 'key_id', 'task_id', 'request_id', 'webhook_id', 'url', 'status', 'attempts', 'next_attempt_at',
      'last_attempt_at', 'last_status', 'last_error', 'delivered_at', 'created_at', 'lease_owner', 'lease_expires_at',
    ]),
    /** Leases the deliveries that are due, oldest due first, with the secret each is signed with. */
    claimDeliveries: prepare((p: { owner: string; now: number; leaseUntil: number; limit: number }) => {
      const due = db
        .selectFrom('deliveries')
        .select('id')
        // A literal, so that SQLite reads the partial index deliveries_due.
        .where('status', '=', sql.lit('pending'))
        .where('next_attempt_at', '<=', p.now)
        .where((eb) => unleased(eb, p.now))
        .orderBy('next_attempt_at')
        .limit(p.limit);
      return db
        .updateTable('deliveries')
        .set({ lease_owner: p.owner, lease_expires_at: p.leaseUntil })
        .where('id', 'in', isPostgres(db) ? due.forUpdate().skipLocked() : due)
        .where((eb) => unleased(eb, p.now))
        .returningAll();
    }),
    webhookSecret: prepare((p: { id: string }) => db.selectFrom('webhooks').select('secret').where('id', '=', p.id)),
    /** One attempt's outcome, under the lease that made it; the lease ends with it. */
    recordAttempt: prepare(
      (p: { id: string; owner: string; status: DeliveryRow['status']; now: number; nextAttemptAt: number; lastStatus: number | null; lastError: string | null; deliveredAt: number | null }) =>
        db
          .updateTable('deliveries')
          .set((eb) => ({
            status: p.status,
            attempts: eb('attempts', '+', 1),
            next_attempt_at: p.nextAttemptAt,
            last_attempt_at: p.now,
            last_status: p.lastStatus,
            last_error: p.lastError,
            delivered_at: p.deliveredAt,
            lease_owner: null,
            lease_expires_at: null,
          }))
          .where('id', '=', p.id)
          .where('lease_owner', '=', p.owner)
          .where('status', '=', 'pending'),
    ),
    /** A stopping deliverer hands back what it holds, for the next one to send at once. */
    releaseDelivery: prepare((p: { id: string; owner: string }) =>
      db.updateTable('deliveries').set({ lease_owner: null, lease_expires_at: null }).where('id', '=', p.id).where('lease_owner', '=', p.owner),
    ),
    deliveriesOfWebhook: prepare((p: { webhookId: string; keyId: string; limit: number }) =>
      ofWebhook(p).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(p.limit),
    ),
    /** The next page, newest first: the deliveries older than the cursor delivery. */
    deliveriesOfWebhookAfter: prepare((p: { webhookId: string; keyId: string; limit: number; createdAt: number; id: string }) =>
      ofWebhook(p)
        .where((eb) => eb.or([eb('created_at', '<', p.createdAt), eb.and([eb('created_at', '=', p.createdAt), eb('id', '<', p.id)])]))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(p.limit),
    ),
    deliveryOfWebhook: prepare((p: { webhookId: string; keyId: string; id: string }) => ofWebhook(p).where('id', '=', p.id)),
    deliveriesOfTask: prepare((p: { taskId: string; keyId: string }) =>
      db.selectFrom('deliveries').selectAll().where('task_id', '=', p.taskId).where('key_id', '=', p.keyId).orderBy('created_at').orderBy('id'),
    ),
    /** Pending deliveries and when the oldest fell due, for the metrics. */
    pendingDeliveries: prepare((_: Record<string, never>) =>
      db
        .selectFrom('deliveries')
        .select((eb) => [eb.fn.countAll<number>().as('pending'), eb.fn.min('next_attempt_at').as('oldest')])
        .where('status', '=', sql.lit('pending')),
    ),
  };
}

export type WebhookQueries = ReturnType<typeof buildWebhookQueries>;
