import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { UrlSigner } from '../src/auth/signed-url.ts';
import { buildPriceTable } from '../src/billing/prices.ts';
import { validate } from '../src/catalog/validate.ts';
import { buildChannels } from '../src/channels/build.ts';
import type { Channels } from '../src/channels/registry.ts';
import { loadConfig } from '../src/config.ts';
import { LocalStorage } from '../src/storage/local.ts';
import type { TaskRow } from '../src/store/schema.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { Keeper } from '../src/tasks/keeper.ts';
import { UpstreamInputs } from '../src/tasks/upstream-inputs.ts';
import { upstreamStep, type UpstreamStepDeps } from '../src/tasks/upstream-step.ts';
import { OUTAGE_WAIT_MS, recordFailure } from '../src/tasks/step-failure.ts';
import { Unavailable } from '../src/errors.ts';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { removeDataDir } from './support/gateway.ts';

/**
 * The upstream step on its own, with the clock in the test's hand: the real xAI adapter
 * against the xAI fake over HTTP, a real SQLite store, and one clock shared by the fake and
 * the engine, so that hours pass in a moment.
 */
let now = Date.UTC(2026, 10, 22);
const clock = { now: () => now };
let fake: FakeUpstream;
let store: Store;
let channels: Channels;
let deps: UpstreamStepDeps;
const dir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-step-'));

before(async () => {
  // Two hours upstream: every test here ends before the fake would finish.
  fake = await startFakeXai({ completeAfterMs: 2 * 3600_000, clock: clock.now });
  store = await openSqliteStore(path.join(dir, 'vidgate.db'));
  const storage = new LocalStorage(path.join(dir, 'files'));
  const log = pino({ level: 'silent' });
  channels = buildChannels(loadConfig({ XAI_API_KEY: 'xai-test-key', XAI_BASE_URL: fake.url }).channels, clock);
  const guard = { allowedPrivateHosts: new Set<string>(), maxBytes: 1 << 24, timeoutMs: 5000 };
  const keeper = new Keeper({ store, storage, clock, log, videoTtlMs: 3600_000, guard, scratchDirectory: path.join(dir, 'scratch'), prices: buildPriceTable(), creditMicros: 5_000, stillsOnKeep: false });
  deps = { store, clock, log, keeper, channels, inputs: new UpstreamInputs(storage, new UrlSigner('s'), null, 3600_000), maxAttempts: 5 };
  await store.insertKey({ id: 'key_1', name: 'k', hash: 'h', prefix: 'sk-', now, balance: null, mode: 'live', limit_rpm: null, limit_in_flight: null, limit_daily_spend: null });
});
after(async () => {
  for (const channel of channels.all()) channel.close();
  await store.close();
  await fake.close();
  removeDataDir(dir);
});

let serial = 0;
async function newTask(into: Store = store): Promise<string> {
  const id = `video_${(serial++).toString().padStart(32, '0')}`;
  const job = validate('create', { model: 'grok-imagine', prompt: 'a fox', duration: 3, size: '480p' });
  const row: TaskRow = {
    id, key_id: 'key_1', model: job.model, status: 'queued', progress: 0, job: JSON.stringify(job), prompt: job.prompt,
    seconds: '3', size: '480p', remixed_from_video_id: null, warnings: null, provider: 'xai', operation: null,
    submit_started_at: null, usage: null, error_code: null, error_message: null, created_at: now, updated_at: now,
    started_at: null, completed_at: null, expires_at: null, run_after: now, attempts: 0, claims: 0, lease_owner: null,
    lease_expires_at: null, video_key: null, video_size: null, price: null, hold: null, cost: null, mode: 'live', request_id: null, callback_url: null,
  };
  await into.insertTask(row);
  return id;
}

/** Claims what is due now and runs one step of each; answers the ids it stepped. */
async function stepDue(): Promise<string[]> {
  const claimed = await store.claimDue('upstream', 'runner-t', now, now + 30_000, 100);
  for (const task of claimed) await upstreamStep(task, 'runner-t', new AbortController().signal, deps);
  return claimed.map((task) => task.id);
}

describe('an upstream task between steps', () => {
  test('submitted once, then left alone until its next check (2 s at first), holding no lease', async () => {
    const id = await newTask();
    assert.deepEqual(await stepDue(), [id]);
    const task = (await store.taskById(id))!;
    assert.equal(task.status, 'in_progress');
    assert.equal(JSON.parse(task.operation!).request_id, [...fake.tasks.keys()].at(-1));
    assert.equal(task.submit_started_at, now, 'the submission was marked before the upstream was called');
    assert.equal(task.lease_owner, null);
    assert.ok(task.run_after >= now + 2000 && task.run_after <= now + 2200, `first check in about 2 s, not ${task.run_after - now} ms`);
    now += 1000;
    assert.deepEqual(await stepDue(), [], 'not due yet: not checked');
    now += 1500;
    assert.deepEqual(await stepDue(), [id]);
    assert.equal(fake.tasks.get(JSON.parse(task.operation!).request_id)?.checks, 1);
  });

  test('an older task is checked less often: about a tenth of its age', async () => {
    const id = await newTask();
    await stepDue();
    now += 100_000;
    assert.ok((await stepDue()).includes(id));
    const task = (await store.taskById(id))!;
    assert.ok(task.run_after - now >= 9_000 && task.run_after - now <= 11_000, `next check in about 10 s, not ${task.run_after - now} ms`);
    assert.ok(task.progress > 0, 'the upstream progress is kept');
  });

  test('a task the upstream has not finished within its model limit (an hour) fails upstream_timeout', async () => {
    const id = await newTask();
    await stepDue();
    now += 61 * 60_000;
    await stepDue();
    const task = (await store.taskById(id))!;
    assert.equal(task.status, 'failed');
    assert.equal(task.error_code, 'upstream_timeout');
  });
});

