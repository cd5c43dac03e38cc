import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Fault, FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { storedKeys } from './support/s3.ts';
import {
  checksOf,
  contentOf,
  createTask,
  createsFor,
  downloadsOf,
  fakeTasksFor,
  logEntries,
  stampArrivals,
  walkFiles,
  walkFolders,
  xaiChannel,
} from './support/upstream-kit.ts';
import { sleep, waitUntil } from './support/wait.ts';

/**
 * Faults that must end well, over real HTTP against a spawned gateway and fake xAI servers:
 * each ends in a retry (then completion) or a clear error code on the task; never a crash,
 * a stuck task or a lost one.
 *
 * One gateway serves three channels, each on its own fake so that their fault queues stay
 * apart: `main` (grok-imagine, a short read_timeout_ms) for the serial tests, and two channels
 * whose downloads stay broken, run alongside (they take ~30 s of backoff each).
 * The kill -9 tests have a gateway of their own (it is killed and restarted).
 */

/** Short, so a hung call times out quickly; long enough that a loaded machine does not time out a good one. */
const READ_TIMEOUT_MS = 1500;

let main: FakeUpstream;
let brokenTruncated: FakeUpstream;
let brokenNotVideo: FakeUpstream;
let gateway: RunningGateway;
let client: Client;
/** Every task this file made on the shared gateway: none may be lost or left running. */
const made: string[] = [];
/** Tasks whose submit outcome was unknown: the upstream must have seen exactly one create for each, for ever. */
const sentOnce: string[] = [];

before(async () => {
  [main, brokenTruncated, brokenNotVideo] = await Promise.all([
    startFakeXai({ completeAfterMs: 100 }),
    startFakeXai({ completeAfterMs: 100 }),
    startFakeXai({ completeAfterMs: 100 }),
  ]);
  const channels = [
    xaiChannel('main', main, { models: ['grok-imagine'], read_timeout_ms: READ_TIMEOUT_MS }),
    xaiChannel('broken-truncated', brokenTruncated, { models: ['grok-video-1.5'] }),
    xaiChannel('broken-not-video', brokenNotVideo, { models: ['grok-video-3'] }),
  ];
  // No ALLOWED_PRIVATE_HOSTS: a channel's own host may serve its results, no other private one.
  gateway = await startGateway({ CHANNELS: JSON.stringify(channels) });
  client = await newClient(gateway);
});

after(async () => {
  await gateway?.stop();
  if (gateway) removeDataDir(gateway.dataDir);
  await Promise.all([main, brokenTruncated, brokenNotVideo].map((fake) => fake?.close()));
});

let counter = 0;
/** A prompt no other test uses, so the fake's tasks can be told apart. */
function promptFor(what: string): string {
  return `${what} ${++counter}`;
}

async function make(body: Record<string, unknown>): Promise<string> {
  const id = await createTask(client, body);
  made.push(id);
  return id;
}

function errorLineFor(logs: readonly string[], taskId: string, code: string): Record<string, unknown> | undefined {
  return logEntries(logs).find((entry) => entry.level === 50 && entry.task === taskId && entry.code === code);
}

/** Attempts spaced by the step backoff: 2, 4, 8, 16 s. */
function assertBackoff(times: number[]): void {
  const gaps = times.slice(1).map((time, index) => time - times[index]!);
  gaps.forEach((gap, index) => assert.ok(gap >= 1000 * 2 ** (index + 1), `attempt ${index + 2} came ${gap} ms after the one before (gaps ${gaps.join(', ')})`));
}

