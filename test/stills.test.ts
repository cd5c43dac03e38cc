import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { probe } from './support/media.ts';
import { storedKeys } from './support/s3.ts';

/** Where a video's thumbnail and spritesheet are made: by the worker as it keeps the video, or on first request. */
const running: RunningGateway[] = [];
after(async () => {
  await Promise.all(running.map((gateway) => gateway.stop()));
  for (const dir of new Set(running.map((gateway) => gateway.dataDir))) removeDataDir(dir);
});

async function start(env: Record<string, string>, dataDir?: string) {
  const gateway = await startGateway(env, dataDir);
  running.push(gateway);
  return gateway;
}

const files = (id: string, names: string[]) => names.map((name) => `videos/${id}/${name}`);

test('the worker makes the stills as it keeps the video: they are stored before anyone asks, and served by the api process as stored', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  const api = await start({ ROLE: 'api' }, dataDir);
  await start({ ROLE: 'worker' }, dataDir);
  const client = await newClient(api);
  const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'stills at keep time', duration: 2, size: '480p' });
  assert.equal((await client.waitFor(body.id)).status, 'completed');
  assert.deepEqual(await storedKeys(dataDir, `videos/${body.id}`), files(body.id, ['spritesheet.jpg', 'thumbnail.webp', 'video.mp4']));
  const sheet = await client.request('GET', `/v1/videos/${body.id}/content?variant=spritesheet`);
  assert.equal(sheet.status, 200);
  const info = probe(Buffer.from(await sheet.arrayBuffer()));
  assert.deepEqual([info.width, info.height], [5 * 160, 2 * 90]);
});

test('with STILLS_ON_KEEP=0 only the video is kept, and a still is made when first asked for', async () => {
  const gateway = await start({ STILLS_ON_KEEP: '0' });
  const client = await newClient(gateway);
  const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'stills on request', duration: 1, size: '480p' });
  assert.equal((await client.waitFor(body.id)).status, 'completed');
  assert.deepEqual(await storedKeys(gateway.dataDir, `videos/${body.id}`), files(body.id, ['video.mp4']));
  const thumbnail = await client.request('GET', `/v1/videos/${body.id}/content?variant=thumbnail`);
  assert.equal(thumbnail.status, 200);
  assert.equal(Buffer.from(await thumbnail.arrayBuffer()).subarray(8, 12).toString(), 'WEBP');
  assert.deepEqual(await storedKeys(gateway.dataDir, `videos/${body.id}`), files(body.id, ['thumbnail.webp', 'video.mp4']));
});