describe('an outage of our own storage or database', () => {
  test('costs a task no attempt: it is tried again later, and fails with the outage\'s code only after OUTAGE_WAIT_MS', async (t) => {
    // A store and a clock of its own: the other tests' tasks stay out of its claims, and their time where it is.
    const own = await openSqliteStore(path.join(dir, 'outage.db'));
    t.after(() => own.close());
    await own.insertKey({ id: 'key_1', name: 'k', hash: 'h', prefix: 'sk-', now, balance: null, mode: 'live', limit_rpm: null, limit_in_flight: null, limit_daily_spend: null });
    let at = now;
    const outageDeps = { ...deps, store: own, clock: { now: () => at } };
    const id = await newTask(own);
    const outage = new Unavailable('The file storage cannot be reached now; try again', 'storage_unavailable');
    const claimAndFail = async () => {
      const [task] = await own.claimDue('upstream', 'runner-t', at, at + 30_000, 100);
      assert.equal(task?.id, id);
      await recordFailure(task, 'runner-t', outage, outageDeps);
      return (await own.taskById(id))!;
    };
    let row = await claimAndFail();
    assert.deepEqual([row.status, row.attempts, row.lease_owner], ['queued', 0, null]);
    assert.ok(row.run_after >= at + 2000 && row.run_after <= at + 2200, `again in about 2 s, not ${row.run_after - at} ms`);
    at += OUTAGE_WAIT_MS - 1000;
    row = await claimAndFail();
    assert.deepEqual([row.status, row.attempts], ['queued', 0], 'still waiting just before the limit');
    assert.ok(row.run_after - at >= 27_000 && row.run_after - at <= 33_000, `an old task looks again about every 30 s, not ${row.run_after - at} ms`);
    at += 34_000;
    row = await claimAndFail();
    assert.deepEqual([row.status, row.error_code], ['failed', 'storage_unavailable']);
    assert.match(row.error_message!, /waited 30 minutes/);
  });
});

describe('a submit the upstream took is never sent again', () => {
  test('when writing down its answer fails, the retried task ends submit_outcome_unknown, sent once', async () => {
    const id = await newTask();
    const made = fake.tasks.size;
    const [task] = await store.claimDue('upstream', 'runner-t', now, now + 30_000, 100);
    assert.equal(task?.id, id);
    // The upstream took it; then the database refused the write (a lost connection, a full disk).
    const failing = new Proxy(store, {
      get(target, name) {
        if (name === 'submitted') return async () => Promise.reject(new Error('the database went away'));
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // The step records its own failure (as the runner's would), with the row it claimed, read before the submit began.
    await upstreamStep(task!, 'runner-t', new AbortController().signal, { ...deps, store: failing });
    assert.equal((await store.taskById(id))?.attempts, 1, 'a failed attempt');
    now += 60_000;
    assert.ok((await stepDue()).includes(id));
    const ended = (await store.taskById(id))!;
    assert.deepEqual([ended.status, ended.error_code], ['failed', 'submit_outcome_unknown']);
    assert.equal(fake.tasks.size - made, 1, 'one submit reached the upstream');
  });
});

// Last: the tasks these leave behind must not be due in the tests above.
describe('the submission mark', () => {
  /** The store, with markSubmitting wrapped: `onMark` sees the moment, `answer` may refuse it. */
  function marking(onMark: () => void, answer?: boolean): Store {
    return new Proxy(store, {
      get(target, name) {
        if (name === 'markSubmitting') {
          return async (...args: Parameters<Store['markSubmitting']>) => {
            onMark();
            return answer ?? target.markSubmitting(...args);
          };
        }
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  test('is made once the submit holds its connection slot, before it is sent', async () => {
    const id = await newTask();
    const before = fake.requests.length;
    let seen: { inFlight: number; sent: number } | null = null;
    const channel = channels.byName('xai')!;
    const store = marking(() => (seen = { inFlight: channel.load().inFlight, sent: fake.requests.length - before }));
    const [task] = await deps.store.claimDue('upstream', 'runner-t', now, now + 30_000, 100);
    await upstreamStep(task!, 'runner-t', new AbortController().signal, { ...deps, store });
    assert.deepEqual(seen, { inFlight: 1, sent: 0 }, 'marked holding the slot, with nothing sent yet');
    assert.ok((await deps.store.taskById(id))!.operation, 'then submitted');
  });

  test('refused (the task is no longer ours), nothing is sent and the task is left as it is', async () => {
    const id = await newTask();
    const before = fake.requests.length;
    const [task] = await deps.store.claimDue('upstream', 'runner-t', now, now + 30_000, 100);
    await upstreamStep(task!, 'runner-t', new AbortController().signal, { ...deps, store: marking(() => undefined, false) });
    assert.equal(fake.requests.length, before, 'the upstream saw nothing');
    const row = (await deps.store.taskById(id))!;
    assert.deepEqual([row.status, row.operation, row.submit_started_at, row.error_code], [task!.status, null, null, null]);
    assert.equal(channels.byName('xai')!.load().inFlight, 0, 'the slot was given back');
  });
});
