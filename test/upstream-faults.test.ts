import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';

/**
 * Every upstream fault of the issue ends well, over real HTTP against a spawned gateway and
 * the xAI fake: in a retry and then completion, or in a clear error code on the task; never
 * a crash, a stuck task or a lost one. Tests run one at a time, so a fault queued for the
 * next request of a route meets the test's own task.
 */
let fake: FakeUpstream;
let gateway: RunningGateway;
let client: Client;
const READ_TIMEOUT_MS = 1500;

function env(): Record<string, string> {
  const channel = { name: 'xai', type: 'xai', base_url: fake.url, keys: ['xai-test-key'], read_timeout_ms: READ_TIMEOUT_MS };
  return { CHANNELS: JSON.stringify([channel]), ALLOWED_PRIVATE_HOSTS: fake.hostPort };
}

before(async () => {
  fake = await startFakeXai({ completeAfterMs: 300 });
  gateway = await startGateway(env());
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await fake.close();
});

const creates = () => fake.requests.filter((request) => request.method === 'POST').length;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- task objects are read field by field
async function run(prompt: string): Promise<Record<string, any>> {
  const created = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt, duration: 2, size: '480p' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return client.waitFor(created.body.id, 45_000);
}

async function assertServesTheUpstreamVideo(id: string, one: Client = client): Promise<void> {
  const response = await one.request('GET', `/v1/videos/${id}/content`);
  assert.equal(response.status, 200);
  assert.ok(Buffer.from(await response.arrayBuffer()).equals(fake.videoBytes), 'the bytes the upstream made');
}

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('on submit', () => {
  for (const [name, fault] of [
    ['a 500', { status: 500 }],
    ['a timeout', 'hang'],
    ['malformed JSON', 'malformed-json'],
  ] as const) {
    test(`${name}: the outcome is unknown, so the task fails submit_outcome_unknown and is never sent twice`, async () => {
      const before = creates();
      fake.fault('create', fault);
      const task = await run(`submit fault: ${name}`);
      assert.equal(task.status, 'failed');
      assert.equal(task.error.code, 'submit_outcome_unknown');
      assert.equal(creates() - before, 1, 'one submission only');
    });
  }

  test('a 429 with Retry-After made nothing: the submit is tried again and the task completes', async () => {
    const before = creates();
    fake.fault('create', { status: 429, retryAfter: 1 });
    const task = await run('submit fault: 429');
    assert.equal(task.status, 'completed', JSON.stringify(task.error));
    assert.equal(creates() - before, 2);
    await assertServesTheUpstreamVideo(task.id!);
  });
});

describe('on check', () => {
  for (const [name, fault, times] of [
    ['5xx twice', { status: 503 }, 2],
    ['a timeout', 'hang', 1],
    ['malformed JSON', 'malformed-json', 1],
    ['a dropped connection', 'reset', 1],
  ] as const) {
    test(`${name}: looked at again later, and the task completes`, async () => {
      fake.fault('check', fault, times);
      const task = await run(`check fault: ${name}`);
      assert.equal(task.status, 'completed', JSON.stringify(task.error));
      await assertServesTheUpstreamVideo(task.id!);
    });
  }

  test('404 for a task the upstream accepted: failed upstream_task_lost', async () => {
    fake.fault('check', 'not-found');
    const task = await run('check fault: lost');
    assert.equal(task.status, 'failed');
    assert.equal(task.error.code, 'upstream_task_lost');
  });

  test('429 with Retry-After: the task is not checked again before it', async () => {
    fake.fault('check', { status: 429, retryAfter: 4 });
    const created = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'check fault: 429', duration: 2, size: '480p' });
    const gets = () => fake.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/v1/videos/')).length;
    const seen = gets();
    await until('the first check comes (and meets the 429)', () => gets() > seen);
    const refusedAt = Date.now();
    const done = await client.waitFor(created.body.id, 30_000);
    assert.equal(done.status, 'completed');
    const upstream = [...fake.tasks.values()].find((task) => task.body.prompt === 'check fault: 429')!;
    assert.ok(upstream.lastCheckAt! - refusedAt >= 3_900, `checked again ${upstream.lastCheckAt! - refusedAt} ms after a Retry-After of 4 s`);
  });
});