describe('upstream faults', { concurrency: true }, () => {
  // ─── Downloads that stay broken: retried with backoff 2+4+8+16 s, then a clear code ───
  test('a result download that stays truncated is retried with backoff, then fails result_unavailable', async () => {
    const arrivals = stampArrivals(brokenTruncated);
    brokenTruncated.fault('download', 'truncated', 20);
    const prompt = promptFor('always truncated');
    const id = await make({ model: 'grok-video-1.5', prompt });
    const task = await client.waitFor(id, 60_000);
    assert.equal(task.status, 'failed', JSON.stringify(task));
    assert.equal(task.error.code, 'result_unavailable');
    const [upstream] = fakeTasksFor(brokenTruncated, prompt);
    const downloads = downloadsOf(brokenTruncated, upstream!.id);
    assert.equal(downloads.length, 5, 'one download per attempt, five attempts');
    assertBackoff(downloads.map((request) => arrivals.get(request)!));
    assert.equal(createsFor(brokenTruncated, id).length, 1);
  });

  test('a result that stays no video is retried with backoff, then fails invalid_output', async () => {
    const arrivals = stampArrivals(brokenNotVideo);
    brokenNotVideo.fault('download', 'not-video', 20);
    const prompt = promptFor('always html');
    const id = await make({ model: 'grok-video-3', prompt });
    const task = await client.waitFor(id, 60_000);
    assert.equal(task.status, 'failed', JSON.stringify(task));
    assert.equal(task.error.code, 'invalid_output');
    const [upstream] = fakeTasksFor(brokenNotVideo, prompt);
    const downloads = downloadsOf(brokenNotVideo, upstream!.id);
    assert.equal(downloads.length, 5, 'one download per attempt, five attempts');
    assertBackoff(downloads.map((request) => arrivals.get(request)!));
  });

  describe('one fault at a time on the main channel', { concurrency: false }, () => {
    // The channel's breaker counts every failed call: five in a row would rest it for 30 s.
    // The tests below are ordered so that a success comes before the fifth.

    // ─── A submit whose outcome is unknown: failed, never sent twice ───
    const unknownOutcome = (fault: Fault, what: string) =>
      test(`a submit answered with ${what} fails submit_outcome_unknown and is sent exactly once`, async () => {
        main.fault('create', fault);
        const id = await make({ model: 'grok-imagine', prompt: promptFor(`unknown ${what}`) });
        const task = await client.waitFor(id, 20_000);
        assert.equal(task.status, 'failed', JSON.stringify(task));
        assert.equal(task.error.code, 'submit_outcome_unknown');
        assert.equal(createsFor(main, id).length, 1, 'exactly one create reached the upstream');
        // A resend would come within the 2 s backoff: the last test looks again, when the later tests have given it time.
        sentOnce.push(id);
        // The line comes through the gateway's stdout pipe, which may deliver it after the HTTP answer.
        await waitUntil(() => errorLineFor(gateway.logs, id, 'submit_outcome_unknown') !== undefined, 'an error line names the task for the operator', 5000);
      });
    unknownOutcome({ status: 500 }, 'HTTP 500');
    unknownOutcome('hang', `no answer within read_timeout_ms (${READ_TIMEOUT_MS} ms)`);
    unknownOutcome('malformed-json', 'malformed JSON');

    // ─── A submit that surely made nothing: tried again, then done ───
    const refused = (fault: Fault, what: string) =>
      test(`a submit refused with ${what} made nothing: it is sent again later and completes`, async () => {
        main.fault('create', fault);
        const id = await make({ model: 'grok-imagine', prompt: promptFor(`refused ${what}`) });
        const task = await client.waitFor(id, 20_000);
        assert.equal(task.status, 'completed', JSON.stringify(task));
        assert.equal(createsFor(main, id).length, 2, 'refused once, then taken');
        assert.ok((await contentOf(client, id)).bytes.equals(main.videoBytes));
      });
    refused({ status: 429 }, 'HTTP 429');
    unknownOutcome({ status: 503 }, 'HTTP 503');
    unknownOutcome('reset', 'a reset connection');
    refused({ status: 401 }, 'HTTP 401 (key refused)');

    // ─── A check that fails is tried again later; the task then completes ───
    const checkRetried = (fault: Fault, what: string) =>
      test(`a status check answered with ${what} is tried again later, and the task completes`, async () => {
        main.fault('check', fault);
        const prompt = promptFor(`check ${what}`);
        const id = await make({ model: 'grok-imagine', prompt });
        const task = await client.waitFor(id, 20_000);
        assert.equal(task.status, 'completed', JSON.stringify(task));
        const [upstream, ...more] = fakeTasksFor(main, prompt);
        assert.equal(more.length, 0);
        assert.ok(checksOf(main, upstream!.id).length >= 2, 'the faulted check, then at least one more');
        assert.equal(createsFor(main, id).length, 1);
        assert.ok((await contentOf(client, id)).bytes.equals(main.videoBytes));
      });
    checkRetried({ status: 500 }, 'HTTP 500');
    checkRetried('hang', `no answer within read_timeout_ms (${READ_TIMEOUT_MS} ms)`);
    checkRetried('malformed-json', 'malformed JSON');
    checkRetried('reset', 'a reset connection');

    test('a task the upstream accepted and then no longer knows (404 on check) fails upstream_task_lost', async () => {
      main.fault('check', 'not-found');
      const prompt = promptFor('forgotten');
      const id = await make({ model: 'grok-imagine', prompt });
      const task = await client.waitFor(id, 20_000);
      assert.equal(task.status, 'failed', JSON.stringify(task));
      assert.equal(task.error.code, 'upstream_task_lost');
      assert.equal(checksOf(main, fakeTasksFor(main, prompt)[0]!.id).length, 1, 'not checked again once lost');
    });

    test('a 429 with Retry-After on a check: the task is not checked again before Retry-After has passed', async () => {
      const arrivals = stampArrivals(main);
      const retryAfterSeconds = 5;
      main.fault('check', { status: 429, retryAfter: retryAfterSeconds });
      const prompt = promptFor('slow down');
      const id = await make({ model: 'grok-imagine', prompt });
      const task = await client.waitFor(id, 30_000);
      assert.equal(task.status, 'completed', JSON.stringify(task));
      const checks = checksOf(main, fakeTasksFor(main, prompt)[0]!.id);
      assert.ok(checks.length >= 2, 'the refused check, then at least one more');
      const [refusedAt, nextAt] = [arrivals.get(checks[0]!)!, arrivals.get(checks[1]!)!];
      // Without Retry-After the next check would come after the usual 2 s.
      assert.ok(nextAt - refusedAt >= retryAfterSeconds * 1000, `checked again ${nextAt - refusedAt} ms after a Retry-After of ${retryAfterSeconds} s`);
    });

    // ─── Result downloads: a passing fault is retried; a link we must not follow ends the task ───
    const downloadRetried = (fault: Fault, what: string) =>
      test(`a result download that is ${what} once is retried, and the task completes with the right bytes`, async () => {
        main.fault('download', fault);
        const prompt = promptFor(`download ${what}`);
        const id = await make({ model: 'grok-imagine', prompt });
        const task = await client.waitFor(id, 20_000);
        assert.equal(task.status, 'completed', JSON.stringify(task));
        assert.equal(downloadsOf(main, fakeTasksFor(main, prompt)[0]!.id).length, 2, 'the broken download, then a good one');
        const content = await contentOf(client, id);
        assert.equal(content.status, 200);
        assert.ok(content.bytes.equals(main.videoBytes), 'what we serve is the whole upstream video');
        assert.equal(task.seconds, '2');
      });
    downloadRetried('truncated', 'cut short');
    // ffprobe reads such a file as a whole 2 s video: only its sample tables show what is missing.
    downloadRetried('cut-file', 'a cut MP4 sent as a whole file');
    downloadRetried('not-video', 'an HTML page');

    test('a result link that redirects to a private address fails result_unavailable, and is not fetched again', async () => {
      main.fault('download', 'redirect-private');
      const prompt = promptFor('metadata');
      const id = await make({ model: 'grok-imagine', prompt });
      const task = await client.waitFor(id, 20_000);
      assert.equal(task.status, 'failed', JSON.stringify(task));
      assert.equal(task.error.code, 'result_unavailable');
      assert.doesNotMatch(task.error.message, /169\.254/, 'the address stays in the log');
      await sleep(2500);
      assert.equal(downloadsOf(main, fakeTasksFor(main, prompt)[0]!.id).length, 1);
    });
  });

  describe('killed (kill -9) mid-step, restarted on the same DATA_DIR', { concurrency: false }, () => {
    let fake: FakeUpstream;
    let current: RunningGateway | undefined;
    let dataDir: string;
    let key: string;
    const env = () => ({ CHANNELS: JSON.stringify([xaiChannel('solo', fake, { models: ['grok-imagine'] })]), LEASE_SECONDS: '1' });
    const restart = async () => {
      current = await startGateway(env(), dataDir);
      return new Client(current.url, key);
    };
    before(async () => {
      fake = await startFakeXai({ completeAfterMs: 100 });
      current = await startGateway(env());
      dataDir = current.dataDir;
      key = (await newClient(current)).key;
    });
    after(async () => {
      await current?.stop('SIGKILL');
      if (dataDir) removeDataDir(dataDir);
      await fake?.close();
    });

    test('killed while the upstream holds the submit: the task fails submit_outcome_unknown after the restart, and is never sent again', async () => {
      fake.fault('create', 'hang');
      const id = await createTask(new Client(current!.url, key), { model: 'grok-imagine', prompt: 'killed mid-submit' });
      await waitUntil(() => createsFor(fake, id).length === 1, 'the submit reaches the upstream');
      await current!.stop('SIGKILL');
      const again = await restart();
      const task = await again.waitFor(id, 20_000);
      assert.equal(task.status, 'failed', JSON.stringify(task));
      assert.equal(task.error.code, 'submit_outcome_unknown');
      // A resend would come at once, or after the 2 s backoff.
      await sleep(2500);
      assert.equal(createsFor(fake, id).length, 1, 'exactly one create reached the upstream');
      await waitUntil(() => errorLineFor(current!.logs, id, 'submit_outcome_unknown') !== undefined, 'an error line names the task for the operator', 5000);
      assert.equal((await again.json('GET', '/v1/models')).status, 200);
    });

    test('killed while copying the result: after the restart the task completes with the right bytes, and no partial file is left', async () => {
      fake.fault('download', 'hang');
      const prompt = 'killed mid-copy';
      const id = await createTask(new Client(current!.url, key), { model: 'grok-imagine', prompt });
      await waitUntil(() => {
        const upstream = fakeTasksFor(fake, prompt)[0];
        return upstream !== undefined && downloadsOf(fake, upstream.id).length === 1;
      }, 'the result download starts');
      const scratch = path.join(dataDir, 'scratch');
      // What the kill leaves behind (this is what the walk below must not find any more).
      await waitUntil(() => walkFiles(scratch).some((file) => file.endsWith('.part')), 'the partial download is on disk', 5000);
      const deadPid = current!.process.pid!;
      assert.ok(readdirSync(scratch).some((entry) => entry.startsWith(`${os.hostname()}-${deadPid}-`)));
      await current!.stop('SIGKILL');

      const again = await restart();
      const task = await again.waitFor(id, 30_000);
      assert.equal(task.status, 'completed', JSON.stringify(task));
      const content = await contentOf(again, id);
      assert.equal(content.status, 200);
      assert.ok(content.bytes.equals(fake.videoBytes), 'the video is whole, byte for byte');
      assert.equal(createsFor(fake, id).length, 1);

      const leftovers = walkFiles(dataDir).filter((file) => /\.part(ial)?$/.test(file) || file.includes(`${id}-`));
      assert.deepEqual(leftovers, [], 'no partial download is left under DATA_DIR');
      const livePid = current!.process.pid!;
      assert.deepEqual(readdirSync(scratch).filter((entry) => !entry.startsWith(`${os.hostname()}-${livePid}-`)), [], 'the dead process scratch folder is gone');
      assert.deepEqual(walkFolders(scratch).filter((folder) => folder.includes(id)), [], 'no scratch folder of the task is left');
      assert.ok((await storedKeys(dataDir, `videos/${id}`)).includes(`videos/${id}/video.mp4`));
    });
  });
});

test('after every fault the gateway still answers, and no task is lost, left running or sent twice', async () => {
  assert.equal(gateway.process.exitCode, null, 'the gateway did not crash');
  assert.equal(gateway.process.signalCode, null);
  assert.equal((await client.json('GET', '/v1/models')).status, 200);
  for (const id of made) {
    const { status, body } = await client.json('GET', `/v1/videos/${id}`);
    assert.equal(status, 200, `task ${id} is still there`);
    assert.ok(['completed', 'failed'].includes(body.status), `task ${id} ended (${body.status})`);
  }
  for (const id of sentOnce) assert.equal(createsFor(main, id).length, 1, `task ${id} was sent exactly once`);
  // Ten failed downloads and two retried ones left nothing behind.
  assert.deepEqual(walkFiles(gateway.dataDir).filter((file) => /\.part(ial)?$/.test(file)), [], 'no partial file under DATA_DIR');
  assert.deepEqual(walkFolders(path.join(gateway.dataDir, 'scratch')).filter((folder) => made.some((id) => folder.includes(id))), [], 'no scratch folder of a task');
});
