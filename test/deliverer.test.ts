import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { validate } from '../src/catalog/validate.ts';
import { FetchError } from '../src/net/guarded-fetch.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { backoffMs, Deliverer, type Send } from '../src/webhooks/deliverer.ts';
import { retryUntil } from './support/wait.ts';

/** The deliverer against a real SQLite store, with its send in the test's hand. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-deliverer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SETTINGS = { timeoutMs: 1000, retryBaseMs: 50, retryForMs: 60_000 };

async function storeWithOneEvent(name: string): Promise<Store> {
  const store = await openSqliteStore(path.join(dir, `${name}.db`));
  const now = Date.now();
  await store.insertKey({ id: 'key_1', name: 'k', hash: `hash-${name}`, prefix: 'sk-x', now, balance: null, mode: 'live', limit_rpm: null, limit_in_flight: null, limit_daily_spend: null });
  await store.insertWebhook({ id: 'wh_1', key_id: 'key_1', url: 'https://hooks.example.com/a', secret: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', events: '["video.cancelled"]', created_at: now, deleted_at: null });
  const job = JSON.stringify(validate('create', { model: 'grok-imagine', prompt: 'p', duration: 1, size: '480p' }));
  await store.insertTask({
    id: 'video_1', key_id: 'key_1', model: 'grok-imagine', status: 'queued', progress: 0, job, prompt: 'p', seconds: '1', size: '480p',
    remixed_from_video_id: null, warnings: null, provider: 'local', operation: null, submit_started_at: null, usage: null, error_code: null,
    error_message: null, created_at: now, updated_at: now, started_at: null, completed_at: null, expires_at: null, run_after: now, attempts: 0,
    claims: 0, lease_owner: null, lease_expires_at: null, video_key: null, video_size: null, price: null, hold: null, cost: null, mode: 'live',
    request_id: 'req-1', callback_url: null,
  });
  await store.settle('video_1', { kind: 'cancelled', keyId: 'key_1', now });
  return store;
}

async function deliverWith(store: Store, send: Send, waitFor: (status: string) => boolean): Promise<Record<string, unknown>> {
  const deliverer = new Deliverer({ store, clock: { now: () => Date.now() }, log: pino({ level: 'silent' }), settings: SETTINGS, allowedPrivateHosts: new Set(), pollMs: 10, send });
  deliverer.start();
  try {
    const firstDelivery = async () => (await store.deliveriesOfTask('video_1', 'key_1'))[0];
    const delivery = await retryUntil(firstDelivery, (answer) => answer !== undefined && waitFor(answer.status), 'the delivery to reach the awaited status', 3000, 10);
    return delivery as unknown as Record<string, unknown>;
  } finally {
    await deliverer.stop();
    await store.close();
  }
}

test('a host that resolves to a private address is given up at once: no later try would be let through', async () => {
  let calls = 0;
  const delivery = await deliverWith(
    await storeWithOneEvent('private'),
    async () => {
      calls++;
      throw new FetchError('url_not_allowed', 'The host "hooks.example.com" resolves to a private or reserved network address.');
    },
    (status) => status !== 'pending',
  );
  assert.deepEqual([delivery.status, delivery.attempts, calls], ['failed', 1, 1]);
  assert.match(String(delivery.last_error), /private or reserved/);
});

test('any other failure is tried again with backoff, and a 2xx delivers', async () => {
  const answers = [500, 502, 204];
  const delivery = await deliverWith(await storeWithOneEvent('flaky'), async () => ({ status: answers.shift()! }), (status) => status === 'delivered');
  assert.deepEqual([delivery.attempts, delivery.last_status], [3, 204]);
});

test('the wait doubles from the base, up to an hour', () => {
  assert.deepEqual([1, 2, 3, 4].map((failures) => backoffMs(failures, 10_000)), [10_000, 20_000, 40_000, 80_000]);
  assert.equal(backoffMs(30, 10_000), 3600_000);
});
