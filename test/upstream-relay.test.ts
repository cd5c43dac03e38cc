import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngDataUri } from './support/media.ts';
import { type RecordingProxy, startRecordingProxy } from './support/recording-proxy.ts';
import { retryUntil, waitUntil } from './support/wait.ts';

/**
 * One vidgate relays to another: B renders on its local preview renderer (no channels),
 * A has only RELAY_BASE_URL and RELAY_API_KEY, pointing at B through a recording proxy so
 * that what A asks of B can be read. What A serves is byte for byte what B made.
 */
let b: RunningGateway;
let a: RunningGateway;
let proxy: RecordingProxy;
let onB: Client;
let onA: Client;

before(async () => {
  b = await startGateway();
  onB = await newClient(b, 'relay');
  proxy = await startRecordingProxy(b.url);
  a = await startGateway({ RELAY_BASE_URL: `${proxy.url}/v1`, RELAY_API_KEY: onB.key });
  onA = await newClient(a);
});
after(async () => {
  await a?.stop();
  await b?.stop();
  await proxy?.close();
  if (a) removeDataDir(a.dataDir);
  if (b) removeDataDir(b.dataDir);
});

/** B's tasks made with this prompt (through A's relay key, the only one that makes tasks on B). */
interface Task {
  id: string;
  status: string;
  prompt: string;
  seconds: string;
  size: string;
}

async function tasksOnB(prompt: string): Promise<Task[]> {
  const { status, body } = await onB.json('GET', '/v1/videos?order=desc&limit=100');
  assert.equal(status, 200);
  return (body.data as Task[]).filter((task) => task.prompt === prompt);
}

async function bytes(client: Client, id: string): Promise<Buffer> {
  const response = await client.request('GET', `/v1/videos/${id}/content`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'video/mp4');
  return Buffer.from(await response.arrayBuffer());
}

/** The creates A sent to B for one of A's tasks (A's task id is the Idempotency-Key). */
function createsFor(taskIdOnA: string) {
  return proxy.requests.filter((request) => request.method === 'POST' && request.path === '/v1/videos' && request.headers['idempotency-key'] === taskIdOnA);
}

describe('a vidgate relaying to another vidgate', () => {
  const image = pngDataUri(320, 240);
  const cases: { name: string; body: Record<string, unknown>; sent: Record<string, unknown> }[] = [
    {
      name: 'text-to-video',
      body: { model: 'grok-imagine', prompt: 'relay: a lighthouse', duration: 1, size: '480p', aspect_ratio: '16:9' },
      sent: { model: 'grok-imagine', prompt: 'relay: a lighthouse', duration: 1, size: '480p', aspect_ratio: '16:9' },
    },
    {
      name: 'image-to-video, the image a data URI',
      body: { model: 'grok-imagine', prompt: 'relay: from a picture', duration: 1, size: '480p', image },
      sent: { model: 'grok-imagine', prompt: 'relay: from a picture', duration: 1, size: '480p', image },
    },
  ];
  for (const { name, body, sent } of cases) {
    test(`${name}: A's task completes, and A serves the very bytes B made`, async () => {
      const created = await onA.json('POST', '/v1/videos', body);
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const done = await onA.waitFor(created.body.id, 60_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));

      // Exactly one create reached B: the job in the model's own dialect, the image inline as given.
      const creates = createsFor(done.id);
      assert.equal(creates.length, 1);
      assert.equal(creates[0]!.headers.authorization, `Bearer ${onB.key}`);
      assert.deepEqual(JSON.parse(creates[0]!.text), sent);

      const remote = await tasksOnB(String(body.prompt));
      assert.equal(remote.length, 1, 'B holds one task for it');
      assert.equal(remote[0]!.status, 'completed');
      assert.ok(proxy.requests.some((request) => request.path === `/v1/videos/${remote[0]!.id}/content` && request.status === 200), 'A copied the content from B');
      const ours = await bytes(onA, done.id);
      const theirs = await bytes(onB, remote[0]!.id);
      assert.ok(ours.length > 0 && ours.equals(theirs), 'byte-identical');
      assert.equal(done.seconds, remote[0]!.seconds);
      assert.equal(done.size, remote[0]!.size);
    });
  }

  test('GET /v1/models on A names the relay channel and never its key', async () => {
    const { body } = await onA.json('GET', '/v1/models');
    assert.deepEqual(body.data.find((m: { id: string }) => m.id === 'viduq3p-720p').channels, ['relay']);
    assert.ok(!JSON.stringify(body).includes(onB.key));
    assert.ok(!JSON.stringify(body).includes(proxy.url));
  });

  test('cancelling a slow task on A cancels it on B too', async () => {
    const prompt = 'relay: a long one to cancel';
    const created = await onA.json('POST', '/v1/videos', { model: 'grok-imagine', prompt, duration: 15, size: '720p' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    // Wait until A has handed it to B, and B has started on it.
    const onBNow = await retryUntil(() => tasksOnB(prompt), ([task]) => task !== undefined && task.status !== 'queued', 'A submits to B, and B starts', 20_000, 100);
    const remote = onBNow[0]!;
    assert.equal(remote.status, 'in_progress');

    const cancelled = await onA.json('POST', `/v1/videos/${created.body.id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.status, 'cancelled');
    await waitUntil(async () => (await tasksOnB(prompt))[0]!.status === 'cancelled', 'B hears of the cancel', 10_000, 100);
    assert.ok(proxy.requests.some((request) => request.method === 'POST' && request.path === `/v1/videos/${remote.id}/cancel`), 'A told B');
    assert.equal((await onA.json('GET', `/v1/videos/${created.body.id}`)).body.status, 'cancelled');
  });
});
