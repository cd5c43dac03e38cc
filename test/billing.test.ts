import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { FakeUpstream } from './fakes/server.ts';
import { startFakeXai } from './fakes/xai.ts';
import { ADMIN_KEY, Client, newClient, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { databaseEnv, tamper } from './support/database.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { pngDataUri } from './support/media.ts';
import { xaiChannel } from './support/upstream-kit.ts';

/**
 * Money over real HTTP: prices shown and quoted, a metered key's balance held at submit,
 * captured from the probed video or released in full, each step a ledger entry, and the
 * balance never below zero. Two gateways: `queue` (ROLE=api: nothing runs, tasks stay
 * queued) and `full` (the preview renderer, and grok-video-1.5 on an xAI fake that serves a
 * 2 s video whatever was asked).
 */
const run = promisify(execFile);
let queue: RunningGateway;
let full: RunningGateway;
let fake: FakeUpstream;

before(async () => {
  fake = await startFakeXai({ completeAfterMs: 100 });
  [queue, full] = await Promise.all([
    startGateway({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '100000', PRICES: JSON.stringify({ 'viduq3t-540p': { per_second: { '540p': 12_345 } } }) }),
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

/** A client whose key holds `balance` micro-dollars, its opening balance the first ledger entry. */
async function metered(gateway: RunningGateway, balance: number): Promise<Client & { id: string }> {
  const { status, body } = await admin(gateway, 'POST', '/admin/keys', { name: 'metered', balance });
  assert.equal(status, 201, JSON.stringify(body));
  assert.equal(body.balance, balance);
  const opening = (await admin(gateway, 'GET', `/admin/keys/${body.id}/ledger`)).body.data;
  assert.deepEqual(opening.map((entry: Record<string, unknown>) => [entry.kind, entry.amount, entry.note]), balance > 0 ? [['topup', balance, 'opening balance']] : []);
  return Object.assign(new Client(gateway.url, body.key), { id: body.id as string });
}

async function balanceOf(client: Client): Promise<number | null> {
  const { status, body } = await client.json('GET', '/v1/balance');
  assert.equal(status, 200);
  return body.balance;
}

/** A key's ledger after its opening balance (which metered() checked). */
async function ledgerOf(gateway: RunningGateway, keyId: string) {
  const { status, body } = await admin(gateway, 'GET', `/admin/keys/${keyId}/ledger?limit=100`);
  assert.equal(status, 200, JSON.stringify(body));
  const entries = body.data as { kind: string; amount: number; balance: number; task_id: string | null; note: string | null }[];
  return entries.filter((entry) => entry.note !== 'opening balance');
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

  test('each billing basis of the seeds: tier and output seconds, input images, the input video, off-peak, and the operator\'s PRICES', async () => {
    const client = await newClient(queue);
    const image = pngDataUri(64, 48);
    const video = 'https://example.com/source.mp4';
    const cases: [string, Record<string, unknown>, number][] = [
      ['text, 720p, 5 s', { model: 'grok-imagine', prompt: 'p', duration: 5, size: '720p' }, 5 * 70_000],
      ['one image, 480p, 3 s: + one input image', { model: 'grok-imagine', prompt: 'p', image, duration: 3, size: '480p' }, 3 * 50_000 + 2_000],
      ['two reference images, 720p, 5 s', { model: 'grok-imagine', prompt: 'p', images: [image, image], duration: 5, size: '720p' }, 5 * 70_000 + 2 * 2_000],
      ['edit of an 8 s video at 720p: the output follows it', { model: 'grok-imagine', prompt: 'p', video, size: '720p', extra_body: { operation: 'edit_video', input_video_seconds: 8 } }, 8 * 70_000 + 8 * 10_000],
      ['edit of a video of unknown length: held at the longest accepted (8 s)', { model: 'grok-imagine', prompt: 'p', video, size: '480p', extra_body: { operation: 'edit_video' } }, 8 * 50_000 + 8 * 10_000],
      ['extension by 6 s of an 8 s video (default tier 720p)', { model: 'grok-imagine', prompt: 'p', video, duration: 6, extra_body: { operation: 'video_extend', input_video_seconds: 8 } }, 6 * 70_000 + 8 * 10_000],
      ['Vidu Pro 720p off-peak, 5 s: half price', { model: 'viduq3p-720p-offpeak', prompt: 'p', duration: 5 }, (5 * 90_000) / 2],
      ["Vidu Turbo 540p at the operator's PRICES", { model: 'viduq3t-540p', prompt: 'p', duration: 4 }, 4 * 12_345],
    ];
    for (const [what, body, price] of cases) {
      const { status, body: task } = await client.json('POST', '/v1/videos', body);
      assert.equal(status, 200, `${what}: ${JSON.stringify(task)}`);
      assert.equal(task.billing.price, price, what);
    }
    const models = (await client.json('GET', '/v1/models')).body.data as { id: string; pricing: { per_second: Record<string, number> } }[];
    assert.deepEqual(models.find((model) => model.id === 'viduq3t-540p')?.pricing.per_second, { '540p': 12_345, '720p': 54_000, '1080p': 90_000 });
  });

  test('POST …/quotes prices a create without making anything: the same price, the same refusals, no task, no hold', async () => {
    const client = await metered(queue, 10 * GROK_480);
    const image = pngDataUri(64, 48);
    const video = 'https://example.com/source.mp4';
    for (const [route, body, price] of [
      ['/v1/videos/quotes', { model: 'grok-imagine', prompt: 'p', image, duration: 3, size: '480p' }, 3 * GROK_480 + 2_000],
      ['/v1/videos/edits/quotes', { model: 'grok-imagine', prompt: 'p', video, size: '480p' }, 8 * GROK_480 + 8 * 10_000],
      ['/v1/videos/extensions/quotes', { model: 'grok-imagine', prompt: 'p', video: { url: video }, duration: 4 }, 4 * 70_000 + 15 * 10_000],
    ] as const) {
      const { status, body: answer } = await client.json('POST', route, body);
      assert.equal(status, 200, `${route}: ${JSON.stringify(answer)}`);
      assert.equal(answer.object, 'video.quote');
      assert.equal(answer.price, price, route);
    }
    const quoted = await client.json('POST', '/v1/videos/quotes', textTask(4));
    const made = await client.request('POST', '/v1/videos', textTask(4));
    assert.equal(made.headers.get('x-vidgate-price'), String(quoted.body.price), 'the quote is what the create holds');
    assert.deepEqual(quoted.body.basis, { output_seconds: 4, input_video_seconds: 0, input_images: 0, tier: '480p' });
    // Refused as the create is refused, field named.
    const refused = await client.json('POST', '/v1/videos/quotes', { ...textTask(4), duration: 99 });
    const refusedCreate = await client.json('POST', '/v1/videos', { ...textTask(4), duration: 99 });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, refusedCreate.body);
    // An input that can only reach a private address too (a new user's trial: quotes priced it).
    for (const [route, body] of [
      ['/v1/videos', { ...textTask(3), image: 'http://127.0.0.1/a.png' }],
      ['/v1/videos/edits', { model: 'grok-imagine', prompt: 'p', video: 'http://169.254.169.254/v.mp4' }],
      ['/v1/videos/extensions', { model: 'grok-imagine', prompt: 'p', video: { url: 'http://10.1.1.1/v.mp4' }, duration: 4 }],
    ] as const) {
      const refusedQuote = await client.json('POST', `${route}/quotes`, body);
      assert.equal(refusedQuote.status, 400, `${route}/quotes: ${JSON.stringify(refusedQuote.body)}`);
      assert.deepEqual(refusedQuote.body, (await client.json('POST', route, body)).body);
      assert.equal(refusedQuote.body.error.code, 'input_url_not_allowed');
    }
    // What the inputs are, too: probed where they lie, the key's own videos looked up (a new user's trial: quotes priced them all).
    const noise = `data:video/mp4;base64,${randomBytes(4000).toString('base64')}`;
    for (const [route, body, code] of [
      ['/v1/videos/edits', { model: 'grok-imagine', prompt: 'p', video: noise }, 'invalid_media'],
      ['/v1/videos', { ...textTask(3), image: `data:image/png;base64,${Buffer.from('not a picture').toString('base64')}` }, 'invalid_media'],
      ['/v1/videos', { ...textTask(3), videos: [noise] }, 'invalid_media'],
      ['/v1/videos/extensions', { model: 'grok-imagine', prompt: 'p', video: { id: 'video_0000000000000aaaaaaaaaaaaaaaaaaa' }, duration: 4 }, 'video_not_found'],
    ] as const) {
      const refusedQuote = await client.json('POST', `${route}/quotes`, body);
      assert.equal(refusedQuote.body.error?.code, code, `${route}/quotes: ${JSON.stringify(refusedQuote.body)}`);
      assert.deepEqual(refusedQuote.body, (await client.json('POST', route, body)).body);
    }
    // A model on an upstream channel, with an inline image: priced without storing it.
    const upstream = await newClient(full);
    const inline = await upstream.json('POST', '/v1/videos/quotes', { model: 'grok-video-1.5', prompt: 'p', input_reference: image, duration: 2, size: '480P' });
    assert.equal(inline.status, 200, JSON.stringify(inline.body));
    assert.equal(inline.body.price, 2 * 80_000);
    // Only the one create made a task and held money.
    assert.equal((await client.json('GET', '/v1/videos')).body.data.length, 1);
    assert.equal(await balanceOf(client), 10 * GROK_480 - 4 * GROK_480);
  });

  for (const [what, prices, problem] of [
    ['a model not in the catalog', { 'sora-9': { per_second: { '720p': 1 } } }, /PRICES.*sora-9/],
    ['a rate that is not whole micro-dollars', { 'grok-imagine': { per_second: { '720p': 0.5 } } }, /PRICES/],
    ['an unknown field', { 'grok-imagine': { per_minute: 1 } }, /PRICES/],
  ] as const) {
    test(`PRICES with ${what} is refused at start, by name`, () => {
      assert.throws(() => loadConfig({ PRICES: JSON.stringify(prices) }), (error: unknown) => error instanceof ConfigError && problem.test(error.message));
    });
  }
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

  test('a stream of 10,000 creates on one metered key, 50 at a time: every one taken and held, none lost to a write conflict', async () => {
    const client = await metered(queue, 10_000 * 100_000);
    const body = { model: 'grok-imagine', prompt: 'one of many', duration: 1, size: '480p' };
    const price = (await client.json('POST', '/v1/videos/quotes', body)).body.price as number;
    const answers = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next++ < 10_000) {
          const { status } = await client.json('POST', '/v1/videos', body);
          answers.set(status, (answers.get(status) ?? 0) + 1);
        }
      }),
    );
    assert.deepEqual([...answers], [[200, 10_000]]);
    assert.equal(await balanceOf(client), 10_000 * 100_000 - 10_000 * price);
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
    assert.equal(7 * 2 * GROK_480 + GROK_480 / 2 + ledger.reduce((sum, entry) => sum + entry.amount, 0), GROK_480 / 2, 'the balance is the opening balance and its entries');
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

describe('test-mode keys', () => {
  test('a test key (sk-test-…) runs on the preview renderer though a channel serves the model, is never charged, and its tasks say so', async () => {
    const created = await admin(full, 'POST', '/admin/keys', { name: 'ci', mode: 'test', balance: 1_000 });
    assert.equal(created.status, 201);
    assert.match(created.body.key, /^sk-test-/);
    assert.equal(created.body.mode, 'test');
    const client = new Client(full.url, created.body.key);
    const prompt = 'a test-mode fox';
    const { status, body } = await client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt, duration: 2, size: '480P' });
    assert.equal(status, 200, 'a balance of 1,000 would not cover 160,000: a test task holds nothing');
    assert.equal(body.mode, 'test');
    assert.equal(body.billing.price, 2 * 80_000, 'quoted as live would be');
    const task = await client.waitFor(body.id, 60_000);
    assert.equal(task.status, 'completed', JSON.stringify(task));
    assert.deepEqual(task.billing, { currency: 'USD', unit: 'micro', price: 2 * 80_000, cost: 0, metered: false });
    assert.equal(fake.requests.filter((request) => JSON.stringify(request.body ?? '').includes(prompt)).length, 0, 'the upstream never heard of it');
    assert.equal(await balanceOf(client), 1_000);

    // Refused as live would be: 540P is not an xAI size.
    const refused = await client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt, duration: 2, size: '540P' });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'unsupported_by_upstream');
    // And a live key's task does go upstream: the mode is the key's.
    const live = await newClient(full);
    const made = await live.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: 'a live fox', duration: 2, size: '480P' });
    assert.equal(made.body.mode, 'live');
    assert.equal((await live.waitFor(made.body.id, 30_000)).status, 'completed');
    assert.equal(fake.requests.filter((request) => JSON.stringify(request.body ?? '').includes('a live fox')).length, 1);
    assert.equal((await admin(full, 'POST', '/admin/keys', { name: 'x', mode: 'sandbox' })).body.error.param, 'mode');
  });
});

