import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { InvalidInput, NotFound } from '../errors.ts';
import type { DeliveryRow, WebhookEvent, WebhookRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../tasks/clock.ts';
import { newWebhookSecret } from './secret.ts';
import { checkWebhookUrl } from './target.ts';

export const WEBHOOK_EVENTS: readonly WebhookEvent[] = ['video.completed', 'video.failed', 'video.cancelled'];

/** Endpoints one key may have: each task end costs one delivery per endpoint. */
export const MAX_WEBHOOKS_PER_KEY = 10;

const createBody = z.strictObject({
  url: z.unknown(),
  events: z.array(z.enum(WEBHOOK_EVENTS as [WebhookEvent, ...WebhookEvent[]])).min(1).max(WEBHOOK_EVENTS.length).optional(),
});

/** What a key does with its webhooks: register, list, delete, and read what was delivered. */
export class WebhookService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly allowedPrivateHosts: ReadonlySet<string>,
  ) {}

  /** Registers an endpoint; the answer is the only time its secret is shown. */
  async create(keyId: string, body: unknown): Promise<WebhookRow> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInput('The body is a JSON object: {"url": "https://…", "events": [optional]}', null, 'invalid_body');
    const parsed = createBody.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      if (issue.code === 'unrecognized_keys') throw new InvalidInput(`${issue.keys[0]} is not a field of a webhook; send url and, optionally, events`, issue.keys[0]!, 'unsupported_parameter');
      if (issue.path[0] === 'url') throw new InvalidInput('url is required: where to deliver the events', 'url');
      throw new InvalidInput(`events is a list of one or more of ${WEBHOOK_EVENTS.join(', ')}`, 'events');
    }
    const url = await checkWebhookUrl(parsed.data.url, 'url', this.allowedPrivateHosts);
    if ((await this.store.webhooksOfKey(keyId)).length >= MAX_WEBHOOKS_PER_KEY) {
      throw new InvalidInput(`A key has at most ${MAX_WEBHOOKS_PER_KEY} webhooks; delete one first`, 'url', 'too_many_webhooks');
    }
    const webhook: WebhookRow = {
      id: `wh_${randomBytes(12).toString('hex')}`,
      key_id: keyId,
      url,
      secret: newWebhookSecret(),
      events: JSON.stringify([...new Set(parsed.data.events ?? WEBHOOK_EVENTS)]),
      created_at: this.clock.now(),
      deleted_at: null,
    };
    await this.store.insertWebhook(webhook);
    return webhook;
  }

  list(keyId: string): Promise<WebhookRow[]> {
    return this.store.webhooksOfKey(keyId);
  }

  async get(keyId: string, id: string): Promise<WebhookRow> {
    const webhook = await this.store.webhookOfKey(id, keyId);
    if (!webhook) throw new NotFound(`No webhook ${id}`, 'webhook_not_found');
    return webhook;
  }

  async delete(keyId: string, id: string): Promise<void> {
    if (!(await this.store.deleteWebhook(id, keyId, this.clock.now()))) throw new NotFound(`No webhook ${id}`, 'webhook_not_found');
  }

  /** A page of a webhook's deliveries, newest first, after the delivery `after` if given. */
  async deliveries(keyId: string, id: string, { limit, after }: { limit: number; after?: string }): Promise<{ deliveries: DeliveryRow[]; hasMore: boolean }> {
    await this.get(keyId, id);
    const rows = await this.store.deliveriesOfWebhook(id, keyId, limit + 1, after ?? null);
    if (rows === null) throw new InvalidInput(`after: no delivery '${after}' of webhook ${id}`, 'after');
    return { deliveries: rows.slice(0, limit), hasMore: rows.length > limit };
  }

  /** The deliveries of one of the key's tasks (its webhooks' and its callback_url's); they outlive a deleted task. */
  async deliveriesOfTask(keyId: string, taskId: string): Promise<DeliveryRow[]> {
    const deliveries = await this.store.deliveriesOfTask(taskId, keyId);
    if (deliveries.length === 0 && !(await this.store.taskForKey(taskId, keyId))) throw new NotFound(`No video ${taskId}`, 'video_not_found');
    return deliveries;
  }

  /** The secret that signs deliveries to the key's callback_urls; the same every time it is asked for. */
  callbackSecret(keyId: string): Promise<string> {
    return this.store.keyWebhookSecret(keyId, newWebhookSecret());
  }
}
