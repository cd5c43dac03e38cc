import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import pino from 'pino';
import type { ProviderStatus, VideoProvider } from '../src/providers/interface.ts';
import { KeyService } from '../src/auth/keys.ts';
import { KeyRevoked } from '../src/errors.ts';
import { LocalStorage } from '../src/storage/local.ts';
import type { Storage } from '../src/storage/storage.ts';
import { systemClock } from '../src/tasks/clock.ts';
import { Keeper } from '../src/tasks/keeper.ts';
import { Runner } from '../src/tasks/runner.ts';
import type { TaskRow } from '../src/store/schema.ts';
import { buildPriceTable } from '../src/billing/prices.ts';
import { validate } from '../src/catalog/validate.ts';
import type { Store } from '../src/store/store.ts';
import pg from 'pg';
import { changeChannel } from '../src/store/change-listener.ts';
import { openPostgresStore } from '../src/store/postgres.ts';
import { dropTestSchemas, newSchema, openTestStore, openTestStores, TEST_DATABASE_URL, TEST_STORE } from './support/database.ts';
import { removeDataDir } from './support/gateway.ts';
import { mp4File } from './support/media.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The store keeps a read cache of keys and tasks. It must never answer a row that a write
 * through the same store has changed: every writing method is run here against a real
 * SQLite file, with the cache primed before the write, and the change must show through
 * the cached reads after it.
 */
const dirs: string[] = [];
const opened: Store[] = [];
// Each test's stores are closed after it: open, they hold their connections (PostgreSQL allows 100 in all).
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
after(async () => {
  for (const store of opened) await store.close();
  dirs.forEach((dir) => removeDataDir(dir));
  await dropTestSchemas();
});

function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-store-'));
  dirs.push(dir);
  return dir;
}

async function freshStore(dir = scratchDir()): Promise<Store> {
  const store = await openTestStore(dir);
  opened.push(store);
  return store;
}

const NOW = 1_700_000_000_000;
const KEY = { id: 'key_1', name: 'k', hash: 'hash-1', prefix: 'sk-abcd', now: NOW, balance: null, mode: 'live' as const, limit_rpm: null, limit_in_flight: null, limit_daily_spend: null };

const JOB = JSON.stringify(validate('create', { model: 'grok-imagine', prompt: 'p', duration: 3, size: '480p' }));

function taskRow(id: string, fields: Partial<TaskRow> = {}): TaskRow {
  return {
    id,
    key_id: KEY.id,
    model: 'grok-imagine',
    status: 'queued',
    progress: 0,
    job: JOB,
    prompt: 'p',
    seconds: '3',
    size: '480p',
    remixed_from_video_id: null,
    warnings: null,
    provider: 'local',
    operation: null,
    submit_started_at: null,
    usage: null,
    error_code: null,
    error_message: null,
    created_at: NOW,
    updated_at: NOW,
    started_at: null,
    completed_at: null,
    expires_at: null,
    run_after: NOW,
    attempts: 0,
    claims: 0,
    lease_owner: null,
    lease_expires_at: null,
    video_key: null,
    video_size: null,
    price: null,
    hold: null,
    cost: null,
    mode: 'live',
    request_id: null,
    callback_url: null,
    ...fields,
  };
}

const WEBHOOK = { id: 'wh_1', key_id: KEY.id, url: 'https://hooks.example.com/a', secret: 'whsec_AAAA', events: '["video.completed","video.failed","video.cancelled"]', created_at: NOW, deleted_at: null };

/** A primed store with a webhook, whose task was cancelled: one delivery is due. */
async function withDelivery() {
  const setup = await primed({ callback_url: 'https://hooks.example.com/mine' });
  await setup.store.insertWebhook(WEBHOOK);
  await setup.store.keyWebhookSecret(KEY.id, 'whsec_KEY');
  await setup.store.settle('video_a', { kind: 'cancelled', keyId: KEY.id, now: NOW + 1 });
  return setup;
}

/** An Idempotency-Key as TaskService passes it. */
const ONCE = { key: 'retry-1', hash: 'hash-of-request', staleBefore: NOW - 1000 };

/** A store with one key and one task, both read once so that the cache holds them. */
async function primed(fields: Partial<TaskRow> = {}) {
  const store = await freshStore();
  await store.insertKey(KEY);
  await store.insertTask(taskRow('video_a', fields));
  const read = () => store.taskForKey('video_a', KEY.id);
  assert.ok(await store.activeKeyByHash(KEY.hash));
  assert.ok(await read());
  return { store, read };
}

/** A store whose task is claimed (and so cached) by runner `owner`. */
async function held(owner = 'runner-1', fields: Partial<TaskRow> = {}) {
  const setup = await primed(fields);
  assert.equal((await setup.store.claimDue(fields.provider && fields.provider !== 'local' ? 'upstream' : 'local', owner, NOW, NOW + 30_000, 10)).length, 1);
  assert.equal((await setup.read())?.lease_owner, owner);
  return setup;
}

/** The methods that change no row; every other method of Store must have a case below. */
const READ_ONLY = ['activeKeyByHash', 'activeKeyById', 'keyById', 'ledger', 'ledgerAudit', 'usage', 'listKeys', 'taskById', 'taskForKey', 'listTasks', 'unfinishedByProvider', 'gauges', 'expiredVideos', 'idempotentTask', 'ping', 'webhooksOfKey', 'webhookOfKey', 'deliveriesOfWebhook', 'deliveriesOfTask', 'pendingDeliveries', 'close'] as const satisfies readonly (keyof Store)[];
type Writing = Exclude<keyof Store, (typeof READ_ONLY)[number]>;

