import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { ADMIN_KEY, type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { checksOf, contentOf, createTask, createsFor, fakeTasksFor, logEntries, xaiChannel } from './support/upstream-kit.ts';
import { sleep, waitUntil } from './support/wait.ts';

/**
 * Several xAI channels in one gateway, each on its own fake (CHANNELS JSON with names, keys,
 * base_url, priority): failover, key rotation, the circuit breaker, cancel, and keys that
 * never show. Each group uses its own models, so the groups run side by side.
 *
 *   grok-imagine        a (priority 2) → b (priority 1)        failover, keys in upstream errors
 *   grok-imagine-video  closed (priority 2, its fake shut) → b  connection refused
 *   grok-video-3        flaky (priority 2) → b                 breaker
 *   grok-video-1.5      rotating (two keys)                    key rotation, cancel
 *   grok-video-3-pro    primary (priority 2) → backup (1)      a backup's breaker after its rest
 *   grok-video-3-max    backup only                            (makes the backup rest)
 */

const KEYS = {
  a: 'xai-a-SECRET-a1b2c3d4',
  b: 'xai-b-SECRET-e5f6a7b8',
  closed: 'xai-closed-SECRET-c9d0',
  flaky: 'xai-flaky-SECRET-11aa',
  rotating: ['xai-rot1-SECRET-22bb', 'xai-rot2-SECRET-33cc'],
  primary: 'xai-primary-SECRET-44dd',
  backup: 'xai-backup-SECRET-55ee',
};
const ALL_KEYS = [KEYS.a, KEYS.b, KEYS.closed, KEYS.flaky, ...KEYS.rotating, KEYS.primary, KEYS.backup];

let a: FakeUpstream;
let b: FakeUpstream;
let closed: FakeUpstream;
let flaky: FakeUpstream;
let rotating: FakeUpstream;
let primary: FakeUpstream;
let backup: FakeUpstream;
let gateway: RunningGateway;
let client: Client;
/** Every task made here: each must end, and none may show a key. */
const made: string[] = [];

/** `#long` in a prompt keeps the task pending for a minute (cancel tests); others finish at once. */
const completeAfterMs = (body: Record<string, unknown>) => (String(body.prompt).includes('#long') ? 60_000 : 100);

before(async () => {
  [a, b, closed, flaky, rotating, primary, backup] = await Promise.all([
    startFakeXai({ completeAfterMs, keys: [KEYS.a] }),
    startFakeXai({ completeAfterMs, keys: [KEYS.b] }),
    startFakeXai({ completeAfterMs, keys: [KEYS.closed] }),
    startFakeXai({ completeAfterMs, keys: [KEYS.flaky] }),
    startFakeXai({ completeAfterMs, keys: KEYS.rotating }),
    startFakeXai({ completeAfterMs, keys: [KEYS.primary] }),
    startFakeXai({ completeAfterMs, keys: [KEYS.backup] }),
  ]);
  const channels = [
    xaiChannel('a', a, { keys: [KEYS.a], priority: 2, models: ['grok-imagine'] }),
    xaiChannel('closed', closed, { keys: [KEYS.closed], priority: 2, models: ['grok-imagine-video'] }),
    xaiChannel('flaky', flaky, { keys: [KEYS.flaky], priority: 2, models: ['grok-video-3'] }),
    xaiChannel('b', b, { keys: [KEYS.b], priority: 1, models: ['grok-imagine', 'grok-imagine-video', 'grok-video-3'] }),
    xaiChannel('rotating', rotating, { keys: KEYS.rotating, models: ['grok-video-1.5'] }),
    xaiChannel('primary', primary, { keys: [KEYS.primary], priority: 2, models: ['grok-video-3-pro'] }),
    xaiChannel('backup', backup, { keys: [KEYS.backup], priority: 1, models: ['grok-video-3-pro', 'grok-video-3-max'] }),
  ];
  // debug: one log line per request too, which must not carry a key either.
  gateway = await startGateway({ CHANNELS: JSON.stringify(channels), LOG_LEVEL: 'debug' });
  client = await newClient(gateway);
});

after(async () => {
  await gateway?.stop();
  if (gateway) removeDataDir(gateway.dataDir);
  await Promise.all([a, b, closed, flaky, rotating, primary, backup].map((fake) => fake?.close()));
});

let counter = 0;
const promptFor = (what: string) => `${what} ${++counter}`;

async function make(body: Record<string, unknown>): Promise<string> {
  const id = await createTask(client, body);
  made.push(id);
  return id;
}

const bearer = (key: string) => `Bearer ${key}`;

describe('channels', { concurrency: true }, () => {
  describe('failover', { concurrency: false }, () => {
    test('a healthy first channel takes the task (priority 2 before 1)', async () => {
      const id = await make({ model: 'grok-imagine', prompt: promptFor('healthy') });
      const task = await client.waitFor(id, 20_000);
      assert.equal(task.status, 'completed', JSON.stringify(task));
      assert.equal(createsFor(a, id).length, 1);
      assert.equal(createsFor(b, id).length, 0);
    });

    for (const [status, what] of [
      [429, 'asks us to slow down (429)'],
      [401, 'refuses its key (401)'],
    ] as const) {
      test(`when the first channel ${what}, the task is created on the second and completes`, async () => {
        a.fault('create', { status });
        const prompt = promptFor(`failover ${status}`);
        const id = await make({ model: 'grok-imagine', prompt });
        const task = await client.waitFor(id, 20_000);
        assert.equal(task.status, 'completed', JSON.stringify(task));
        assert.equal(createsFor(a, id).length, 1, 'the first channel was asked once');
        assert.equal(createsFor(b, id).length, 1, 'the second took it at once');
        assert.equal(createsFor(b, id)[0]!.headers.authorization, bearer(KEYS.b), "the second channel's own key");
        assert.equal(fakeTasksFor(b, prompt).length, 1);
        assert.ok(checksOf(b, fakeTasksFor(b, prompt)[0]!.id).length >= 1, 'tracked on the channel that made it');
        assert.ok((await contentOf(client, id)).bytes.equals(b.videoBytes));
      });
    }

    // Upstreams that echo the key back: the task, its error and the log must not repeat it.
    test('an upstream that echoes our key in its errors: the key shows nowhere (task, error, log)', async () => {
      const echo = `{"error":"request with key ${KEYS.a} refused"}`;
      // A check error first (the submit succeeds, resetting the breaker), then three failed submits.
      a.fault('check', { status: 503, body: echo });
      const checked = await make({ model: 'grok-imagine', prompt: promptFor('echo on check') });
      assert.equal((await client.waitFor(checked, 20_000)).status, 'completed');

      a.fault('create', { status: 500, body: echo });
      const unknown = await make({ model: 'grok-imagine', prompt: promptFor('echo on 500') });
      assert.equal((await client.waitFor(unknown, 20_000)).error?.code, 'submit_outcome_unknown');

      a.fault('create', { status: 200, body: `not json, but your key: ${KEYS.a}` });
      const garbled = await make({ model: 'grok-imagine', prompt: promptFor('echo on 200') });
      assert.equal((await client.waitFor(garbled, 20_000)).error?.code, 'submit_outcome_unknown');

      a.fault('create', { status: 400, body: echo });
      const rejected = await make({ model: 'grok-imagine', prompt: promptFor('echo on 400') });
      const task = await client.waitFor(rejected, 20_000);
      assert.equal(task.error?.code, 'upstream_rejected');

      // The upstream's words reach the log, without the key.
      const lines = gateway.logs.filter((line) => line.includes('[key]'));
      assert.ok(lines.length >= 1, 'the echoed answers are logged with the key blanked out');
      for (const id of [checked, unknown, garbled, rejected]) {
        const body = JSON.stringify((await client.json('GET', `/v1/videos/${id}`)).body);
        for (const key of ALL_KEYS) assert.ok(!body.includes(key), `task ${id} shows a key: ${body}`);
      }
      for (const key of ALL_KEYS) assert.ok(!gateway.logs.some((line) => line.includes(key)), 'no log line carries a key');
    });
  });

  test('when the first channel cannot be reached (its server is gone: connection refused), the task is created on the second', async () => {
    await closed.close();
    const prompt = promptFor('refused connection');
    const id = await make({ model: 'grok-imagine-video', prompt });
    const task = await client.waitFor(id, 20_000);
    assert.equal(task.status, 'completed', JSON.stringify(task));
    assert.equal(createsFor(b, id).length, 1);
    assert.equal(fakeTasksFor(b, prompt).length, 1);
    const refusal = logEntries(gateway.logs).find((entry) => entry.task === id && entry.channel === 'closed' && entry.msg === 'channel refused the task');
    assert.ok(refusal, 'the closed channel was tried first, and refused');
  });

  test('circuit breaker: after the first channel failed 5 times in a row it gets no requests for a while; the second serves', async () => {
    // Far more refusals queued than the breaker lets through: a sixth call would use one.
    flaky.fault('create', { status: 429 }, 50);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const id = await make({ model: 'grok-video-3', prompt: promptFor('breaker trip') });
      await waitUntil(() => createsFor(b, id).length === 1, 'failed over to the second channel');
      assert.equal(createsFor(flaky, id).length, 1);
      ids.push(id);
    }
    assert.equal(flaky.requests.length, 5);
    for (let n = 0; n < 3; n++) {
      const id = await make({ model: 'grok-video-3', prompt: promptFor('breaker open') });
      await waitUntil(() => createsFor(b, id).length === 1, 'sent to the second channel');
      ids.push(id);
    }
    await sleep(2000);
    assert.equal(flaky.requests.length, 5, 'the resting channel got no request at all');
    // The operator sees it: breaker open, five failed calls, the reasons, newest first.
    const report = (await channelReport()).find((channel) => channel.name === 'flaky')!;
    assert.equal(report.breaker, 'open');
    assert.deepEqual([report.calls, report.errors, report.error_rate], [5, 5, 1]);
    assert.equal(report.last_errors.length, 5);
    assert.ok(report.last_errors.every((error: { message: string; at: number }) => error.message.length > 0 && error.at > 0));
    assert.deepEqual(report.models, ['grok-video-3']);
    for (const id of ids) assert.equal((await client.waitFor(id, 20_000)).status, 'completed');
  });

  test(
    'a backup channel whose rest is over takes the next task the primary refuses',
    async () => {
      // Rest the backup: five failed checks in a row, on tasks only it serves; cancelled before a later check could succeed.
      backup.fault('check', { status: 500 }, 5);
      const resting: string[] = [];
      for (let n = 0; n < 5; n++) resting.push(await make({ model: 'grok-video-3-max', duration: 15, prompt: promptFor('rest the backup #long') }));
      const backupChecks = () => backup.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/v1/videos/')).length;
      await waitUntil(() => backupChecks() >= 5, 'five failed checks on the backup', 15_000);
      const restStarted = Date.now();
      for (const id of resting) assert.equal((await client.json('POST', `/v1/videos/${id}/cancel`)).status, 200);
      assert.equal(backupChecks(), 5, 'no check succeeded after the five failures');

      // While it rests, the backup takes nothing: a refusal by the primary means a retry (on the primary) instead.
      primary.fault('create', { status: 429 });
      const whileResting = await make({ model: 'grok-video-3-pro', duration: 10, prompt: promptFor('while the backup rests') });
      assert.equal((await client.waitFor(whileResting, 20_000)).status, 'completed');
      assert.equal(createsFor(backup, whileResting).length, 0, 'the backup rests');
      assert.equal(createsFor(primary, whileResting).length, 2, 'refused, then retried on the primary');

      // The 30 s rest is over. A task the primary takes must not use up the backup's trial call.
      await sleep(Math.max(0, restStarted + 31_000 - Date.now()));
      const taken = await make({ model: 'grok-video-3-pro', duration: 10, prompt: promptFor('after the rest') });
      await waitUntil(() => createsFor(primary, taken).length === 1, 'the primary takes it');

      primary.fault('create', { status: 429 });
      const failover = await make({ model: 'grok-video-3-pro', duration: 10, prompt: promptFor('failover after the rest') });
      const task = await client.waitFor(failover, 20_000);
      assert.equal(task.status, 'completed', JSON.stringify(task));
      assert.equal(createsFor(backup, failover).length, 1, 'the primary refused: the rested backup takes the task at once');
      // Taken on its own schedule (first check 2 s after its submit): the last test of this file expects every task ended.
      assert.equal((await client.waitFor(taken, 20_000)).status, 'completed');
    },
  );

  describe('one channel, two keys', { concurrency: false }, () => {
    test('key rotation: creates alternate keys, and each task is checked with the key that made it', async () => {
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) {
        const id = await make({ model: 'grok-video-1.5', prompt: promptFor('rotation') });
        await waitUntil(() => createsFor(rotating, id).length === 1, 'submitted');
        ids.push(id);
      }
      const used = ids.map((id) => createsFor(rotating, id)[0]!.headers.authorization);
      assert.deepEqual(used, [bearer(KEYS.rotating[0]!), bearer(KEYS.rotating[1]!), bearer(KEYS.rotating[0]!), bearer(KEYS.rotating[1]!)]);
      for (const id of ids) assert.equal((await client.waitFor(id, 20_000)).status, 'completed');
      for (const task of rotating.tasks.values()) {
        const checks = checksOf(rotating, task.id);
        assert.ok(checks.length >= 1);
        for (const check of checks) assert.equal(check.headers.authorization, bearer(task.key), `task ${task.id} checked with its own key`);
      }
    });

    test('cancel stops tracking at once: no check after it, and the task says cancelled', async () => {
      const prompt = promptFor('cancel me #long');
      const id = await make({ model: 'grok-video-1.5', prompt });
      await waitUntil(() => fakeTasksFor(rotating, prompt)[0]?.checks === 1, 'the first check', 10_000);
      const upstream = fakeTasksFor(rotating, prompt)[0]!;
      // The next check is due 2 s after the first: cancel well before it.
      const cancelled = await client.json('POST', `/v1/videos/${id}/cancel`);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      assert.equal(cancelled.body.status, 'cancelled');
      const seen = checksOf(rotating, upstream.id).length;
      await sleep(4500);
      assert.equal(checksOf(rotating, upstream.id).length, seen, 'no check after the cancel (two were due)');
      assert.equal((await client.json('GET', `/v1/videos/${id}`)).body.status, 'cancelled');
    });
  });
});

