import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { createTask } from './support/upstream-kit.ts';
import { waitUntil } from './support/wait.ts';
import { type Arrival, startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

/**
 * Webhooks end to end: a real gateway delivers to a local endpoint (let through
 * ALLOWED_PRIVATE_HOSTS), and the official openai client's webhooks.unwrap verifies each
 * delivery, as a user's receiver would.
 */
const openai = new OpenAI({ apiKey: 'unused' });
const RETRY_BASE_MS = 200;
const env = (receiver: WebhookReceiver) => ({
  ALLOWED_PRIVATE_HOSTS: receiver.hostPort,
  WEBHOOK_RETRY_BASE_SECONDS: String(RETRY_BASE_MS / 1000),
  WEBHOOK_TIMEOUT_SECONDS: '1',
});
const SMALL = { model: 'grok-imagine', duration: 1, size: '480p' };

let receiver: WebhookReceiver;
let gateway: RunningGateway;

before(async () => {
  receiver = await startWebhookReceiver();
  gateway = await startGateway(env(receiver));
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await receiver.close();
});

async function register(client: Client, url: string, events?: string[]): Promise<{ id: string; secret: string }> {
  const { status, body } = await client.json('POST', '/v1/webhooks', { url, ...(events ? { events } : {}) });
  assert.equal(status, 200, JSON.stringify(body));
  assert.match(body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  return body as { id: string; secret: string };
}

async function arrivalsOn(where: string, count: number, timeoutMs = 20_000): Promise<Arrival[]> {
  await waitUntil(() => receiver.on(where).length >= count, `${count} deliveries on ${where}`, timeoutMs);
  return receiver.on(where);
}

async function unwrap(arrival: Arrival, secret: string): Promise<{ id: string; object: string; type: string; created_at: number; data: { id: string } }> {
  return (await openai.webhooks.unwrap(arrival.body, arrival.headers as Record<string, string>, secret)) as never;
}

describe('webhooks', { concurrency: true }, () => {
  test('each end of a video is delivered to the key\'s webhooks and the callback_url, signed as the openai client verifies', async () => {
    const client = await newClient(gateway, 'signed');
    const all = await register(client, `${receiver.url}/all`);
    const cancelledOnly = await register(client, `${receiver.url}/cancelled-only`, ['video.cancelled']);
    const listed = await client.json('GET', '/v1/webhooks');
    assert.deepEqual(listed.body.data.map((webhook: { id: string }) => webhook.id), [all.id, cancelledOnly.id]);
    assert.ok(listed.body.data.every((webhook: Record<string, unknown>) => !('secret' in webhook)), 'the secret is shown once');

    const id = await createTask(client, { ...SMALL, prompt: 'a lighthouse', callback_url: `${receiver.url}/mine?token=abc` });
    assert.equal((await client.waitFor(id)).status, 'completed');
    const [delivered] = await arrivalsOn('/all', 1);
    const event = await unwrap(delivered!, all.secret);
    assert.deepEqual({ object: event.object, type: event.type, data: event.data }, { object: 'event', type: 'video.completed', data: { id } });
    assert.match(event.id, /^evt_/);
    assert.ok(Math.abs(event.created_at - Date.now() / 1000) < 60);
    await assert.rejects(unwrap(delivered!, cancelledOnly.secret), /signature/, 'another endpoint\'s secret does not verify it');

    // The callback_url gets the same event, signed with the key's callback secret.
    const [callback] = await arrivalsOn('/mine?token=abc', 1);
    const { body: secret } = await client.json('GET', '/v1/webhooks/default/secret');
    assert.equal((await unwrap(callback!, secret.secret)).id, event.id);

    // A cancel is an event too; the endpoint that asked only for cancellations gets only those.
    const cancelled = await createTask(client, { model: 'grok-imagine', duration: 10, size: '720p', prompt: 'cut short' });
    assert.equal((await client.json('POST', `/v1/videos/${cancelled}/cancel`)).status, 200);
    const [onlyCancel] = await arrivalsOn('/cancelled-only', 1);
    const cancelEvent = await unwrap(onlyCancel!, cancelledOnly.secret);
    assert.deepEqual([cancelEvent.type, cancelEvent.data.id], ['video.cancelled', cancelled]);
    await arrivalsOn('/all', 2);
    assert.equal(receiver.on('/cancelled-only').length, 1, 'no video.completed where only video.cancelled was asked for');

    // Each delivery's outcome, by endpoint and by video.
    const { body: deliveries } = await client.json('GET', `/v1/webhooks/${all.id}/deliveries`);
    assert.deepEqual(
      deliveries.data.map((d: Record<string, unknown>) => [d.video_id, d.type, d.status, d.attempts, d.last_status_code]),
      [
        [cancelled, 'video.cancelled', 'delivered', 1, 200],
        [id, 'video.completed', 'delivered', 1, 200],
      ],
    );
    assert.deepEqual([deliveries.first_id, deliveries.last_id, deliveries.has_more], [deliveries.data[0].id, deliveries.data[1].id, false]);
    // A page at a time, newest first, as the video list pages.
    const { body: first } = await client.json('GET', `/v1/webhooks/${all.id}/deliveries?limit=1`);
    assert.deepEqual([first.data.map((d: { id: string }) => d.id), first.first_id, first.last_id, first.has_more], [[deliveries.data[0].id], deliveries.data[0].id, deliveries.data[0].id, true]);
    const { body: second } = await client.json('GET', `/v1/webhooks/${all.id}/deliveries?limit=1&after=${first.last_id}`);
    assert.deepEqual([second.data.map((d: { id: string }) => d.id), second.has_more], [[deliveries.data[1].id], false]);
    const unknown = await client.json('GET', `/v1/webhooks/${all.id}/deliveries?after=dlv_unknown`);
    assert.deepEqual([unknown.status, unknown.body.error.param], [400, 'after']);
    const { body: ofVideo } = await client.json('GET', `/v1/videos/${id}/deliveries`);
    assert.deepEqual(ofVideo.data.map((d: Record<string, unknown>) => [d.webhook_id, d.status]).sort(), [[all.id, 'delivered'], [null, 'delivered']].sort());
    // In the shape of every list: its first and last ids, and no more to come.
    assert.deepEqual([ofVideo.first_id, ofVideo.last_id, ofVideo.has_more], [ofVideo.data[0].id, ofVideo.data[1].id, false]);

    // Another key sees none of it.
    const stranger = await newClient(gateway, 'stranger');
    assert.equal((await stranger.json('GET', `/v1/webhooks/${all.id}/deliveries`)).status, 404);
    assert.equal((await stranger.json('GET', `/v1/videos/${id}/deliveries`)).status, 404);
    assert.equal((await stranger.json('DELETE', `/v1/webhooks/${all.id}`)).status, 404);
  });

  test('an endpoint that fails five times gets the event on the sixth attempt, with backoff between them', async () => {
    const client = await newClient(gateway, 'flaky');
    receiver.script('/flaky', 500, 500, 503, 404, 500);
    const webhook = await register(client, `${receiver.url}/flaky`);
    const id = await createTask(client, { ...SMALL, prompt: 'a windmill' });
    assert.equal((await client.waitFor(id)).status, 'completed');
    const attempts = await arrivalsOn('/flaky', 6);
    // One event: the same id and body each time, each signed afresh (and so verified).
    assert.equal(new Set(attempts.map((a) => a.headers['webhook-id'])).size, 1);
    assert.equal(new Set(attempts.map((a) => a.body)).size, 1);
    for (const attempt of attempts) assert.equal((await unwrap(attempt, webhook.secret)).data.id, id);
    const gaps = attempts.slice(1).map((a, index) => a.at - attempts[index]!.at);
    gaps.forEach((gap, index) => assert.ok(gap >= RETRY_BASE_MS * 2 ** index * 0.9, `attempt ${index + 2} came ${gap} ms after the one before (gaps ${gaps.join(', ')})`));

    await waitUntil(async () => (await client.json('GET', `/v1/webhooks/${webhook.id}/deliveries`)).body.data[0]?.status === 'delivered', 'the delivery is recorded');
    const [delivery] = (await client.json('GET', `/v1/webhooks/${webhook.id}/deliveries`)).body.data;
    assert.deepEqual([delivery.attempts, delivery.last_status_code, delivery.last_error], [6, 200, null]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(receiver.on('/flaky').length, 6, 'nothing more once delivered');
  });

  test('only public addresses: a private one is refused at registration, written as an address or as a name that resolves to one', async () => {
    const client = await newClient(gateway, 'private');
    for (const url of ['http://10.1.2.3/hook', 'http://[::1]:8080/hook', 'http://169.254.169.254/latest']) {
      const { status, body } = await client.json('POST', '/v1/webhooks', { url });
      assert.equal(status, 400, url);
      assert.deepEqual([body.error.param, body.error.code], ['url', 'url_not_allowed']);
    }
    const refused = await client.json('POST', '/v1/videos', { ...SMALL, prompt: 'x', callback_url: 'http://192.168.1.1/cb' });
    assert.deepEqual([refused.status, refused.body.error.param], [400, 'callback_url']);
    for (const [body, param] of [
      [{ url: 'ftp://example.com/x' }, 'url'],
      [{ url: `${receiver.url}/x`, secret: 'mine' }, 'secret'],
      [{ url: `${receiver.url}/x`, events: ['video.deleted'] }, 'events'],
      [{}, 'url'],
      [['not', 'an', 'object'], null],
    ] as const) {
      const answer = await client.json('POST', '/v1/webhooks', body);
      assert.deepEqual([answer.status, answer.body.error.param], [400, param], JSON.stringify(answer.body));
    }

    // A name is checked where it resolves: localhost is loopback, and is not let through (the guarded fetcher checks again at each delivery).
    const port = new URL(receiver.url).port;
    const byName = await client.json('POST', '/v1/webhooks', { url: `http://localhost:${port}/private` });
    assert.deepEqual([byName.status, byName.body.error.param, byName.body.error.code], [400, 'url', 'url_not_allowed']);
    const unresolvable = await client.json('POST', '/v1/webhooks', { url: 'https://no-such-host.invalid/hook' });
    assert.deepEqual([unresolvable.status, unresolvable.body.error.code], [400, 'url_unresolvable']);
  });

  test('a deleted video\'s events, and a deleted webhook\'s, are not sent any more', async () => {
    const client = await newClient(gateway, 'deleting');
    receiver.script('/failing', 500, 500, 500, 500, 500, 500, 500, 500);
    const webhook = await register(client, `${receiver.url}/failing`);
    const id = await createTask(client, { ...SMALL, prompt: 'a gate' });
    assert.equal((await client.waitFor(id)).status, 'completed');
    await arrivalsOn('/failing', 2);
    assert.equal((await client.json('DELETE', `/v1/videos/${id}`)).status, 200);
    const { body: ofVideo } = await client.json('GET', `/v1/webhooks/${webhook.id}/deliveries`);
    assert.deepEqual(ofVideo.data.map((d: Record<string, unknown>) => [d.video_id, d.status]), [[id, 'cancelled']]);
    const sent = receiver.on('/failing').length;
    await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 8));
    assert.equal(receiver.on('/failing').length, sent, 'no attempt after the delete');

    // Deleted: what was still to be sent to it is not.
    const other = await createTask(client, { ...SMALL, prompt: 'another gate' });
    assert.equal((await client.waitFor(other)).status, 'completed');
    await arrivalsOn('/failing', sent + 1);
    assert.deepEqual((await client.json('DELETE', `/v1/webhooks/${webhook.id}`)).body, { id: webhook.id, object: 'webhook_endpoint.deleted', deleted: true });
    assert.equal((await client.json('GET', `/v1/webhooks/${webhook.id}`)).status, 404);
    const { body: ofOther } = await client.json('GET', `/v1/videos/${other}/deliveries`);
    assert.equal(ofOther.data[0].status, 'cancelled');
  });
});

test('killed with a delivery in flight: it arrives after the restart, as the same event', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  let current = await startGateway(env(receiver), dataDir);
  try {
    const client = await newClient(current, 'restart');
    receiver.script('/restart', 'hang');
    const webhook = await register(client, `${receiver.url}/restart`);
    const id = await createTask(client, { ...SMALL, prompt: 'a phoenix' });
    await arrivalsOn('/restart', 1);
    await current.stop('SIGKILL');
    current = await startGateway(env(receiver), dataDir);
    // Sent again once the dead process's lease on it runs out (its timeout and a margin).
    const [first, second] = await arrivalsOn('/restart', 2, 30_000);
    assert.equal(second!.headers['webhook-id'], first!.headers['webhook-id']);
    assert.equal((await unwrap(second!, webhook.secret)).data.id, id);
    const again = new (client.constructor as typeof Client)(current.url, client.key);
    await waitUntil(async () => (await again.json('GET', `/v1/webhooks/${webhook.id}/deliveries`)).body.data[0]?.status === 'delivered', 'the delivery is recorded');
  } finally {
    await current.stop();
    removeDataDir(dataDir);
  }
});
