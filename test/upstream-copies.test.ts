import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { contentOf, createTask, downloadsOf, fakeTasksFor, walkFiles, xaiChannel } from './support/upstream-kit.ts';
import { waitUntil } from './support/wait.ts';

/**
 * A finished result is copied in a pool of its own: a copy that takes long (a slow or stuck
 * download) does not keep the runner from submitting and checking other tasks. One upstream
 * step at a time (UPSTREAM_CONCURRENCY=1) makes it plain: were the copy still part of the
 * check that found the video done, nothing else would move until it ended.
 */
let fake: FakeUpstream;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  fake = await startFakeXai({ completeAfterMs: 100 });
  gateway = await startGateway({ CHANNELS: JSON.stringify([xaiChannel('x', fake)]), UPSTREAM_CONCURRENCY: '1', COPY_CONCURRENCY: '2' });
  client = await newClient(gateway);
});

after(async () => {
  await gateway?.stop();
  if (gateway) removeDataDir(gateway.dataDir);
  await fake?.close();
});

test('while one result download hangs, a later task is submitted, checked, copied and completed; cancel ends the stuck copy', async () => {
  fake.fault('download', 'hang');
  const stuck = await createTask(client, { model: 'grok-imagine', prompt: 'a download that hangs' });
  await waitUntil(() => downloadsOf(fake, fakeTasksFor(fake, 'a download that hangs')[0]?.id ?? '').length === 1, 'the hung download to begin');

  const later = await createTask(client, { model: 'grok-imagine', prompt: 'a task after it' });
  const task = await client.waitFor(later, 20_000);
  assert.equal(task.status, 'completed', JSON.stringify(task));
  assert.ok((await contentOf(client, later)).bytes.equals(fake.videoBytes));
  assert.equal((await client.json('GET', `/v1/videos/${stuck}`)).body.status, 'in_progress', 'the stuck copy is still under way');

  const cancelled = await client.json('POST', `/v1/videos/${stuck}/cancel`);
  assert.equal(cancelled.body.status, 'cancelled');
  // The copy is abandoned at once: its scratch folder goes, and no file of it is kept.
  await waitUntil(() => !walkFiles(gateway.dataDir).some((file) => file.includes(stuck)), 'no file of the cancelled task', 5000);
});