/** One case per writing method: it runs the method on a primed store and checks the cached reads see it. */
const WRITES: { [M in Writing]: () => Promise<void> } = {
  async insertKey() {
    const store = await freshStore();
    assert.equal(await store.activeKeyByHash(KEY.hash), undefined);
    assert.equal(await store.activeKeyById(KEY.id), undefined);
    await store.insertKey(KEY);
    assert.equal((await store.activeKeyByHash(KEY.hash))?.id, KEY.id);
    assert.equal((await store.activeKeyById(KEY.id))?.key_hash, KEY.hash);
  },
  // The cached key reads hold no balance (ActiveKey), so a balance that moves cannot go stale in them.
  async adjustBalance() {
    const store = await freshStore();
    await store.insertKey({ ...KEY, balance: 100 });
    const before = await store.activeKeyById(KEY.id);
    assert.deepEqual([before?.metered, before && 'balance' in before], [true, false]);
    assert.equal(await store.adjustBalance(KEY.id, { kind: 'topup', amount: 50, now: NOW, note: null }), 150);
    assert.equal((await store.keyById(KEY.id))?.balance, 150);
    assert.equal((await store.activeKeyByHash(KEY.hash))?.metered, true);
  },
  async revokeKey() {
    const { store } = await primed();
    assert.ok(await store.activeKeyById(KEY.id));
    assert.equal(await store.revokeKey(KEY.id, NOW + 1), true);
    assert.equal(await store.activeKeyByHash(KEY.hash), undefined);
    assert.equal(await store.activeKeyById(KEY.id), undefined);
  },
  async insertTask() {
    const { store } = await primed();
    assert.equal(await store.taskForKey('video_b', KEY.id), undefined);
    await store.insertTask(taskRow('video_b'));
    assert.equal((await store.taskForKey('video_b', KEY.id))?.id, 'video_b');
  },
  async settle() {
    // Each way a task ends, seen through the cached reads.
    const cancelled = await primed();
    assert.equal((await cancelled.store.settle('video_a', { kind: 'cancelled', keyId: KEY.id, now: NOW + 1 }))?.status, 'cancelled');
    assert.equal((await cancelled.read())?.status, 'cancelled');

    const deleted = await primed();
    assert.equal((await deleted.store.settle('video_a', { kind: 'deleted', keyId: KEY.id, now: NOW + 1 }))?.id, 'video_a');
    assert.equal(await deleted.read(), undefined);

    const completed = await held();
    const result = { owner: 'runner-1', now: NOW + 1, expiresAt: NOW + 2, videoKey: 'videos/video_a/video.mp4', videoSize: 10, seconds: '3', size: '320x240', usage: '{"credits":4}', cost: 0, upstreamCost: 20_000 };
    assert.equal((await completed.store.settle('video_a', { kind: 'completed', ...result }))?.status, 'completed');
    assert.equal((await completed.read())?.size, '320x240');
    assert.equal((await completed.read())?.usage, '{"credits":4}');

    const failed = await held();
    assert.equal((await failed.store.settle('video_a', { kind: 'failed', owner: 'runner-1', now: NOW + 1, code: 'boom', message: 'it broke' }))?.status, 'failed');
    assert.equal((await failed.read())?.error_code, 'boom');

    const expired = await primed({ status: 'completed', video_key: 'videos/video_a/video.mp4', expires_at: NOW });
    assert.ok(await expired.store.settle('video_a', { kind: 'expired', now: NOW + 1 }));
    assert.equal((await expired.read())?.video_key, null);
  },
  async claimDue() {
    const { store, read } = await primed();
    assert.equal((await store.claimDue('upstream', 'runner-1', NOW, NOW + 30_000, 10)).length, 0, 'a local task is not in the upstream lane');
    assert.equal((await store.claimDue('local', 'runner-1', NOW, NOW + 30_000, 10)).length, 1);
    assert.equal((await read())?.lease_owner, 'runner-1');
  },
  async renewLeases() {
    const { store, read } = await held();
    assert.deepEqual(await store.renewLeases(['video_a', 'video_unknown'], 'runner-1', NOW + 60_000), new Set(['video_a']));
    assert.equal((await read())?.lease_expires_at, NOW + 60_000);
    assert.deepEqual(await store.renewLeases(['video_a'], 'runner-2', NOW + 90_000), new Set(), "another runner's lease is not renewed");
    assert.equal((await read())?.lease_expires_at, NOW + 60_000);
  },
  async markStarted() {
    const { store, read } = await held();
    assert.equal(await store.markStarted('video_a', 'runner-1', '{"op":1}', NOW + 1), true);
    assert.equal((await read())?.status, 'in_progress');
  },
  async setProgress() {
    const { store, read } = await held();
    assert.equal(await store.setProgress('video_a', 'runner-1', 42, NOW + 1), true);
    assert.equal((await read())?.progress, 42);
  },
  async markSubmitting() {
    const { store, read } = await held('runner-1', { provider: 'xai' });
    assert.equal(await store.markSubmitting('video_a', 'runner-1', 'xai-2', NOW + 1), true);
    assert.equal((await read())?.submit_started_at, NOW + 1);
    assert.equal((await read())?.provider, 'xai-2');
  },
  async submitted() {
    const { store, read } = await held('runner-1', { provider: 'xai' });
    assert.equal(await store.submitted('video_a', 'runner-1', { provider: 'xai', operation: '{"request_id":"r"}', now: NOW + 1, runAfter: NOW + 2001 }), true);
    const task = await read();
    assert.equal(task?.status, 'in_progress');
    assert.equal(task?.operation, '{"request_id":"r"}');
    assert.equal(task?.run_after, NOW + 2001);
    assert.equal(task?.lease_owner, null, 'handed back until its first check');
  },
  async checked() {
    const { store, read } = await held('runner-1', { provider: 'xai', status: 'in_progress', operation: '{}' });
    assert.equal(await store.checked('video_a', 'runner-1', { progress: 40, updatedAt: NOW + 1, runAfter: NOW + 3000 }), true);
    const task = await read();
    assert.equal(task?.progress, 40);
    assert.equal(task?.run_after, NOW + 3000);
    assert.equal(task?.lease_owner, null);
  },
  async checkNow() {
    const { store, read } = await primed({ provider: 'xai', status: 'in_progress', operation: '{}', run_after: NOW + 5000 });
    assert.equal(await store.checkNow('video_a', NOW + 1), true);
    assert.equal((await read())?.run_after, NOW + 1);
  },
  async release() {
    const { store, read } = await held();
    assert.equal(await store.release('video_a', 'runner-1', NOW + 5), true);
    const task = await read();
    assert.equal(task?.lease_owner, null);
    assert.equal(task?.run_after, NOW + 5);
  },
  async retry() {
    const { store, read } = await held();
    assert.equal(await store.retry('video_a', 'runner-1', NOW + 5), true);
    const task = await read();
    assert.equal(task?.lease_owner, null);
    assert.equal(task?.attempts, 1);
  },
  async insertTaskOnce() {
    const { store } = await primed();
    assert.equal(await store.taskForKey('video_b', KEY.id), undefined);
    assert.equal(await store.insertTaskOnce(taskRow('video_b'), ONCE), null);
    assert.equal((await store.taskForKey('video_b', KEY.id))?.id, 'video_b');
  },
  async insertWebhook() {
    const { store } = await primed();
    await store.insertWebhook(WEBHOOK);
    assert.deepEqual((await store.webhooksOfKey(KEY.id)).map((webhook) => webhook.id), ['wh_1']);
    assert.equal(await store.webhookOfKey('wh_1', 'key_other'), undefined, 'another key does not see it');
  },
  async deleteWebhook() {
    const { store } = await withDelivery();
    assert.equal(await store.deleteWebhook('wh_1', 'key_other', NOW + 2), false);
    assert.equal(await store.deleteWebhook('wh_1', KEY.id, NOW + 2), true);
    assert.equal(await store.webhookOfKey('wh_1', KEY.id), undefined);
    assert.deepEqual((await store.deliveriesOfWebhook('wh_1', KEY.id, 10))!.map((delivery) => delivery.status), ['cancelled'], 'what it had pending is not sent');
    assert.equal(await store.deleteWebhook('wh_1', KEY.id, NOW + 3), false, 'deleted once');
  },
  async keyWebhookSecret() {
    const { store } = await primed();
    assert.equal((await store.activeKeyById(KEY.id))?.webhook_secret, null);
    assert.equal(await store.keyWebhookSecret(KEY.id, 'whsec_first'), 'whsec_first');
    assert.equal(await store.keyWebhookSecret(KEY.id, 'whsec_second'), 'whsec_first', 'the first stays');
    assert.equal((await store.activeKeyById(KEY.id))?.webhook_secret, 'whsec_first');
  },
  async claimDeliveries() {
    const { store } = await withDelivery();
    // The settle queued one delivery to the webhook and one to the callback_url, each with its secret.
    const claimed = await store.claimDeliveries('deliverer-1', NOW + 1, NOW + 10_000, 10);
    assert.deepEqual(claimed.map((d) => [d.url, d.type, d.task_id, d.secret]).sort(), [
      ['https://hooks.example.com/a', 'video.cancelled', 'video_a', 'whsec_AAAA'],
      ['https://hooks.example.com/mine', 'video.cancelled', 'video_a', 'whsec_KEY'],
    ]);
    assert.equal(claimed[0]!.event_id, claimed[1]!.event_id, 'one event, two deliveries');
    assert.equal((await store.claimDeliveries('deliverer-2', NOW + 2, NOW + 10_000, 10)).length, 0, 'leased');
    assert.equal((await store.claimDeliveries('deliverer-2', NOW + 10_001, NOW + 20_000, 10)).length, 2, 'the lease ran out');
  },
  async recordAttempt() {
    const { store } = await withDelivery();
    const [first] = await store.claimDeliveries('deliverer-1', NOW + 1, NOW + 10_000, 1);
    assert.equal(await store.recordAttempt(first!.id, 'deliverer-2', { status: 'delivered', now: NOW + 2, nextAttemptAt: NOW + 2, lastStatus: 200, lastError: null }), false, 'not its lease');
    assert.equal(await store.recordAttempt(first!.id, 'deliverer-1', { status: 'pending', now: NOW + 2, nextAttemptAt: NOW + 500, lastStatus: 500, lastError: 'HTTP 500' }), true);
    const [row] = (await store.deliveriesOfTask('video_a', KEY.id)).filter((d) => d.id === first!.id);
    assert.deepEqual([row?.status, row?.attempts, row?.last_status, row?.next_attempt_at, row?.lease_owner], ['pending', 1, 500, NOW + 500, null]);
    assert.deepEqual(await store.pendingDeliveries(), { pending: 2, oldestDueAt: NOW + 1 });
  },
  async releaseDelivery() {
    const { store } = await withDelivery();
    const claimed = await store.claimDeliveries('deliverer-1', NOW + 1, NOW + 10_000, 10);
    assert.equal(await store.releaseDelivery(claimed[0]!.id, 'deliverer-1'), true);
    assert.deepEqual((await store.claimDeliveries('deliverer-2', NOW + 2, NOW + 10_000, 10)).map((d) => d.id), [claimed[0]!.id]);
  },
  async sharedSetting() {
    const store = await freshStore();
    assert.equal(await store.sharedSetting('s', () => 'first'), 'first');
    assert.equal(await store.sharedSetting('s', () => 'second'), 'first');
  },
};