describe('usage', () => {
  test('per model and per day: what a key spent; for the operator, revenue beside what the upstream charged, and the margin', async () => {
    const client = await newClient(full, 'usage');
    const keyId = (await client.json('GET', '/v1/balance')).body.key_id as string;
    const made = await Promise.all([
      client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: 'usage fox', duration: 2, size: '480P' }),
      client.json('POST', '/v1/videos', { model: 'grok-video-1.5', prompt: 'usage fox #fail', duration: 2, size: '480P' }),
      client.json('POST', '/v1/videos', textTask(2)),
    ]);
    for (const { body } of made) await client.waitFor(body.id, 60_000);
    const tester = (await admin(full, 'POST', '/admin/keys', { name: 'usage-test', mode: 'test' })).body;
    await new Client(full.url, tester.key).waitFor((await new Client(full.url, tester.key).json('POST', '/v1/videos', textTask(1))).body.id, 60_000);

    // xAI reports $0.05 a second: 2 s is 100,000 micro-dollars; we bill 80,000 a second at 480P.
    const operator = await admin(full, 'GET', `/admin/usage?group_by=model&key_id=${keyId}`);
    assert.equal(operator.status, 200, JSON.stringify(operator.body));
    assert.deepEqual(operator.body.data, [
      { group: 'grok-imagine', tasks: 1, completed: 1, revenue: 2 * GROK_480, upstream_cost: null, margin: null },
      { group: 'grok-video-1.5', tasks: 2, completed: 1, revenue: 160_000, upstream_cost: 100_000, margin: 60_000 },
    ]);
    const own = await client.json('GET', '/v1/usage?group_by=model');
    assert.deepEqual(own.body.data, [
      { group: 'grok-imagine', tasks: 1, completed: 1, spend: 2 * GROK_480 },
      { group: 'grok-video-1.5', tasks: 2, completed: 1, spend: 160_000 },
    ]);
    const days = await client.json('GET', '/v1/usage?group_by=day');
    assert.deepEqual(days.body.data, [{ group: new Date().toISOString().slice(0, 10), tasks: 3, completed: 2, spend: 260_000 }]);
    const byKey = (await admin(full, 'GET', '/admin/usage?group_by=key')).body.data as { group: string }[];
    assert.ok(byKey.some((row) => row.group === keyId));
    assert.ok(!byKey.some((row) => row.group === tester.id), 'test-mode tasks are not usage');

    // The CLI reads the same report from the database.
    const cli = (...args: string[]) => run(process.execPath, ['bin/vidgate.js', 'usage', ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: full.dataDir, ...databaseEnv(full.dataDir) } });
    assert.deepEqual(JSON.parse((await cli('--group-by', 'model', '--key-id', keyId)).stdout).data, operator.body.data);
    const wrong = await cli('--from', 'yesterday').catch((error: { code: number; stderr: string }) => error);
    assert.equal((wrong as { code: number }).code, 2);
    assert.match((wrong as { stderr: string }).stderr, /usage: from is a UTC date \(YYYY-MM-DD\) or Unix seconds \(--from\)/);

    for (const [query, param] of [['key_id=x', 'key_id'], ['group_by=key', 'group_by'], ['from=2026-12-01&to=2026-11-01', 'from'], ['from=yesterday', 'from'], ['from=2020-01-01&to=2026-01-01', 'from']] as const) {
      const bad = await client.json('GET', `/v1/usage?${query}`);
      assert.equal(bad.status, 400, query);
      assert.equal(bad.body.error.param, param, query);
    }
  });
});