/** GET /admin/channels, as the operator reads it. */
async function channelReport() {
  const response = await fetch(`${gateway.url}/admin/channels`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(response.status, 200);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return ((await response.json()) as { data: Record<string, any>[] }).data;
}

test('upstream keys never appear in a task object, an error, /v1/models, /admin/channels or a log line', async () => {
  const texts: string[] = [JSON.stringify((await client.json('GET', '/v1/models')).body), JSON.stringify(await channelReport())];
  for (const id of made) {
    const { body } = await client.json('GET', `/v1/videos/${id}`);
    assert.ok(['completed', 'failed', 'cancelled'].includes(body.status), `task ${id} ("${body.prompt}") ended (${body.status})`);
    texts.push(JSON.stringify(body));
  }
  texts.push(JSON.stringify((await client.json('GET', '/v1/videos?limit=100')).body));
  texts.push(...gateway.logs);
  assert.ok(gateway.logs.length > 50, 'the debug log was read');
  for (const text of texts) {
    for (const key of ALL_KEYS) assert.ok(!text.includes(key), `a key shows in: ${text.slice(0, 300)}`);
    assert.ok(!text.includes('SECRET'), `part of a key shows in: ${text.slice(0, 300)}`);
  }
  assert.equal(gateway.process.exitCode, null, 'the gateway still runs');
});
