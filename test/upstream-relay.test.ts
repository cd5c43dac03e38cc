import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngDataUri } from './support/media.ts';

/**
 * One vidgate relays to another: B renders on its preview renderer, A has only
 * RELAY_BASE_URL and RELAY_API_KEY pointing at B. What A serves is byte for byte what B made.
 */
let b: RunningGateway;
let a: RunningGateway;
let onB: Client;
let onA: Client;

before(async () => {
  b = await startGateway();
  onB = await newClient(b, 'relay');
  a = await startGateway({ RELAY_BASE_URL: `${b.url}/v1`, RELAY_API_KEY: onB.key });
  onA = await newClient(a);
});
after(async () => {
  await Promise.all([a.stop(), b.stop()]);
  removeDataDir(a.dataDir);
  removeDataDir(b.dataDir);
});

/** The task A's relay made on B: the newest of the relay key's tasks. */
async function taskOnB(prompt: string): Promise<Record<string, string>> {
  const { body } = await onB.json('GET', '/v1/videos?order=desc&limit=100');
  const task = body.data.find((t: { prompt: string }) => t.prompt === prompt);
  assert.ok(task, `B has a task for "${prompt}"`);
  return task;
}

async function bytes(client: Client, id: string): Promise<Buffer> {
  const response = await client.request('GET', `/v1/videos/${id}/content`);
  assert.equal(response.status, 200);
  return Buffer.from(await response.arrayBuffer());
}

describe('a vidgate relaying to another vidgate', () => {
  test('text and image-to-video run end to end; A serves the very bytes B made', async () => {
    for (const body of [
      { model: 'grok-imagine', prompt: 'relay: a lighthouse', duration: 1, size: '480p', aspect_ratio: '16:9' },
      { model: 'grok-imagine', prompt: 'relay: from a picture', duration: 1, size: '480p', image: pngDataUri(320, 240) },
    ]) {
      const created = await onA.json('POST', '/v1/videos', body);
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const done = await onA.waitFor(created.body.id, 60_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      const remote = await taskOnB(body.prompt);
      assert.equal(remote.status, 'completed');
      assert.ok((await bytes(onA, done.id)).equals(await bytes(onB, remote.id!)), 'byte-identical');
      assert.equal(done.seconds, remote.seconds);
    }
  });

  test('GET /v1/models on A names the relay channel', async () => {
    const { body } = await onA.json('GET', '/v1/models');
    assert.deepEqual(body.data.find((m: { id: string }) => m.id === 'viduq3p-720p').channels, ['relay']);
    assert.ok(!JSON.stringify(body).includes(onB.key));
  });

  test('cancelling on A cancels the task on B too', async () => {
    const prompt = 'relay: a long one to cancel';
    const created = await onA.json('POST', '/v1/videos', { model: 'grok-imagine', prompt, duration: 15, size: '720p' });
    assert.equal(created.status, 200);
    // Wait until A has handed it to B.
    const deadline = Date.now() + 20_000;
    while (!(await onB.json('GET', '/v1/videos?order=desc&limit=100')).body.data.some((t: { prompt: string }) => t.prompt === prompt)) {
      assert.ok(Date.now() < deadline, 'A submits to B');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cancelled = await onA.json('POST', `/v1/videos/${created.body.id}/cancel`);
    assert.equal(cancelled.body.status, 'cancelled');
    const until = Date.now() + 10_000;
    while ((await taskOnB(prompt)).status !== 'cancelled') {
      assert.ok(Date.now() < until, 'B hears of the cancel');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});
