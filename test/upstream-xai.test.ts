import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeXai } from './fakes/xai.ts';
import type { FakeUpstream } from './fakes/server.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { probe } from './support/media.ts';

/** With only XAI_API_KEY and XAI_BASE_URL set, grok models run through the xAI adapter against the fake. */
let fake: FakeUpstream;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  fake = await startFakeXai({ completeAfterMs: 500 });
  gateway = await startGateway({ XAI_API_KEY: 'xai-test-key', XAI_BASE_URL: fake.url, ALLOWED_PRIVATE_HOSTS: fake.hostPort });
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await fake.close();
});

describe('xAI channel end to end', () => {
  test('a text-to-video task is sent to xAI, tracked, and its video kept byte for byte', async () => {
    const created = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a red fox', size: '480p', aspect_ratio: '16:9', duration: 3 });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const done = await client.waitFor(created.body.id, 30_000);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    const sent = fake.requests.find((r) => r.method === 'POST');
    assert.deepEqual(sent?.body, { model: 'grok-imagine-video', prompt: 'a red fox', duration: 3, aspect_ratio: '16:9', resolution: '480p' });
    assert.equal(sent?.headers.authorization, 'Bearer xai-test-key');
    const content = await client.request('GET', `/v1/videos/${done.id}/content`);
    assert.equal(content.status, 200);
    const bytes = Buffer.from(await content.arrayBuffer());
    assert.ok(bytes.equals(fake.videoBytes), 'the file served is the file the upstream made');
    assert.equal(done.seconds, String(Math.round(probe(bytes).duration)), 'seconds is the probed length of what we serve');

    fake.expireLinks();
    const again = await client.request('GET', `/v1/videos/${done.id}/content`);
    assert.equal(again.status, 200, 'our copy outlives the upstream link');
    assert.ok(Buffer.from(await again.arrayBuffer()).equals(fake.videoBytes));
  });

  test('GET /v1/models says which channel serves a model and never shows its key', async () => {
    const { body } = await client.json('GET', '/v1/models');
    const grok = body.data.find((m: { id: string }) => m.id === 'grok-imagine');
    assert.equal(grok.served_by, 'upstream');
    assert.deepEqual(grok.channels, ['xai']);
    const vidu = body.data.find((m: { id: string }) => m.id === 'viduq3p-720p');
    assert.equal(vidu.served_by, 'local-preview');
    assert.ok(!JSON.stringify(body).includes('xai-test-key'));
    assert.ok(!gateway.logs.some((line) => line.includes('xai-test-key')), 'the key never reaches the log');
  });
});
