import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { DeliveryRow, WebhookRow } from '../store/schema.ts';
import { requireApiKey } from './auth.ts';
import { listPage, pageLimit, readListQuery } from './list.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

type IdParams = { Params: { id: string } };

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

function webhookObject(webhook: WebhookRow) {
  return { id: webhook.id, object: 'webhook_endpoint', url: webhook.url, events: JSON.parse(webhook.events) as string[], created_at: seconds(webhook.created_at) };
}

function deliveryObject(delivery: DeliveryRow) {
  return {
    id: delivery.id,
    object: 'webhook.delivery',
    event_id: delivery.event_id,
    type: delivery.type,
    video_id: delivery.task_id,
    // null: the task's own callback_url.
    webhook_id: delivery.webhook_id,
    url: delivery.url,
    status: delivery.status,
    attempts: delivery.attempts,
    last_status_code: delivery.last_status,
    last_error: delivery.last_error,
    next_attempt_at: delivery.status === 'pending' ? seconds(delivery.next_attempt_at) : null,
    delivered_at: seconds(delivery.delivered_at),
    created_at: seconds(delivery.created_at),
  };
}

const deliveriesQuery = z.object({ limit: pageLimit, after: z.string().min(1).optional() });

/**
 * A key's webhooks (POST/GET/DELETE /v1/webhooks), what was delivered to each, the
 * deliveries of one video, and the secret that signs deliveries to a callback_url.
 */
export function registerWebhookRoutes(app: FastifyInstance, routes: RouteTable, { keys, webhooks }: RouteDependencies): void {
  const onRequest = requireApiKey(keys);

  app.post('/v1/webhooks', { onRequest }, async (request) => {
    const webhook = await webhooks.create(request.keyId, request.body);
    // The only time the secret is shown.
    return { ...webhookObject(webhook), secret: webhook.secret };
  });
  app.get('/v1/webhooks', { onRequest }, async (request) => ({ object: 'list', data: (await webhooks.list(request.keyId)).map(webhookObject) }));
  routes.note('/v1/webhooks', 'GET', 'POST');

  app.get('/v1/webhooks/default/secret', { onRequest }, async (request) => ({ object: 'webhook_secret', secret: await webhooks.callbackSecret(request.keyId) }));
  routes.note('/v1/webhooks/default/secret', 'GET');

  app.get<IdParams>('/v1/webhooks/:id', { onRequest }, async (request) => webhookObject(await webhooks.get(request.keyId, request.params.id)));
  app.delete<IdParams>('/v1/webhooks/:id', { onRequest }, async (request) => {
    await webhooks.delete(request.keyId, request.params.id);
    return { id: request.params.id, object: 'webhook_endpoint.deleted', deleted: true };
  });
  routes.note('/v1/webhooks/:id', 'GET', 'DELETE');

  app.get<IdParams>('/v1/webhooks/:id/deliveries', { onRequest }, async (request) => {
    const { deliveries, hasMore } = await webhooks.deliveries(request.keyId, request.params.id, readListQuery(deliveriesQuery, request.query));
    return listPage(deliveries, hasMore, deliveryObject);
  });
  routes.note('/v1/webhooks/:id/deliveries', 'GET');

  // A task has a delivery per webhook and event at most: one page, in the shape of every list.
  app.get<IdParams>('/v1/videos/:id/deliveries', { onRequest }, async (request) =>
    listPage(await webhooks.deliveriesOfTask(request.keyId, request.params.id), false, deliveryObject),
  );
  routes.note('/v1/videos/:id/deliveries', 'GET');
}