describe('on download', () => {
  for (const fault of ['truncated', 'not-video'] as const) {
    test(`${fault} once: copied again, and the task completes with the right bytes`, async () => {
      fake.fault('download', fault);
      const task = await run(`download fault: ${fault}`);
      assert.equal(task.status, 'completed', JSON.stringify(task.error));
      await assertServesTheUpstreamVideo(task.id!);
    });
  }

  test('a result link that redirects to a private address: failed result_unavailable', async () => {
    fake.fault('download', 'redirect-private');
    const task = await run('download fault: private');
    assert.equal(task.status, 'failed');
    assert.equal(task.error.code, 'result_unavailable');
  });

  test('the gateway is still up and answering after all of it', async () => {
    assert.equal(gateway.process.exitCode, null);
    assert.equal((await client.json('GET', '/v1/models')).status, 200);
  });
});

/** Files under a folder, as paths relative to it. */
function walk(root: string, folder = root): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    return entry.isDirectory() ? walk(root, full) : [path.relative(root, full)];
  });
}

describe('killed at the worst moments', () => {
  test('between the upstream accepting and our commit: not sent again; failed submit_outcome_unknown; the operator is told', async () => {
    const first = await startGateway({ ...env(), LEASE_SECONDS: '2' });
    const own = await newClient(first);
    const before = creates();
    fake.fault('create', 'hang');
    const created = await own.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'killed while submitting', duration: 2, size: '480p' });
    await until('the submit reaches the upstream', () => creates() > before);
    await first.stop('SIGKILL');
    const second = await startGateway({ ...env(), LEASE_SECONDS: '2' }, first.dataDir);
    try {
      const task = await new (own.constructor as typeof Client)(second.url, own.key).waitFor(created.body.id, 30_000);
      assert.equal(task.status, 'failed');
      assert.equal(task.error.code, 'submit_outcome_unknown');
      assert.equal(creates() - before, 1, 'never submitted twice');
      const told = second.logs.map((line) => JSON.parse(line) as { level: number; task?: string }).find((entry) => entry.task === created.body.id && entry.level >= 50);
      assert.ok(told, 'an error line names the task');
    } finally {
      await second.stop();
      removeDataDir(first.dataDir);
    }
  });

  test('while copying the result: a restart copies it again; no partial file is left', async () => {
    const first = await startGateway({ ...env(), LEASE_SECONDS: '2' });
    const own = await newClient(first);
    fake.fault('download', 'hang');
    const created = await own.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'killed while copying', duration: 2, size: '480p' });
    const downloads = () => fake.requests.filter((request) => request.path.startsWith('/files/')).length;
    const seen = downloads();
    await until('the copy begins', () => downloads() > seen);
    await first.stop('SIGKILL');
    const second = await startGateway({ ...env(), LEASE_SECONDS: '2' }, first.dataDir);
    try {
      const again = new (own.constructor as typeof Client)(second.url, own.key);
      const task = await again.waitFor(created.body.id, 30_000);
      assert.equal(task.status, 'completed', JSON.stringify(task.error));
      await assertServesTheUpstreamVideo(task.id!, again);
      const files = walk(first.dataDir).filter((file) => !/^(vidgate\.db(-wal|-shm)?|admin\.key)$/.test(file));
      assert.deepEqual(files.filter((file) => file.includes('.part') || !file.startsWith('files/')), [], 'nothing but kept files (and the live scratch, which holds no file)');
    } finally {
      await second.stop();
      removeDataDir(first.dataDir);
    }
  });
});
