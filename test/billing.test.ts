import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { ADMIN_KEY, Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { xaiChannel } from './support/upstream-kit.ts';

/**
 * Money over real HTTP: prices shown and quoted, a metered key's balance held at submit,
 * captured from the probed video or released in full, each step a ledger entry, and the
 * balance never below zero. Two gateways: `queue` (ROLE=api: nothing runs, tasks stay
 * queued) and `full` (the preview renderer, and grok-video-1.5 on an xAI fake that serves a
 * 2 s video whatever was asked).
 */
let queue: RunningGateway;
let full: RunningGateway;
let fake: FakeUpstream;

before(async () => {
  fake = await startFakeXai({ completeAfterMs: 100 });
  [queue, full] = await Promise.all([
    startGateway({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '100000' }),
    startGateway({ CHANNELS: JSON.stringify([xaiChannel('x', fake, { models: ['grok-video-1.5'] })]) }),
  ]);
});
after(async () => {
  for (const gateway of [queue, full]) {
    await gateway?.stop();
    if (gateway) removeDataDir(gateway.dataDir);
  }
  await fake?.close();
});

// Default prices (micro-dollars a second): grok-imagine 480p 50,000; grok-video-1.5 480P 80,000.
const GROK_480 = 50_000;
const textTask = (seconds: number) => ({ model: 'grok-imagine', prompt: 'a lighthouse at dusk', duration: seconds, size: '480p' });

async function admin(gateway: RunningGateway, method: string, route: string, body?: unknown) {
  const response = await fetch(`${gateway.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** A client whose key holds `balance` micro-dollars. */
async function metered(gateway: RunningGateway, balance: number): Promise<Client & { id: string }> {
  const { status, body } = await admin(gateway, 'POST', '/admin/keys', { name: 'metered', balance });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.balance, balance);
  return Object.assign(new Client(gateway.url, body.key), { id: body.id as string });
}

async function balanceOf(client: Client): Promise<number | null> {
  const { status, body } = await client.json('GET', '/v1/balance');
  assert.equal(status, 200);
  return body.balance;
}

async function ledgerOf(gateway: RunningGateway, keyId: string) {
  const { status, body } = await admin(gateway, 'GET', `/admin/keys/${keyId}/ledger?limit=100`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.data as { kind: string; amount: number; balance: number; task_id: string | null; note: string | null }[];
}

describe('prices', () => {
  test('GET /v1/models shows every model its prices, in micro-dollars', async () => {
    const client = await newClient(queue);
    const { body } = await client.json('GET', '/v1/models');
    for (const model of body.data) {
      assert.equal(model.pricing.currency, 'USD', model.id);
      assert.ok(Object.values(model.pricing.per_second).every((rate) => Number.isInteger(rate) && (rate as number) > 0), model.id);
    }
    const grok = body.data.find((model: { id: string }) => model.id === 'grok-imagine');
    assert.deepEqual(grok.pricing.per_second, { '480p': 50_000, '720p': 70_000 });
  });

  test('a task is quoted at submit: the price in a header and in the task, for any key', async () => {
    const client = await newClient(queue);
    const response = await client.request('POST', '/v1/videos', textTask(4));
    const task = (await response.json()) as { billing: Record<string, unknown> };
    assert.equal(response.headers.get('x-vidgate-price'), String(4 * GROK_480));
    assert.deepEqual(task.billing, { currency: 'USD', unit: 'micro', price: 4 * GROK_480, cost: null, metered: false });
    const { body: balance } = await client.json('GET', '/v1/balance');
    assert.equal(balance.metered, false);
    assert.equal(balance.balance, null, 'an unmetered key has no balance');
  });
});

describe('holds at submit', () => {
  test('a metered key holds the price with the task; a balance short of it is 402 insufficient_quota and makes no task', async () => {
    const client = await metered(queue, 5 * GROK_480);
    const first = await client.json('POST', '/v1/videos', textTask(4));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.billing.metered, true);
    assert.equal(await balanceOf(client), GROK_480);

    const refused = await client.json('POST', '/v1/videos', textTask(2));
    assert.equal(refused.status, 402);
    assert.deepEqual(Object.keys(refused.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(refused.body.error.code, 'insufficient_quota');
    assert.equal(await balanceOf(client), GROK_480, 'nothing was taken');
    const { body: list } = await client.json('GET', '/v1/videos');
    assert.deepEqual(list.data.map((task: { id: string }) => task.id), [first.body.id], 'no task was made');
    assert.deepEqual((await ledgerOf(queue, client.id)).map(({ kind, amount, balance }) => [kind, amount, balance]), [['hold', -4 * GROK_480, GROK_480]]);
  });

  test('a replayed Idempotency-Key answers the first task and never holds twice', async () => {
    const client = await metered(queue, 10 * GROK_480);
    const headers = { 'idempotency-key': 'pay-once' };
    const first = await client.json('POST', '/v1/videos', textTask(3), headers);
    const again = await client.json('POST', '/v1/videos', textTask(3), headers);
    assert.equal(again.body.id, first.body.id);
    assert.equal(await balanceOf(client), 7 * GROK_480);
    assert.equal((await ledgerOf(queue, client.id)).length, 1);
  });

  test('fifty submits racing for the last of a balance: exactly as many accepted as it covers, never below zero', async () => {
    const client = await metered(queue, 7 * 2 * GROK_480 + GROK_480 / 2);
    const answers = await Promise.all(Array.from({ length: 50 }, () => client.json('POST', '/v1/videos', textTask(2))));
    const statuses = answers.map((answer) => answer.status);
    assert.equal(statuses.filter((status) => status === 200).length, 7, JSON.stringify(statuses));
    assert.equal(statuses.filter((status) => status === 402).length, 43);
    assert.equal(await balanceOf(client), GROK_480 / 2);
    const ledger = await ledgerOf(queue, client.id);
    assert.equal(ledger.length, 7);
    assert.ok(ledger.every((entry) => entry.balance >= 0));
    assert.equal(7 * 2 * GROK_480 + GROK_480 / 2 + ledger.reduce((sum, entry) => sum + entry.amount, 0), GROK_480 / 2, 'the balance is the sum of its entries');
  });
});

describe('the end of a task settles its hold once', () => {
  test('cancelled: released in full; deleted while queued: released in full', async () => {
    const client = await metered(queue, 10 * GROK_480);
    const cancelled = await client.json('POST', '/v1/videos', textTask(3));
    const deleted = await client.json('POST', '/v1/videos', textTask(2));
    assert.equal(await balanceOf(client), 5 * GROK_480);
    const cancel = await client.json('POST', `/v1/videos/${cancelled.body.id}/cancel`);
    assert.equal(cancel.body.status, 'cancelled');
    assert.equal(cancel.body.billing.cost, 0);
    assert.equal((await client.json('DELETE', `/v1/videos/${deleted.body.id}`)).status, 200);
    assert.equal(await balanceOf(client), 10 * GROK_480);
    const ledger = await ledgerOf(queue, client.id);
    assert.deepEqual(
      ledger.map(({ kind, task_id, amount }) => [kind, task_id, amount]),
      [
        ['hold', cancelled.body.id, -3 * GROK_480],
        ['hold', deleted.body.id, -2 * GROK_480],
        ['release', cancelled.body.id, 3 * GROK_480],
        ['release', deleted.body.id, 2 * GROK_480],
      ],
    );
    // A second cancel changes nothing.
    assert.equal((await client.json('POST', `/v1/videos/${cancelled.body.id}/cancel`)).status, 409);
    assert.equal((await ledgerOf(queue, client.id)).length, 4);
  });

  test('completed on the preview renderer: the probed length is captured, nothing given back', async () => {
    const client = await metered(full, 10 * GROK_480);
    const { body } = await client.json('POST', '/v1/videos', textTask(2));
    const task = await client.waitFor(body.id, 60_000);
    assert.equal(task.status, 'completed', JSON.stringify(task));
    assert.equal(task.billing.cost, 2 * GROK_480);
    assert.equal(await balanceOf(client), 8 * GROK_480);
    assert.deepEqual(
      (await ledgerOf(full, client.id)).map(({ kind, amount, note }) => [kind, amount, note]),
      [['hold', -2 * GROK_480, null], ['capture', 0, `cost ${2 * GROK_480}`]],
    );
  });

  test('completed upstream shorter than asked: the probed 2 s are billed, never the 6 asked for, and the rest given back', async () => {
    const rate = 80_000;
    const client = await metered(full, 10 * rate);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: 'a fox', duration: 6, size: '480P' });
    assert.equal(body.billing.price, 6 * rate);
    const task = await client.waitFor(body.id, 30_000);
    assert.equal(task.status, 'completed', JSON.stringify(task));
    assert.equal(task.seconds, '2');
    assert.equal(task.billing.cost, 2 * rate);
    assert.equal(await balanceOf(client), 8 * rate);
    assert.deepEqual((await ledgerOf(full, client.id)).map(({ kind, amount }) => [kind, amount]), [['hold', -6 * rate], ['capture', 4 * rate]]);
  });

  test('failed upstream: released in full', async () => {
    const rate = 80_000;
    const client = await metered(full, 10 * rate);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: 'a fox #fail', duration: 3, size: '480P' });
    const task = await client.waitFor(body.id, 30_000);
    assert.equal(task.status, 'failed', JSON.stringify(task));
    assert.equal(task.billing.cost, 0);
    assert.equal(await balanceOf(client), 10 * rate);
    assert.deepEqual((await ledgerOf(full, client.id)).map(({ kind, amount }) => [kind, amount]), [['hold', -3 * rate], ['release', 3 * rate]]);
  });

  test('an unmetered key is priced and billed, never refused', async () => {
    const client = await newClient(full);
    const { body } = await client.json('POST', '/v1/videos', textTask(2));
    const task = await client.waitFor(body.id, 60_000);
    assert.deepEqual(task.billing, { currency: 'USD', unit: 'micro', price: 2 * GROK_480, cost: 2 * GROK_480, metered: false });
  });
});

describe('top-ups', () => {
  test('the operator tops a metered key up, with a ledger entry; an unmetered key, a bad amount or an unknown key are refused', async () => {
    const client = await metered(queue, 0);
    assert.equal((await client.json('POST', '/v1/videos', textTask(1))).status, 402);
    const topped = await admin(queue, 'POST', `/admin/keys/${client.id}/topup`, { amount: 3 * GROK_480, note: 'invoice 7' });
    assert.equal(topped.status, 200, JSON.stringify(topped.body));
    assert.equal(topped.body.balance, 3 * GROK_480);
    assert.equal((await client.json('POST', '/v1/videos', textTask(1))).status, 200);
    assert.deepEqual(
      (await ledgerOf(queue, client.id)).map(({ kind, amount, note }) => [kind, amount, note]),
      [['topup', 3 * GROK_480, 'invoice 7'], ['hold', -GROK_480, null]],
    );

    const unmetered = await admin(queue, 'POST', '/admin/keys', { name: 'free' });
    const refused = await admin(queue, 'POST', `/admin/keys/${unmetered.body.id}/topup`, { amount: 5 });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'key_unmetered');
    for (const amount of [0, -5, 1.5, '10']) {
      const bad = await admin(queue, 'POST', `/admin/keys/${client.id}/topup`, { amount });
      assert.equal(bad.status, 400, String(amount));
      assert.equal(bad.body.error.param, 'amount');
    }
    assert.equal((await admin(queue, 'POST', '/admin/keys/key_nope/topup', { amount: 5 })).status, 404);
    const badBalance = await admin(queue, 'POST', '/admin/keys', { name: 'x', balance: -1 });
    assert.equal(badBalance.status, 400);
    assert.equal(badBalance.body.error.param, 'balance');
  });
});