describe('limits per key', () => {
  async function limited(limits: Record<string, number>) {
    const { status, body } = await admin(queue, 'POST', '/admin/keys', { name: 'limited', limits });
    assert.equal(status, 201, JSON.stringify(body));
    return new Client(queue.url, body.key);
  }
  async function assertLimited(answer: Response, code: string) {
    assert.equal(answer.status, 429);
    const body = (await answer.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.code, code);
    const retryAfter = Number(answer.headers.get('retry-after'));
    assert.ok(retryAfter > 0, `Retry-After ${answer.headers.get('retry-after')}`);
    return retryAfter;
  }

  test('tasks in flight: past the limit a create is 429 with Retry-After, until one ends', async () => {
    const client = await limited({ tasks_in_flight: 2 });
    const first = await client.json('POST', '/v1/videos', textTask(1));
    assert.equal((await client.json('POST', '/v1/videos', textTask(1))).status, 200);
    await assertLimited(await client.request('POST', '/v1/videos', textTask(1)), 'tasks_in_flight_limit');
    await client.json('POST', `/v1/videos/${first.body.id}/cancel`);
    assert.equal((await client.json('POST', '/v1/videos', textTask(1))).status, 200);
  });

  test('spend per UTC day: quoted tasks count while they run; past the limit, 429 until midnight', async () => {
    const client = await limited({ spend_per_day: 5 * GROK_480 });
    const three = await client.json('POST', '/v1/videos', textTask(3));
    assert.equal(three.status, 200);
    assert.equal((await client.json('POST', '/v1/videos', textTask(2))).status, 200);
    const retryAfter = await assertLimited(await client.request('POST', '/v1/videos', textTask(1)), 'daily_spend_limit');
    const midnight = Math.ceil(Date.now() / 86_400_000) * 86_400;
    assert.ok(Math.abs(Date.now() / 1000 + retryAfter - midnight) < 5, 'Retry-After points at the next UTC midnight');
    // A cancelled task costs nothing: its quote no longer counts.
    await client.json('POST', `/v1/videos/${three.body.id}/cancel`);
    assert.equal((await client.json('POST', '/v1/videos', textTask(3))).status, 200);
  });

  test('requests per minute: a key\'s own rate replaces the default', async () => {
    const client = await limited({ requests_per_minute: 3 });
    for (let n = 0; n < 3; n++) assert.equal((await client.json('POST', '/v1/videos', textTask(1))).status, 200);
    await assertLimited(await client.request('POST', '/v1/videos', textTask(1)), 'rate_limit_exceeded');
  });

  test('limits that are not whole positive numbers are refused, naming the limit', async () => {
    for (const limits of [{ tasks_in_flight: 0 }, { spend_per_day: -1 }, { requests_per_minute: 1.5 }, { per_hour: 3 }]) {
      const { status, body } = await admin(queue, 'POST', '/admin/keys', { name: 'x', limits });
      assert.equal(status, 400, JSON.stringify(limits));
      assert.match(body.error.param, /^limits/);
    }
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

describe('vidgate ledger check', () => {
  const check = (dataDir: string) =>
    run(process.execPath, ['bin/vidgate.js', 'ledger', 'check'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir, ...databaseEnv(dataDir) } }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );

  test('the books of both gateways hold after every test above: exit 0', async () => {
    for (const gateway of [queue, full]) assert.deepEqual(await check(gateway.dataDir), { code: 0, stdout: 'ledger ok\n' });
  });

  test('the operator tops up and reads a ledger from the CLI too', async () => {
    const client = await metered(queue, 100);
    const cli = (...args: string[]) => run(process.execPath, ['bin/vidgate.js', ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: queue.dataDir, ...databaseEnv(queue.dataDir) } });
    assert.deepEqual(JSON.parse((await cli('keys', 'topup', client.id, '--amount', '50')).stdout), { key_id: client.id, balance: 150 });
    const ledger = JSON.parse((await cli('keys', 'ledger', client.id)).stdout) as { kind: string; amount: number; balance: number }[];
    assert.deepEqual(ledger.map(({ kind, amount, balance }) => [kind, amount, balance]), [['topup', 100, 100], ['topup', 50, 150]]);
    assert.equal(await balanceOf(client), 150, 'the server sees the CLI\'s top-up at once');
    const refused = await cli('keys', 'topup', 'key_nope', '--amount', '5').catch((error: { code: number; stderr: string }) => error);
    assert.equal((refused as { code: number }).code, 1);
    assert.match((refused as { stderr: string }).stderr, /No key with id 'key_nope'/);
  });

  test('a balance changed behind the ledger, or a hold that never ended, is found: exit 1, a line each', async (t) => {
    const gateway = await startGateway({ ROLE: 'api' });
    t.after(async () => {
      await gateway.stop();
      removeDataDir(gateway.dataDir);
    });
    const client = await metered(gateway, 10 * GROK_480);
    const { body: task } = await client.json('POST', '/v1/videos', textTask(2));
    await tamper(gateway.dataDir, [
      ['UPDATE api_keys SET balance = balance + 1 WHERE id = $1', [client.id]],
      ["UPDATE tasks SET status = 'failed' WHERE id = $1", [task.id]],
    ]);
    const { code, stdout } = await check(gateway.dataDir);
    assert.equal(code, 1);
    assert.match(stdout, new RegExp(`key ${client.id}: balance ${8 * GROK_480 + 1} is not the sum of its ledger entries \\(${8 * GROK_480}\\)`));
    assert.match(stdout, new RegExp(`task ${task.id} \\(failed\\): 0 captures or releases for its hold, not 1`));
    assert.match(stdout, /2 problem\(s\)/);
  });
});
