import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../src/store/schema.ts';
import { pngDataUri, probe } from './support/media.ts';
import { ADMIN_KEY, Client, newClient, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { databaseEnv, gatewayDatabase, TEST_STORE } from './support/database.ts';
import { retryUntil, waitUntil } from './support/wait.ts';

/**
 * A crash at any moment loses no task: kill -9 in the middle of rendering, start again on
 * the same DATA_DIR, and every task still completes exactly as asked.
 */
const run = promisify(execFile);
let gateway: RunningGateway | undefined;
after(async () => {
  await gateway?.stop('SIGKILL');
  if (gateway) removeDataDir(gateway.dataDir);
});

const env = { LEASE_SECONDS: '2', RENDER_CONCURRENCY: '1', RUNNER_CONCURRENCY: '2' };

async function statuses(client: Client, ids: string[]) {
  return Promise.all(ids.map(async (id) => (await client.json('GET', `/v1/videos/${id}`)).body));
}

test('kill -9 mid-render, restart: every task completes once, with the right video, and is billed once', async () => {
  gateway = await startGateway(env);
  // A metered key: the kill lands between each task's hold and its capture.
  const opening = 10_000_000;
  const created = await fetch(`${gateway.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'metered', balance: opening }),
  });
  const { key, id: keyId } = (await created.json()) as { key: string; id: string };
  const client = new Client(gateway.url, key);
  const ids: string[] = [];
  // Longer clips than elsewhere, so that the kill surely lands mid-render.
  for (const seconds of [8, 6, 6]) {
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: `restart ${seconds}`, duration: seconds, size: '720p' });
    ids.push(body.id);
  }
  // Wait until the first render is under way, then pull the plug.
  await waitUntil(async () => (await statuses(client, ids)).some((t) => t.status === 'in_progress'), 'a render to start', 30_000, 50);
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

  // grok-imagine at 720p: 70,000 micro-dollars a second, 20 s in all; each hold captured once.
  assert.equal((await again.json('GET', '/v1/balance')).body.balance, opening - 20 * 70_000);
  const ledger = await fetch(`${gateway.url}/admin/keys/${keyId}/ledger`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const kinds = ((await ledger.json()) as { data: { kind: string }[] }).data.map((entry) => entry.kind).sort();
  assert.deepEqual(kinds, ['capture', 'capture', 'capture', 'hold', 'hold', 'hold', 'topup']);
  const check = await run(process.execPath, ['bin/vidgate.js', 'ledger', 'check'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir, ...databaseEnv(dataDir) } });
  assert.equal(check.stdout, 'ledger ok\n');
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

/** Gateways of the tests below, each on its own DATA_DIR. */
const started: RunningGateway[] = [];
after(async () => {
  for (const one of started) await one.stop('SIGKILL');
  for (const dir of new Set(started.map((one) => one.dataDir))) removeDataDir(dir);
});
async function startOwn(env: Record<string, string>, dataDir?: string): Promise<RunningGateway> {
  const one = await startGateway(env, dataDir);
  started.push(one);
  return one;
}

/** The ffmpeg processes a gateway process runs for one task. */
function rendersOf(one: RunningGateway, taskId: string): number[] {
  return execFileSync('ps', ['-eo', 'pid=,ppid=,args='])
    .toString()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((match) => match !== null && Number(match[2]) === one.process.pid && match[3]!.includes('ffmpeg') && match[3]!.includes(taskId))
    .map((match) => Number(match![1]));
}

test('a task that keeps killing its worker ends failed (worker_crashed); SIGTERM stops do not count, nor does waiting behind it', async () => {
  const crashEnv = { LEASE_SECONDS: '2', RENDER_CONCURRENCY: '1' };
  let current = await startOwn(crashEnv);
  const client = await newClient(current);
  // Stands for a task whose input brings the process down: each run of it ends with the worker gone.
  const { body: poison } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'poison', duration: 15, size: '480p' });
  // Claimed alongside it at every start, but waiting for the render slot when the worker dies.
  const { body: bystander } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'bystander', duration: 2, size: '480p' });

  // Three crashes count; the SIGTERM between them hands the task back and does not.
  for (const signal of ['SIGKILL', 'SIGKILL', 'SIGTERM', 'SIGKILL'] as const) {
    const renders = await retryUntil(() => rendersOf(current, poison.id), (pids) => pids.length > 0, `the poison task rendering again before the ${signal}`, 30_000, 100);
    await current.stop(signal);
    // A killed worker leaves its ffmpeg behind; it is ours to end.
    for (const pid of renders) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone (the SIGTERM stop ends its renders).
      }
    }
    current = await startOwn(crashEnv, current.dataDir);
  }
  const again = new Client(current.url, client.key);
  const failed = await again.waitFor(poison.id, 60_000);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'worker_crashed');
  assert.match(failed.error.message, /3 times/);
  assert.ok(current.logs.some((line) => line.includes('worker_crashed')), 'the log tells the operator');
  assert.equal((await again.waitFor(bystander.id, 60_000)).status, 'completed', 'the task waiting behind it is not blamed');
});

/** Works on a stopped gateway's database directly, to leave it as a crash (or an older version) would. */
async function withDatabase(dataDir: string, work: (db: Kysely<Database>) => Promise<void>): Promise<void> {
  const db = gatewayDatabase(dataDir);
  try {
    await work(db);
  } finally {
    await db.destroy();
  }
}

test('an Idempotency-Key claimed by a create that crashed before its task was saved does not block the retry', async () => {
  const first = await startOwn({ ROLE: 'api' });
  const client = await newClient(first);
  const request = { model: 'grok-imagine', prompt: 'crashed create', duration: 2, size: '480p' };
  const headers = { 'idempotency-key': 'crashed-create' };
  const { body: lost } = await client.json('POST', '/v1/videos', request, headers);
  await first.stop();
  // Older versions claimed the key, then saved the task: a crash between the two left this.
  await withDatabase(first.dataDir, async (db) => {
    await db.deleteFrom('tasks').where('id', '=', lost.id).execute();
    assert.ok(await db.selectFrom('idempotency_keys').select('task_id').where('task_id', '=', lost.id).executeTakeFirst(), 'the claim stays');
  });

  const second = await startOwn({ ROLE: 'api' }, first.dataDir);
  const again = new Client(second.url, client.key);
  const retried = await again.json('POST', '/v1/videos', request, headers);
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  assert.notEqual(retried.body.id, lost.id);
  assert.equal((await again.json('POST', '/v1/videos', request, headers)).body.id, retried.body.id, 'the key now answers the new task');
});

/** A task id as the service makes them, created `ageMs` ago. */
function taskIdFrom(ageMs: number): string {
  return `video_${(Date.now() - ageMs).toString(16).padStart(13, '0')}${randomBytes(10).toString('hex').slice(0, 19)}`;
}

test('inputs left by a create that crashed before its task was saved are swept; inputs of tasks, and of creates in flight, stay', async () => {
  // The folder is arranged by hand, so this runs on the local folder whatever the run's storage
  // (S3_BUCKET empty); listing a bucket's children is storage.test's.
  const local = { S3_BUCKET: '' };
  const api = await startOwn({ ROLE: 'api', ...local });
  const client = await newClient(api);
  const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'kept', image: pngDataUri(64, 48), duration: 1, size: '480p' });
  await client.json('POST', `/v1/videos/${body.id}/cancel`);
  await api.stop();

  const inputs = path.join(api.dataDir, 'files', 'inputs');
  const oldTask = taskIdFrom(60 * 60_000);
  // An old task that still exists keeps its inputs (a cancelled one may still be remixed).
  await withDatabase(api.dataDir, async (db) => {
    await db.updateTable('tasks').set({ id: oldTask }).where('id', '=', body.id).execute();
  });
  renameSync(path.join(inputs, body.id), path.join(inputs, oldTask));
  const orphan = taskIdFrom(20 * 60_000);
  const inFlight = taskIdFrom(60_000);
  for (const id of [orphan, inFlight, 'not-a-task-id']) {
    mkdirSync(path.join(inputs, id), { recursive: true });
    writeFileSync(path.join(inputs, id, '0.png'), 'x');
  }

  await startOwn({ ROLE: 'worker', ...local }, api.dataDir);
  await waitUntil(() => !existsSync(path.join(inputs, orphan)), 'the orphan inputs removed when a runner starts', 15_000, 100);
  assert.ok(existsSync(path.join(inputs, oldTask, '0.png')), "an existing task's inputs stay");
  assert.ok(existsSync(path.join(inputs, inFlight)), 'inputs younger than ten minutes may belong to a create in flight');
  assert.ok(existsSync(path.join(inputs, 'not-a-task-id')), 'what is not named like a task is not ours to remove');
});

// The crash is set off by a SQLite trigger (crash-in-settle.mjs); on PostgreSQL the server rolls back
// the transaction of a connection that dies, which is PostgreSQL's own guarantee, not ours to test.
test('kill -9 in the middle of settling (after the state, the capture or the usage line) keeps none of it; the restart settles once', { skip: TEST_STORE === 'postgres' && 'a SQLite trigger sets the crash off' }, async () => {
  const preload = path.join(ROOT, 'test/support/crash-in-settle.mjs');
  const opening = 1_000_000;
  // allSettled: a failing point must not end the test while the others still start gateways.
  const outcomes = await Promise.allSettled(
    (['state', 'capture', 'charge'] as const).map(async (point) => {
      const first = await startOwn({ ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`, CRASH_IN_SETTLE: point });
      const created = await fetch(`${first.url}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `crash at ${point}`, balance: opening }),
      });
      const { key, id: keyId } = (await created.json()) as { key: string; id: string };
      // grok-imagine at 480p: 50,000 micro-dollars a second.
      const { body: task } = await new Client(first.url, key).json('POST', '/v1/videos', { model: 'grok-imagine', prompt: `crash at ${point}`, duration: 2, size: '480p' });
      assert.equal(task.billing.price, 100_000);
      // The render finishes and its settle kills the process before the commit.
      if (first.process.exitCode === null && first.process.signalCode === null) await new Promise((resolve) => first.process.once('exit', resolve));
      assert.equal(first.process.signalCode, 'SIGKILL', `${point}: the gateway died in its settle`);

      await withDatabase(first.dataDir, async (db) => {
        const row = await db.selectFrom('tasks').select(['status', 'cost']).where('id', '=', task.id).executeTakeFirstOrThrow();
        assert.equal(row.status, 'in_progress', `${point}: the task did not end`);
        const entries = await db.selectFrom('ledger').select('kind').where('key_id', '=', keyId).orderBy('id').execute();
        assert.deepEqual(entries.map((entry) => entry.kind), ['topup', 'hold'], `${point}: only the hold stays`);
        assert.equal((await db.selectFrom('charges').select('task_id').execute()).length, 0, `${point}: no usage line`);
        const balance = await db.selectFrom('api_keys').select('balance').where('id', '=', keyId).executeTakeFirstOrThrow();
        assert.equal(balance.balance, opening - 100_000);
      });

      const second = await startOwn(env, first.dataDir);
      const client = new Client(second.url, key);
      const done = await client.waitFor(task.id, 60_000);
      assert.equal(done.status, 'completed', `${point}: ${JSON.stringify(done.error)}`);
      assert.equal(done.billing.cost, 100_000);
      assert.equal((await client.json('GET', '/v1/balance')).body.balance, opening - 100_000);
      const ledger = await fetch(`${second.url}/admin/keys/${keyId}/ledger`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.deepEqual(((await ledger.json()) as { data: { kind: string }[] }).data.map((entry) => entry.kind), ['topup', 'hold', 'capture']);
      const usage = await client.json('GET', '/v1/usage');
      assert.deepEqual(usage.body.data, [{ group: 'grok-imagine', tasks: 1, completed: 1, spend: 100_000 }], `${point}: one usage line`);
      const check = await run(process.execPath, ['bin/vidgate.js', 'ledger', 'check'], { cwd: ROOT, env: { ...process.env, DATA_DIR: first.dataDir, ...databaseEnv(first.dataDir) } });
      assert.equal(check.stdout, 'ledger ok\n');
    }),
  );
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
});