/** Every function a store object answers to, own or inherited (the class's helpers are #private). */
function methodsOf(object: object): string[] {
  const names = new Set<string>();
  for (let level: object | null = object; level && level !== Object.prototype; level = Object.getPrototypeOf(level) as object | null) {
    for (const name of Object.getOwnPropertyNames(level)) {
      if (name !== 'constructor' && typeof (object as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return [...names].sort();
}

describe('the read cache never answers a row that a write changed', () => {
  test('every method of the store is a listed read or has a write case below', async () => {
    const store = await freshStore();
    const known = new Set<string>([...READ_ONLY, ...Object.keys(WRITES)]);
    assert.deepEqual(methodsOf(store).filter((name) => !known.has(name)), [], 'a new store method needs a case in WRITES (or READ_ONLY if it changes no row)');
  });

  for (const [name, check] of Object.entries(WRITES)) test(name, check);
});

describe('claims count only runs that ended with the worker gone', () => {
  test('a queued claim does not count; starting counts it; handing back (release or retry) returns it', async () => {
    const { store, read } = await held();
    assert.equal((await read())?.claims, 0, 'claimed while queued: waiting for a slot is not running');
    await store.markStarted('video_a', 'runner-1', '{}', NOW + 1);
    assert.equal((await read())?.claims, 1);
    await store.release('video_a', 'runner-1', NOW);
    assert.equal((await read())?.claims, 0, 'a clean stop hands the claim back');

    assert.equal((await store.claimDue('local', 'runner-2', NOW + 2, NOW + 3, 10))[0]?.claims, 1, 'claiming a running task counts at once');
    await store.retry('video_a', 'runner-2', NOW + 2);
    const retried = await read();
    assert.equal(retried?.claims, 0);
    assert.equal(retried?.attempts, 1, 'a failed step counts as an attempt, not as a lost claim');

    // A worker that dies holding the lease never hands it back: the next claim sees both.
    await store.claimDue('local', 'runner-3', NOW + 3, NOW + 4, 10);
    assert.equal((await store.claimDue('local', 'runner-4', NOW + 5, NOW + 6, 10))[0]?.claims, 2);
    assert.equal((await read())?.attempts, 1);
  });

  test('a runner that claims its own running task again (its heartbeat came late) loses no run: the claim it held goes on', async () => {
    const { store, read } = await held();
    await store.markStarted('video_a', 'runner-1', '{}', NOW + 1);
    assert.equal((await read())?.claims, 1);
    // The lease (until NOW + 30 s) ran out before runner-1 renewed it, and no one else took it.
    for (let late = 1; late <= 3; late++) {
      const again = await store.claimDue('local', 'runner-1', NOW + 40_000 * late, NOW + 40_000 * late + 30_000, 10);
      assert.equal(again[0]?.claims, 1, `late heartbeat ${late}`);
    }
    await store.release('video_a', 'runner-1', NOW + 130_000);
    assert.equal((await read())?.claims, 0, 'ended cleanly: nothing was lost');
  });
});

describe('an Idempotency-Key commits with its task', () => {
  test('the first task under a key is saved with its claim; a second is refused and answered the first', async () => {
    const store = await freshStore();
    await store.insertKey(KEY);
    assert.equal(await store.insertTaskOnce(taskRow('video_a'), ONCE), null);
    const held = await store.insertTaskOnce(taskRow('video_b'), { ...ONCE, hash: 'another' });
    assert.equal(held?.task.id, 'video_a');
    assert.equal(held?.claim.request_hash, 'hash-of-request');
    assert.equal(await store.taskById('video_b'), undefined, 'the second task is not saved');
    assert.equal((await store.idempotentTask(KEY.id, ONCE.key, ONCE.staleBefore))?.task.id, 'video_a');
  });

  test("a claim whose task is gone, or that is past the window, is taken over", async () => {
    const store = await freshStore();
    await store.insertKey(KEY);
    await store.insertTaskOnce(taskRow('video_a'), ONCE);
    await store.settle('video_a', { kind: 'deleted', keyId: KEY.id, now: NOW + 1 });
    assert.equal(await store.idempotentTask(KEY.id, ONCE.key, ONCE.staleBefore), undefined);
    assert.equal(await store.insertTaskOnce(taskRow('video_b'), ONCE), null);
    assert.equal((await store.idempotentTask(KEY.id, ONCE.key, ONCE.staleBefore))?.task.id, 'video_b');

    const later = { ...ONCE, staleBefore: NOW + 1 };
    assert.equal(await store.idempotentTask(KEY.id, ONCE.key, later.staleBefore), undefined);
    assert.equal(await store.insertTaskOnce(taskRow('video_c', { created_at: NOW + 2 }), later), null);
    assert.equal((await store.idempotentTask(KEY.id, ONCE.key, later.staleBefore))?.task.id, 'video_c');
  });

  test('a task that cannot be saved leaves no claim behind', async () => {
    const store = await freshStore();
    await store.insertKey(KEY);
    await store.insertTask(taskRow('video_a'));
    // The same id again: the insert fails, and the transaction takes the claim back with it.
    await assert.rejects(store.insertTaskOnce(taskRow('video_a'), ONCE));
    assert.equal(await store.insertTaskOnce(taskRow('video_b'), ONCE), null);
  });
});

/**
 * The moment between a provider answering `completed` with a local file and the runner
 * storing it is too short to hit over HTTP, so a provider that answers when the test says
 * so drives a real runner on a real store and disk here.
 */
describe('a finished render whose task is gone, or whose runner stops, leaves no file', () => {
  async function scene(storageFor: (local: LocalStorage, store: Store) => Storage = (local) => local) {
    const dir = scratchDir();
    const store = await freshStore(dir);
    const storage = storageFor(new LocalStorage(path.join(dir, 'files')), store);
    const file = path.join(dir, 'render.mp4');
    let asked!: () => void;
    const statusAsked = new Promise<void>((resolve) => (asked = resolve));
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const provider: VideoProvider = {
      name: 'gated',
      start: async () => ({}),
      // Answers only when the test lets it, whatever happened to the task meanwhile.
      async status(): Promise<ProviderStatus> {
        asked();
        await answered;
        copyFileSync(mp4File(1), file);
        return { state: 'completed', file };
      },
    };
    const log = pino({ level: 'silent' });
    const guard = { allowedPrivateHosts: new Set<string>(), maxBytes: 1 << 20, timeoutMs: 1000 };
    const keeper = new Keeper({ store, storage, clock: systemClock, log, videoTtlMs: 60_000, guard, scratchDirectory: path.join(dir, 'scratch'), prices: buildPriceTable(), creditMicros: 5_000, stillsOnKeep: false });
    const runner = new Runner({ store, storage, clock: systemClock, log, keeper, renderer: provider, upstream: null, concurrency: 1, leaseMs: 30_000, idleMs: 20 });
    await store.insertKey(KEY);
    await store.insertTask(taskRow('video_a', { created_at: Date.now(), run_after: Date.now() }));
    runner.start();
    await statusAsked;
    return { dir, store, runner, file, answer };
  }

  test('cancelled while the provider answers: the file is removed, nothing is stored', async () => {
    const { dir, store, runner, file, answer } = await scene();
    await store.settle('video_a', { kind: 'cancelled', keyId: KEY.id, now: Date.now() });
    runner.abandon('video_a');
    answer();
    await runner.stop();
    assert.equal(existsSync(file), false, "the provider's file is removed");
    assert.equal(existsSync(path.join(dir, 'files', 'videos', 'video_a')), false);
  });

  test('stopped while the provider answers: the file is removed and the task handed back', async () => {
    const { store, runner, file, answer } = await scene();
    const stopped = runner.stop();
    answer();
    await stopped;
    assert.equal(existsSync(file), false, "the provider's file is removed");
    const task = await store.taskById('video_a');
    assert.equal(task?.status, 'in_progress');
    assert.equal(task?.lease_owner, null, 'handed back for the next runner');
  });

  test('cancelled while the file is being stored: the stored copy is removed', async () => {
    // Storage that lets the cancel land just as the file is moved in.
    const cancelling = (local: LocalStorage, store: Store): Storage =>
      Object.assign(Object.create(local) as LocalStorage, {
        async putFile(key: string, source: string) {
          await store.settle('video_a', { kind: 'cancelled', keyId: KEY.id, now: Date.now() });
          return local.putFile(key, source);
        },
      });
    const { dir, store, runner, file, answer } = await scene(cancelling);
    answer();
    await waitUntil(async () => (await store.taskById('video_a'))?.status === 'cancelled' && !existsSync(file), 'the task cancelled and its file gone', 10_000, 20);
    await runner.stop();
    assert.equal(existsSync(path.join(dir, 'files', 'videos', 'video_a')), false, 'no video kept for a cancelled task');
  });
});

describe('a change is announced before the write that made it answers', () => {
  /**
   * Another process drops a changed row from its cache when the notice reaches it; a client
   * that asks it right after the writer's answer must not find it still on its way from the
   * writer. A notice the server has taken is delivered to a listening connection before the
   * answer to that connection's next query, so one round trip after the write tells.
   */
  test('a statement (a key revoked) and a transaction (a task cancelled)', { skip: TEST_STORE !== 'postgres' && 'SQLite readers look at data_version on every read' }, async () => {
    const schema = newSchema();
    const store = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4 });
    opened.push(store);
    const listener = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await listener.connect();
    try {
      const heard: string[] = [];
      listener.on('notification', ({ payload }) => heard.push(...(payload ?? '').split('\n')));
      await listener.query(`LISTEN "${changeChannel(schema)}"`);
      await store.insertKey(KEY);
      await store.insertTask(taskRow('video_n1'));
      await listener.query('select 1');
      heard.length = 0;

      assert.equal(await store.revokeKey(KEY.id, NOW + 1), true);
      await listener.query('select 1');
      assert.deepEqual(heard, [`api_keys ${KEY.id}`]);

      assert.ok(await store.settle('video_n1', { kind: 'cancelled', keyId: KEY.id, now: NOW + 2 }));
      await listener.query('select 1');
      assert.deepEqual(heard, [`api_keys ${KEY.id}`, 'tasks video_n1']);
    } finally {
      await listener.end();
    }
  });
});

describe('keys', () => {
  test('a key is active until revoked, at once (signed links ask this of their owner key)', async () => {
    const store = await freshStore();
    const keys = new KeyService(store);
    const { id } = await keys.create('owner');
    assert.equal(await keys.isActive(id), true);
    assert.equal(await keys.isActive('key_unknown'), false);
    assert.equal(await keys.revoke(id), true);
    assert.equal(await keys.isActive(id), false);
  });
});

describe('a revoked key makes nothing', () => {
  // Another process may still hold the key as valid for a moment (its cache hears of the
  // revoke by a notice): the write itself refuses, whichever way the create is saved.
  test('no task, no hold: alone, with a hold, in a group, with an Idempotency-Key', async () => {
    const store = await freshStore();
    await store.insertKey({ ...KEY, balance: 1_000_000 });
    await store.insertKey({ ...KEY, id: 'key_2', hash: 'hash-2' });
    await store.revokeKey(KEY.id, NOW + 1);
    await store.revokeKey('key_2', NOW + 1);
    const creates = [
      store.insertTask(taskRow('video_r1', { hold: 50_000 })),
      store.insertTask(taskRow('video_r2', { hold: 60_000 })),
      store.insertTask(taskRow('video_r3', { key_id: 'key_2' })),
      store.insertTask(taskRow('video_r4', { key_id: 'key_2' })),
      store.insertTaskOnce(taskRow('video_r5', { key_id: 'key_2' }), ONCE),
    ];
    for (const outcome of await Promise.allSettled(creates)) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(outcome.reason instanceof KeyRevoked, String(outcome.reason));
    }
    for (const id of ['video_r1', 'video_r2', 'video_r3', 'video_r4', 'video_r5']) assert.equal(await store.taskById(id), undefined, id);
    assert.equal((await store.keyById(KEY.id))?.balance, 1_000_000);
    assert.deepEqual((await store.ledger(KEY.id, 0, 10)).filter((entry) => entry.kind === 'hold'), []);
  });
});

describe('the gauges GET /metrics reads', () => {
  test('bytes kept count only videos still kept; money held, only unfinished tasks; captured, every charge', async () => {
    const store = await freshStore();
    await store.insertKey({ ...KEY, balance: 10_000 });
    await store.insertTask(taskRow('video_kept', { status: 'completed', video_key: 'videos/video_kept/video.mp4', video_size: 1000 }));
    await store.insertTask(taskRow('video_expired', { status: 'completed', video_key: null, video_size: 2000 }));
    await store.insertTask(taskRow('video_held', { status: 'queued', price: 300, hold: 300 }));
    await store.insertTask(taskRow('video_running', { status: 'in_progress', price: 200, hold: 200 }));
    await store.insertTask(taskRow('video_done', { status: 'in_progress', price: 500, hold: 500 }));
    await store.settle('video_done', { kind: 'cancelled', keyId: KEY.id, now: NOW + 1 });
    await store.insertTask(taskRow('video_paid', { status: 'in_progress', price: 400, hold: 400, lease_owner: 'w1', lease_expires_at: NOW + 60_000 }));
    const made = { owner: 'w1', now: NOW + 2, expiresAt: NOW + 86_400_000, seconds: '3', size: '480p', usage: null, upstreamCost: null };
    await store.settle('video_paid', { kind: 'completed', ...made, videoKey: 'videos/video_paid/video.mp4', videoSize: 3000, cost: 250 });
    const gauges = await store.gauges(NOW + 3);
    assert.deepEqual({ kept: gauges.storageBytes, held: gauges.moneyHeld, captured: gauges.moneyCaptured }, { kept: 4000, held: 500, captured: 250 });
  });
});

describe('task creates arriving together are written together', () => {
  test('30 creates at once on a key with room for 20 (balance): 20 are saved with their holds, 10 refused, none lost or doubled', async () => {
    const store = await freshStore();
    await store.insertKey({ ...KEY, id: 'key_g', hash: 'hash-g', balance: 20 * 1000 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => store.insertTask(taskRow(`video_g${String(i).padStart(3, '0')}`, { key_id: 'key_g', price: 1000, hold: 1000 }))),
    );
    const saved = outcomes.filter((one) => one.status === 'fulfilled').length;
    const refused = outcomes.filter((one): one is PromiseRejectedResult => one.status === 'rejected');
    assert.equal(saved, 20);
    assert.equal(refused.length, 10);
    for (const one of refused) assert.equal((one.reason as Error).name, 'InsufficientBalance', String(one.reason));
    assert.equal((await store.keyById('key_g'))?.balance, 0);
    let found = 0;
    for (let i = 0; i < 30; i++) if (await store.taskById(`video_g${String(i).padStart(3, '0')}`)) found++;
    assert.equal(found, 20);
  });

  test('30 creates at once on a metered key with room for all: every hold taken, each ledger entry with the balance after it, as if made one by one', async () => {
    const store = await freshStore();
    await store.insertKey({ ...KEY, id: 'key_m', hash: 'hash-m', balance: 100_000 });
    const ids = Array.from({ length: 30 }, (_, i) => `video_m${String(i).padStart(3, '0')}`);
    await Promise.all(ids.map((id, i) => store.insertTask(taskRow(id, { key_id: 'key_m', price: 100 + i, hold: 100 + i }))));
    const total = ids.reduce((sum, _, i) => sum + 100 + i, 0);
    assert.equal((await store.keyById('key_m'))?.balance, 100_000 - total);
    const holds = (await store.ledger('key_m', 0, 100)).filter((entry) => entry.kind === 'hold');
    assert.deepEqual(holds.map((entry) => entry.task_id).sort(), [...ids].sort());
    let balance = 100_000;
    for (const entry of holds) {
      balance += entry.amount;
      assert.equal(entry.balance, balance, 'each entry carries the balance after it, in the order written');
      assert.equal(entry.amount, -(100 + ids.indexOf(entry.task_id!)));
    }
    const audit = await store.ledgerAudit();
    assert.deepEqual([audit.balanceMismatches, audit.negativeEntries, audit.holdsMissing], [[], [], []]);
  });

  test('creates at once on a key without limits and on one with room for 5 unfinished: all of the first saved, 5 of the second, each exactly as given', async () => {
    const store = await freshStore();
    await store.insertKey({ ...KEY, id: 'key_free', hash: 'hash-free' });
    await store.insertKey({ ...KEY, id: 'key_five', hash: 'hash-five', limit_in_flight: 5 });
    const name = (key: string, i: number) => `video_${key}${String(i).padStart(3, '0')}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => {
        const key = i % 2 === 0 ? 'free' : 'five';
        return store.insertTask(taskRow(name(key, i), { key_id: `key_${key}`, prompt: `prompt ${i}`, price: i }));
      }),
    );
    const refused = outcomes.flatMap((one, i) => (one.status === 'rejected' ? [{ i, reason: one.reason as Error & { code?: string } }] : []));
    assert.deepEqual(refused.map(({ i }) => i % 2), Array(15).fill(1), 'only the limited key is refused');
    for (const { reason } of refused) assert.equal(reason.code, 'tasks_in_flight_limit', String(reason));
    for (let i = 0; i < 40; i += 2) {
      const task = await store.taskById(name('free', i));
      assert.equal(task?.prompt, `prompt ${i}`);
      assert.equal(task?.price, i);
    }
  });

  test('metered creates on two keys from two stores at once (two processes): every hold taken once, in either order, the books agree', async () => {
    const stores = await openTestStores(scratchDir(), 2);
    opened.push(...stores);
    await stores[0]!.insertKey({ ...KEY, id: 'key_a', hash: 'hash-a', balance: 1_000_000 });
    await stores[0]!.insertKey({ ...KEY, id: 'key_b', hash: 'hash-b', balance: 1_000_000 });
    // Each store's groups hold both keys, one store's in the other order: two groups must meet in one order, not deadlock.
    const made = stores.flatMap((store, s) =>
      Array.from({ length: 60 }, (_, i) => {
        const key = (i + s) % 2 === 0 ? 'key_a' : 'key_b';
        return store.insertTask(taskRow(`video_s${s}_${String(i).padStart(3, '0')}`, { key_id: key, price: 100 + i, hold: 100 + i }));
      }),
    );
    await Promise.all(made);
    const held = (s: number, key: string) => Array.from({ length: 60 }, (_, i) => ((i + s) % 2 === 0 ? 'key_a' : 'key_b') === key ? 100 + i : 0).reduce((a, b) => a + b, 0);
    for (const key of ['key_a', 'key_b']) {
      assert.equal((await stores[1]!.keyById(key))?.balance, 1_000_000 - held(0, key) - held(1, key));
      const holds = (await stores[1]!.ledger(key, 0, 1000)).filter((entry) => entry.kind === 'hold');
      assert.equal(holds.length, 60);
      assert.equal(new Set(holds.map((entry) => entry.task_id)).size, 60);
    }
    const audit = await stores[1]!.ledgerAudit();
    assert.deepEqual([audit.balanceMismatches, audit.negativeEntries, audit.holdsMissing], [[], [], []]);
  });

  test('creates at once with every field set come back exactly as given: text of any kind, times and sizes near 2^53', async () => {
    const store = await freshStore();
    await store.insertKey(KEY);
    const texts = ['quote " and \' and \\ backslash', 'ünïcödé — 视频 🎬', '{"json": [1, 2.5, null]}', 'line\nbreak\ttab', ' ', 'null'];
    const given = Array.from({ length: 24 }, (_, i) =>
      taskRow(`video_x${String(i).padStart(3, '0')}`, {
        prompt: texts[i % texts.length]!,
        status: i % 3 === 0 ? 'queued' : 'in_progress',
        progress: i,
        remixed_from_video_id: `video_source${i}`,
        warnings: JSON.stringify([{ field: 'x', message: texts[(i + 1) % texts.length] }]),
        provider: 'xai',
        operation: `{"id":"op-${i}"}`,
        submit_started_at: NOW + i,
        usage: '{"seconds":3}',
        error_code: `code_${i}`,
        error_message: texts[(i + 2) % texts.length]!,
        created_at: NOW + i,
        updated_at: Number.MAX_SAFE_INTEGER - i,
        started_at: NOW + 1,
        completed_at: NOW + 2,
        expires_at: 2 ** 52 + i,
        run_after: NOW + 3,
        attempts: 2,
        claims: 1,
        lease_owner: `runner-${i}`,
        lease_expires_at: NOW + 4,
        video_key: `files/video_x${i}/video.mp4`,
        video_size: 2 ** 40 + i,
        price: 1_000_000_000_000 + i,
        cost: 7,
        mode: i % 2 === 0 ? 'live' : 'test',
        request_id: `req_${i}`,
        callback_url: `https://hooks.example.com/${i}?a=1&b=2`,
      }),
    );
    await Promise.all(given.map((task) => store.insertTask(task)));
    for (const task of given) assert.deepEqual(await store.taskById(task.id), task);
  });

  test("a heartbeat renews all of a runner's leases at once, more than one statement's worth, and names those it holds no more", async () => {
    const store = await freshStore();
    const ids = Array.from({ length: 150 }, (_, i) => `video_r${String(i).padStart(3, '0')}`);
    for (const id of ids) await store.insertTask(taskRow(id, { provider: 'xai', operation: '{}', status: 'in_progress', created_at: NOW, run_after: NOW }));
    assert.equal((await store.claimDue('upstream', 'runner-1', NOW, NOW + 30_000, 200)).length, 150);
    // One was handed back by its check; another runner holds one more.
    assert.equal(await store.checked(ids[3]!, 'runner-1', { progress: 5, updatedAt: NOW + 1, runAfter: NOW + 60_000 }), true);
    await store.insertTask(taskRow('video_other', { provider: 'xai', operation: '{}', status: 'in_progress', created_at: NOW, run_after: NOW }));
    assert.equal((await store.claimDue('upstream', 'runner-2', NOW, NOW + 30_000, 10)).length, 1);

    const renewed = await store.renewLeases([...ids, 'video_other'], 'runner-1', NOW + 90_000);
    assert.deepEqual([...renewed].sort(), ids.filter((id) => id !== ids[3]));
    for (const id of ids) assert.equal((await store.taskById(id))?.lease_expires_at, id === ids[3] ? null : NOW + 90_000);
    assert.equal((await store.taskById('video_other'))?.lease_expires_at, NOW + 30_000);
  });

  test('checks of upstream tasks written together: each under its own lease, with its own values; one whose lease another runner took is refused alone', async () => {
    const store = await freshStore();
    const ids = Array.from({ length: 24 }, (_, i) => `video_c${String(i).padStart(3, '0')}`);
    for (const id of ids) await store.insertTask(taskRow(id, { provider: 'xai', operation: '{}', status: 'in_progress', created_at: NOW, run_after: NOW }));
    assert.equal((await store.claimDue('upstream', 'runner-1', NOW, NOW + 30_000, 100)).length, 24);
    // The lease of one ran out, and another runner holds it now.
    assert.equal((await store.renewLeases(ids.filter((id) => id !== ids[5]), 'runner-1', NOW + 100_000)).size, 23);
    assert.equal((await store.claimDue('upstream', 'runner-2', NOW + 40_000, NOW + 70_000, 100)).map((task) => task.id).join(), ids[5]);
    const answers = await Promise.all(ids.map((id, i) => store.checked(id, 'runner-1', { progress: i, updatedAt: NOW + i, runAfter: NOW + 1000 * i })));
    assert.deepEqual(answers, ids.map((_, i) => i !== 5));
    for (const [i, id] of ids.entries()) {
      const task = (await store.taskById(id))!;
      if (i === 5) assert.deepEqual([task.lease_owner, task.progress], ['runner-2', 0]);
      else assert.deepEqual([task.progress, task.updated_at, task.run_after, task.lease_owner, task.claims], [i, NOW + i, NOW + 1000 * i, null, 0]);
    }
  });

  test('more creates at once than one statement takes, one of them late in the group refused: only that one fails, and no saved one is answered an error', async () => {
    const store = await freshStore();
    await store.insertKey(KEY);
    await store.insertTask(taskRow('video_taken'));
    // 100 arrive together; the 81st cannot be written. A group written in two statements that
    // commit one by one would have its first 64 saved and then, written again alone, refused.
    const ids = Array.from({ length: 100 }, (_, i) => (i === 80 ? 'video_taken' : `video_w${String(i).padStart(3, '0')}`));
    const outcomes = await Promise.allSettled(ids.map((id) => store.insertTask(taskRow(id, { prompt: 'new' }))));
    assert.deepEqual(outcomes.map((one) => one.status), ids.map((id) => (id === 'video_taken' ? 'rejected' : 'fulfilled')));
    for (const id of ids) assert.equal((await store.taskById(id))?.prompt, id === 'video_taken' ? taskRow('x').prompt : 'new');
  });

  test('a create that cannot be written (its id taken) fails alone: the others that arrived with it are saved', async () => {
    const store = await freshStore();
    await store.insertTask(taskRow('video_taken'));
    const ids = Array.from({ length: 20 }, (_, i) => (i === 7 ? 'video_taken' : `video_n${String(i).padStart(3, '0')}`));
    const outcomes = await Promise.allSettled(ids.map((id) => store.insertTask(taskRow(id, { prompt: 'new' }))));
    assert.deepEqual(outcomes.map((one) => one.status), ids.map((id) => (id === 'video_taken' ? 'rejected' : 'fulfilled')));
    for (const id of ids) assert.equal((await store.taskById(id))?.prompt, id === 'video_taken' ? taskRow('x').prompt : 'new');
  });
});
