import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { type FakeXai, startFakeXai } from './fakes/xai.ts';
import { databaseEnv } from './support/database.ts';
import { ADMIN_KEY, Client, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { storedKeys } from './support/s3.ts';
import { xaiChannel } from './support/upstream-kit.ts';

/**
 * Many processes on one database (and one folder of files): 2 api and 2 worker processes,
 * 200 tasks through both api processes, and one worker and one api process killed with
 * kill -9 half-way. Every task that was taken ends, none is sent upstream twice, each
 * completed video is kept, and the books balance.
 */
const run = promisify(execFile);
const TASKS = 200;
const CONNECTIONS = 4;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
const started: RunningGateway[] = [];
let fake: FakeXai;

after(async () => {
  await Promise.all(started.map((gateway) => gateway.stop('SIGKILL')));
  removeDataDir(dataDir);
  await fake?.close();
});

test('2 api and 2 worker processes, one of each killed mid-way: every task taken ends once, none sent twice, the ledger holds', async () => {
  fake = await startFakeXai({ completeAfterMs: 800 });
  const env = {
    // Few connections, so that most of a worker's submits wait for one when it dies.
    CHANNELS: JSON.stringify([xaiChannel('xai', fake, { models: ['grok-video-1.5'], max_concurrent: CONNECTIONS })]),
    ALLOWED_PRIVATE_HOSTS: fake.hostPort,
    // A dead worker's tasks are taken over once its leases run out.
    LEASE_SECONDS: '2',
    // 200 videos: stills (tested in stills.test.ts) would only slow what this proves.
    STILLS_ON_KEEP: '0',
  };
  const start = async (role: string) => {
    const gateway = await startGateway({ ...env, ROLE: role }, dataDir);
    started.push(gateway);
    return gateway;
  };
  const [api1, api2] = [await start('api'), await start('api')];
  const [worker1] = [await start('worker'), await start('worker')];

  const opening = 100_000_000;
  const made = await fetch(`${api1!.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'many', balance: opening }),
  });
  const { key } = (await made.json()) as { key: string };
  const clients = [new Client(api1!.url, key), new Client(api2!.url, key)];

  // Ten at a time, alternating api processes; half-way, one worker and one api process die.
  const taken = new Set<string>();
  for (let batch = 0; batch < TASKS / 10; batch++) {
    if (batch === TASKS / 20) await Promise.all([worker1!.stop('SIGKILL'), api2!.stop('SIGKILL')]);
    const alive = batch < TASKS / 20 ? clients : [clients[0]!];
    await Promise.all(
      Array.from({ length: 10 }, async (_, index) => {
        const n = batch * 10 + index;
        const client = alive[n % alive.length]!;
        const answer = await client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: `many ${n}`, duration: 2, size: '480p' }).catch(() => null);
        if (answer?.status === 200) taken.add(answer.body.id as string);
      }),
    );
  }
  assert.ok(taken.size >= TASKS - 10, `at most one batch lost with the api process: ${taken.size} taken`);

  // Every task the database holds ends: those taken, and any whose answer died with its process.
  const client = clients[0]!;
  const all = async () => {
    const tasks: Record<string, any>[] = [];
    for (let after: string | null = null; ; ) {
      const { body }: { body: { data: Record<string, any>[]; has_more: boolean; last_id: string } } = await client.json('GET', `/v1/videos?limit=100&order=asc${after ? `&after=${after}` : ''}`);
      tasks.push(...body.data);
      if (!body.has_more) return tasks;
      after = body.last_id;
    }
  };
  const deadline = Date.now() + 120_000;
  let tasks = await all();
  while (tasks.some((task) => task.status === 'queued' || task.status === 'in_progress')) {
    assert.ok(Date.now() < deadline, `still unfinished: ${tasks.filter((task) => !['completed', 'failed'].includes(task.status)).length}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    tasks = await all();
  }
  for (const id of taken) assert.ok(tasks.some((task) => task.id === id), `taken task ${id} is there`);

  // Completed, with its video kept; or failed only where the kill cut off a submit on its way
  // (xAI takes no idempotency key, so it is never sent again): at most one per connection the
  // dead worker held. Its submits still waiting for a connection were never sent, and are retried.
  const failed = tasks.filter((task) => task.status !== 'completed');
  for (const task of failed) assert.equal(task.error?.code, 'submit_outcome_unknown', JSON.stringify(task));
  assert.ok(failed.length <= CONNECTIONS, `${failed.length} of ${tasks.length} failed; at most ${CONNECTIONS} were on their way`);
  const kept = new Set(await storedKeys(dataDir, 'videos'));
  for (const task of tasks.filter((one) => one.status === 'completed')) assert.ok(kept.has(`videos/${task.id}/video.mp4`), `${task.id}'s video is kept`);
  const sends = new Map<string, number>();
  for (const request of fake.requests.filter((one) => one.method === 'POST' && one.path.endsWith('/videos/generations'))) {
    const prompt = (request.body as { prompt: string }).prompt;
    sends.set(prompt, (sends.get(prompt) ?? 0) + 1);
  }
  for (const task of tasks) assert.ok((sends.get(task.prompt) ?? 0) <= 1, `${task.prompt} sent ${sends.get(task.prompt)} times`);
  assert.equal(tasks.filter((task) => task.status === 'completed').every((task) => sends.get(task.prompt) === 1), true);

  // The books: each completed task billed once, each failed one released.
  const billed = tasks.reduce((sum, task) => sum + (task.billing.cost ?? 0), 0);
  assert.equal((await client.json('GET', '/v1/balance')).body.balance, opening - billed);
  const check = await run(process.execPath, ['bin/vidgate.js', 'ledger', 'check'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir, ...databaseEnv(dataDir) } });
  assert.equal(check.stdout, 'ledger ok\n');
});
