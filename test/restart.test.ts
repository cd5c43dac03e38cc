import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { probe } from './support/media.ts';
import { Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';

/**
 * A crash at any moment loses no task: kill -9 in the middle of rendering, start again on
 * the same DATA_DIR, and every task still completes exactly as asked.
 */
let gateway: RunningGateway | undefined;
after(async () => {
  await gateway?.stop('SIGKILL');
  if (gateway) removeDataDir(gateway.dataDir);
});

const env = { LEASE_SECONDS: '2', RENDER_CONCURRENCY: '1', RUNNER_CONCURRENCY: '2' };

async function statuses(client: Client, ids: string[]) {
  return Promise.all(ids.map(async (id) => (await client.json('GET', `/v1/videos/${id}`)).body));
}

test('kill -9 mid-render, restart: every task completes once, with the right video', async () => {
  gateway = await startGateway(env);
  const client = await newClient(gateway);
  const ids: string[] = [];
  // Longer clips than elsewhere, so that the kill surely lands mid-render.
  for (const seconds of [8, 6, 6]) {
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: `restart ${seconds}`, duration: seconds, size: '720p' });
    ids.push(body.id);
  }
  // Wait until the first render is under way, then pull the plug.
  const deadline = Date.now() + 30_000;
  while (!(await statuses(client, ids)).some((t) => t.status === 'in_progress')) {
    assert.ok(Date.now() < deadline, 'a render should start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await gateway.stop('SIGKILL');
  const dataDir = gateway.dataDir;

  gateway = await startGateway(env, dataDir);
  const again = new Client(gateway.url, client.key);
  const expected = [8, 6, 6];
  for (const [index, id] of ids.entries()) {
    const task = await again.waitFor(id, 90_000);
    assert.equal(task.status, 'completed', JSON.stringify(task.error));
    const response = await again.request('GET', `/v1/videos/${id}/content`);
    const info = probe(Buffer.from(await response.arrayBuffer()));
    assert.ok(Math.abs(info.duration - expected[index]!) <= 0.1);
    assert.equal(info.width, 1280);
  }
  const { body } = await again.json('GET', '/v1/videos?limit=10');
  assert.equal(body.data.length, 3, 'no task lost, none duplicated');
});

test('SIGTERM hands running tasks back, so a restart resumes them at once', async () => {
  const dataDir = gateway!.dataDir;
  const client = await newClient(gateway!);
  const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'graceful', duration: 3, size: '480p' });
  while ((await client.json('GET', `/v1/videos/${body.id}`)).body.status === 'queued') await new Promise((resolve) => setTimeout(resolve, 50));
  await gateway!.stop('SIGTERM');
  assert.equal(gateway!.process.exitCode, 0);
  gateway = await startGateway({ ...env, LEASE_SECONDS: '600' }, dataDir);
  // With a 10-minute lease, only a released task can be picked up within the wait below.
  const task = await new Client(gateway.url, client.key).waitFor(body.id, 60_000);
  assert.equal(task.status, 'completed');
});
