import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { WebhookSettings } from '../config.ts';
import { FetchError, guardedPost } from '../net/guarded-fetch.ts';
import { OutageNotice } from '../outage-notice.ts';
import type { DeliveryRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../tasks/clock.ts';
import { eventBody } from './event.ts';

/** A delivery's send: the guarded POST in production; tests may hand in their own. */
export type Send = (url: string, body: Buffer, headers: Record<string, string>, signal: AbortSignal) => Promise<{ status: number }>;

export interface DelivererOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  settings: WebhookSettings;
  allowedPrivateHosts: ReadonlySet<string>;
  /** How often an idle deliverer looks for due deliveries. */
  pollMs?: number;
  /** Deliveries in flight at once. */
  concurrency?: number;
  send?: Send;
  /** Told of each attempt's outcome (the metrics). */
  onAttempt?: (outcome: 'delivered' | 'retry' | 'failed', ms: number) => void;
}

/** The longest wait between two attempts of one delivery. */
const MAX_BACKOFF_MS = 3600_000;

/** The wait after `failures` failed attempts: the base, doubled after each, at most an hour. */
export function backoffMs(failures: number, baseMs: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, failures - 1));
}

/**
 * Sends the outbox. Claims due deliveries with a lease (a crash mid-send leaves them to be
 * claimed again once it runs out: at least once, never lost), signs each attempt the
 * Standard Webhooks way with a fresh timestamp, POSTs it through the guarded fetcher with
 * a short timeout, and records the outcome: delivered on any 2xx, else tried again with
 * exponential backoff until the event is a day (`retryForMs`) old, then failed.
 */
export class Deliverer {
  readonly owner = `deliverer-${randomUUID()}`;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;

  private readonly claiming: OutageNotice;

  constructor(private readonly options: DelivererOptions) {
    this.claiming = new OutageNotice(options.log, 'claiming webhook deliveries');
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await Promise.all(this.inFlight.values());
  }

  private async run(): Promise<void> {
    const { pollMs = 500 } = this.options;
    while (!this.stopping.signal.aborted) {
      try {
        await this.claim();
        this.claiming.worked();
      } catch (error) {
        this.claiming.failed(error);
      }
      await delay(pollMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  private async claim(): Promise<void> {
    const { store, clock, settings, log, concurrency = 16 } = this.options;
    const free = concurrency - this.inFlight.size;
    if (free <= 0) return;
    const now = clock.now();
    // The lease outlasts one attempt's timeout: nobody else sends it while this one may.
    for (const delivery of await store.claimDeliveries(this.owner, now, now + settings.timeoutMs + 5000, free)) {
      const attempt = this.attempt(delivery)
        .catch((error: unknown) => log.error({ err: error, delivery: delivery.id }, 'recording a webhook delivery failed'))
        .finally(() => this.inFlight.delete(delivery.id));
      this.inFlight.set(delivery.id, attempt);
    }
  }

  private async attempt(delivery: DeliveryRow & { secret: string | null }): Promise<void> {
    const { store, clock, log, settings, allowedPrivateHosts, onAttempt } = this.options;
    const send: Send = this.options.send ?? ((url, body, headers, signal) => guardedPost(url, body, { allowedPrivateHosts, timeoutMs: settings.timeoutMs, headers, signal }));
    const started = clock.now();
    let status: number | null = null;
    let error: string | null = null;
    // Given up at once: a deleted webhook, or a host that resolves to a private address (no later try would be let through).
    let permanent = delivery.secret === null;
    if (delivery.secret === null) {
      error = 'its webhook was deleted';
    } else {
      const body = eventBody(delivery);
      const headers = {
        'content-type': 'application/json',
        'webhook-id': delivery.event_id,
        'webhook-timestamp': String(Math.floor(started / 1000)),
        'webhook-signature': new Webhook(delivery.secret).sign(delivery.event_id, new Date(started), body),
      };
      try {
        ({ status } = await send(delivery.url, Buffer.from(body), headers, this.stopping.signal));
        if (status < 200 || status > 299) error = `HTTP ${status}`;
      } catch (cause) {
        if (this.stopping.signal.aborted) {
          // Cut short by the stop: the next deliverer sends it at once.
          await store.releaseDelivery(delivery.id, this.owner);
          return;
        }
        if (cause instanceof FetchError && cause.code === 'url_not_allowed') permanent = true;
        if (!(cause instanceof FetchError)) log.error({ err: cause, delivery: delivery.id, request: delivery.request_id }, 'a webhook delivery failed unexpectedly');
        error = cause instanceof Error ? cause.message : String(cause);
      }
    }
    const now = clock.now();
    if (error === null) {
      await store.recordAttempt(delivery.id, this.owner, { status: 'delivered', now, nextAttemptAt: now, lastStatus: status, lastError: null });
      onAttempt?.('delivered', now - started);
      return;
    }
    const next = now + backoffMs(delivery.attempts + 1, settings.retryBaseMs);
    const giveUp = permanent || next > delivery.created_at + settings.retryForMs;
    await store.recordAttempt(delivery.id, this.owner, { status: giveUp ? 'failed' : 'pending', now, nextAttemptAt: next, lastStatus: status, lastError: error });
    onAttempt?.(giveUp ? 'failed' : 'retry', now - started);
    // The URL is not logged: its query may hold the receiver's own token.
    log.warn({ delivery: delivery.id, task: delivery.task_id, request: delivery.request_id, webhook: delivery.webhook_id, attempt: delivery.attempts + 1, reason: error }, giveUp ? 'webhook delivery given up' : 'webhook delivery failed; will try again');
  }
}
