import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { mp4File, pngFile } from './support/media.ts';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_KEY, type Client, newClient, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { databaseEnv, TEST_DATABASE_URL, TEST_STORE } from './support/database.ts';
import { gateInFront } from './support/tcp-gate.ts';
import { retryUntil, waitUntil } from './support/wait.ts';

/** Keys, ownership, listing, deletion and the error envelope, over real HTTP (ROLE=api: nothing renders). */
let gateway: RunningGateway;
let alice: Client;
let bob: Client;

before(async () => {
  gateway = await startGateway({ ROLE: 'api', MAX_BODY_MB: '2', MAX_INPUT_MB: '1' });
  alice = await newClient(gateway, 'alice');
  bob = await newClient(gateway, 'bob');
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
});

const textTask = { model: 'grok-imagine', prompt: 'a lighthouse at dusk', duration: 3, size: '480p' };

function assertEnvelope(body: { error?: Record<string, unknown> }) {
  assert.ok(body.error, 'an error envelope');
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof body.error.message, 'string');
}

describe('health and authentication', () => {
  test('GET /healthz answers 200', async () => {
    const response = await fetch(`${gateway.url}/healthz`);
    assert.equal(response.status, 200);
  });
  test('GET /readyz answers 200 while the database and storage answer, and 503 naming the one that does not', async (t) => {
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { database: 'ok', storage: 'ok' } });
    // A gateway of its own whose storage folder is a file: nothing can be kept there (a missing bucket: s3.test).
    const broken = await startGateway({ S3_BUCKET: '' });
    t.after(async () => {
      await broken.stop();
      removeDataDir(broken.dataDir);
    });
    rmSync(path.join(broken.dataDir, 'files'), { recursive: true, force: true });
    writeFileSync(path.join(broken.dataDir, 'files'), 'not a folder');
    const refused = await fetch(`${broken.url}/readyz`);
    assert.equal(refused.status, 503);
    const body = (await refused.json()) as { status: string; checks: Record<string, string> };
    assert.deepEqual([body.status, body.checks.database], ['not_ready', 'ok']);
    assert.notEqual(body.checks.storage, 'ok');
    assert.equal((await fetch(`${broken.url}/healthz`)).status, 200, 'alive all the same');
  });
  test('while PostgreSQL cannot be reached, requests are 503 database_unavailable, and served again once it is back', { skip: TEST_STORE !== 'postgres' }, async (t) => {
    const { gate, url } = await gateInFront(TEST_DATABASE_URL, 5432);
    const cut = await startGateway({ DATABASE_URL: url });
    t.after(async () => {
      await cut.stop();
      removeDataDir(cut.dataDir);
      await gate.close();
    });
    const carol = await newClient(cut, 'carol');
    const create = () => carol.request('POST', '/v1/videos', textTask);
    assert.equal((await create()).status, 200);

    await gate.shut();
    for (const answer of [await create(), await carol.request('GET', '/v1/videos')]) {
      const body = (await answer.json()) as { error: Record<string, unknown> };
      assert.equal(answer.status, 503, JSON.stringify(body));
      assertEnvelope(body);
      assert.deepEqual([body.error.type, body.error.code], ['server_error', 'database_unavailable']);
      assert.equal(answer.headers.get('retry-after'), '2');
    }
    const ready = await fetch(`${cut.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((await fetch(`${cut.url}/healthz`)).status, 200, 'alive all the same');
    // The worker's loops (tasks, webhook deliveries) look every 500 ms: an outage is said once each, not twice a second.
    const logged = cut.logs.length;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const claims = cut.logs.slice(logged).map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level >= 40 && /claiming/.test(line.msg));
    assert.ok(claims.length <= 2, JSON.stringify(claims.map((line) => line.msg)));

    await gate.open();
    const again = await retryUntil(create, (answer) => answer.status === 200, 'a create taken once PostgreSQL is back', 5000, 100);
    assert.equal(again.status, 200);
    const list = await carol.json<{ data: unknown[] }>('GET', '/v1/videos');
    assert.equal(list.body.data.length, 2, 'the first create and the one after, none of those refused');
    await waitUntil(() => cut.logs.some((line) => line.includes('works again')), 'the log line saying the database works again', 3000, 100);
    assert.ok(cut.logs.some((line) => line.includes('works again')), 'the end of the outage is said too');
  });
  test('while PostgreSQL answers nothing, requests are 503 database_unavailable after DATABASE_TIMEOUT_SECONDS, and served again once it answers', { skip: TEST_STORE !== 'postgres' }, async (t) => {
    const { gate, url } = await gateInFront(TEST_DATABASE_URL, 5432);
    const silent = await startGateway({ ROLE: 'api', DATABASE_URL: url, DATABASE_TIMEOUT_SECONDS: '2' });
    t.after(async () => {
      await silent.stop();
      removeDataDir(silent.dataDir);
      await gate.close();
    });
    const dave = await newClient(silent, 'dave');
    const create = (key: string) => dave.request('POST', '/v1/videos', textTask, { 'idempotency-key': key });
    assert.equal((await create('first')).status, 200);

    gate.freeze();
    // More at once than the pool has connections (10): each waits for one, or on one that hangs.
    const keys = [...Array(6)].map((_, index) => `frozen-${index}`);
    const answers = await Promise.all([
      ...keys.map(create),
      ...keys.map(() => dave.request('GET', '/v1/videos')),
      // Without a key, the create's first call to the database is its write.
      dave.request('POST', '/v1/videos', textTask),
    ]);
    const messages = new Set<string>();
    for (const answer of answers) {
      const body = (await answer.json()) as { error: Record<string, unknown> };
      assert.equal(answer.status, 503, JSON.stringify(body));
      assertEnvelope(body);
      assert.deepEqual([body.error.type, body.error.code], ['server_error', 'database_unavailable']);
      messages.add(String(body.error.message));
    }
    // A create whose write went unanswered may have been saved, and is told how to ask again
    // without making a second video; a read (those creates' look for their key's task too) is
    // only told to try again.
    assert.deepEqual([...messages].sort(), [
      'The database cannot be reached now; this create may have been saved: send it again with the same Idempotency-Key (without one, look for the video before making another)',
      'The database cannot be reached now; try again',
    ]);
    assert.equal((await fetch(`${silent.url}/readyz`)).status, 503);
    // A poll is given up after the limit too, not after twice it (the fast path's read, then the app's).
    // The bound is the documented deadline with room for a loaded machine, not a speed claim.
    const started = performance.now();
    const poll = await dave.json('GET', `/v1/videos/video_${'0'.repeat(24)}`);
    const seconds = (performance.now() - started) / 1000;
    assert.deepEqual([poll.status, poll.body.error?.code], [503, 'database_unavailable'], JSON.stringify(poll.body));
    assert.ok(seconds < 3.5, `answered after ${seconds.toFixed(1)} s; the limit is 2 s`);

    gate.thaw();
    const again = await retryUntil(() => create('after'), (answer) => answer.status === 200, 'a create taken once PostgreSQL answers again', 5000, 100);
    assert.equal(again.status, 200);
    // Each create refused is sent again with its key, as the 503 says: one task each, whether or not the first try was saved.
    const resent = await Promise.all(keys.map(create));
    assert.deepEqual(resent.map((answer) => answer.status), Array(6).fill(200));
    // Every connection the pool lends now answers: none was kept halfway through a statement or a transaction.
    const lists = await Promise.all([...Array(12)].map(() => dave.json<{ data: unknown[] }>('GET', '/v1/videos?limit=100')));
    assert.deepEqual(lists.map((list) => list.status), Array(12).fill(200));
    assert.equal(lists[0]!.body.data.length, 8, 'first, after, and one for each of the six keys');

    // A process told to stop while the database is silent stops; it does not wait for a goodbye that never comes.
    gate.freeze();
    await silent.stop();
  });
  test('a /v1 request without a key, or with an unknown one, is 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer sk-not-a-key' }, { authorization: 'Basic abc' }] as Record<string, string>[]) {
      const response = await fetch(`${gateway.url}/v1/videos`, { headers });
      assert.equal(response.status, 401);
      const body = (await response.json()) as { error: Record<string, unknown> };
      assertEnvelope(body);
      assert.equal(body.error.type, 'authentication_error');
    }
  });
  test('the admin API wants the admin key', async () => {
    const response = await fetch(`${gateway.url}/admin/keys`, { headers: { authorization: `Bearer ${alice.key}` } });
    assert.equal(response.status, 401);
  });
});

describe('admin keys', () => {
  test('create shows the key once; list shows no secret; revoke locks it out at once', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const created = await fetch(`${gateway.url}/admin/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'carol' }) });
    assert.equal(created.status, 201);
    const key = (await created.json()) as { id: string; name: string; key: string; created_at: number };
    assert.match(key.key, /^sk-/);
    assert.equal(key.name, 'carol');
    assert.ok(Number.isInteger(key.created_at));

    const listed = (await (await fetch(`${gateway.url}/admin/keys`, { headers: admin })).json()) as { data: Record<string, unknown>[] };
    const entry = listed.data.find((k) => k.id === key.id)!;
    assert.equal(entry.name, 'carol');
    assert.ok(!JSON.stringify(listed).includes(key.key), 'no secret in the list');

    const carol = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } });
    assert.equal(carol.status, 200);
    const revoked = await fetch(`${gateway.url}/admin/keys/${key.id}`, { method: 'DELETE', headers: admin });
    assert.equal(revoked.status, 200);
    const after = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } });
    assert.equal(after.status, 401);
    const again = await fetch(`${gateway.url}/admin/keys/${key.id}`, { method: 'DELETE', headers: admin });
    assert.equal(again.status, 404);
  });
  test('a key without a name is a 400 naming name', async () => {
    const response = await fetch(`${gateway.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: { param: string } }).error.param, 'name');
  });
  test('the CLI creates, lists and revokes keys in the same database', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, DATA_DIR: gateway.dataDir, ...databaseEnv(gateway.dataDir) };
    const created = JSON.parse((await run(process.execPath, ['bin/vidgate.js', 'keys', 'create', '--name', 'cli'], { cwd: ROOT, env })).stdout) as { id: string; key: string };
    assert.match(created.key, /^sk-/);
    const listed = (await run(process.execPath, ['bin/vidgate.js', 'keys', 'list'], { cwd: ROOT, env })).stdout;
    assert.match(listed, new RegExp(created.id));
    assert.equal((await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${created.key}` } })).status, 200);
    await run(process.execPath, ['bin/vidgate.js', 'keys', 'revoke', created.id], { cwd: ROOT, env });
    assert.equal((await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${created.key}` } })).status, 401);
  });
});

describe('ownership', () => {
  test("another key's task is a 404, never the task", async () => {
    const { body: task } = await alice.json('POST', '/v1/videos', textTask);
    for (const [method, route] of [['GET', `/v1/videos/${task.id}`], ['GET', `/v1/videos/${task.id}/content`], ['DELETE', `/v1/videos/${task.id}`], ['GET', `/v1/video/generations/${task.id}`]] as const) {
      const { status, body } = await bob.json(method, route);
      assert.equal(status, 404, `${method} ${route}`);
      assertEnvelope(body);
      assert.ok(!JSON.stringify(body).includes('lighthouse'));
    }
    const listed = await bob.json('GET', '/v1/videos');
    assert.ok(!listed.body.data.some((t: { id: string }) => t.id === task.id));
    assert.equal((await alice.json('GET', `/v1/videos/${task.id}`)).status, 200);
  });
  test('an unknown task is a 404 in the envelope', async () => {
    const { status, body } = await alice.json('GET', '/v1/videos/video_doesnotexist');
    assert.equal(status, 404);
    assertEnvelope(body);
    assert.equal(body.error.type, 'not_found_error');
  });
});

describe('list and delete', () => {
  test('pages newest first with after/limit, and oldest first with order=asc', async () => {
    const dave = await newClient(gateway, 'dave');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await dave.json('POST', '/v1/videos', { ...textTask, prompt: `task ${i}` })).body.id);
    const walk = async (order: string) => {
      const seen: string[] = [];
      let after = '';
      for (let page = 0; page < 5; page++) {
        const { status, body } = await dave.json('GET', `/v1/videos?limit=2&order=${order}${after ? `&after=${after}` : ''}`);
        assert.equal(status, 200);
        assert.equal(body.object, 'list');
        assert.equal(body.first_id, body.data[0].id);
        assert.equal(body.last_id, body.data.at(-1).id);
        seen.push(...body.data.map((t: { id: string }) => t.id));
        if (!body.has_more) break;
        after = body.last_id;
      }
      return seen;
    };
    assert.deepEqual(await walk('desc'), [...ids].reverse());
    assert.deepEqual(await walk('asc'), ids);
    const { body } = await dave.json('GET', '/v1/videos');
    assert.equal(body.data.length, 5);
    assert.equal(body.has_more, false);
  });
  test('status and model filter the list, and page with it', async () => {
    const erin = await newClient(gateway, 'erin');
    const make = async (body: Record<string, unknown>) => (await erin.json('POST', '/v1/videos', body)).body.id as string;
    const kept = [await make({ ...textTask, prompt: 'one' }), await make({ ...textTask, prompt: 'two' }), await make({ ...textTask, prompt: 'three' })];
    const other = await make({ model: 'viduq3p-720p', prompt: 'vidu', duration: 2 });
    const cancelled = await make({ ...textTask, prompt: 'stopped' });
    await erin.json('POST', `/v1/videos/${cancelled}/cancel`);
    const ids = async (query: string) => ((await erin.json('GET', `/v1/videos?${query}`)).body.data as { id: string }[]).map((task) => task.id);
    assert.deepEqual(await ids('status=cancelled'), [cancelled]);
    assert.deepEqual(await ids('model=viduq3p-720p'), [other]);
    assert.deepEqual(await ids(`model=${textTask.model}&status=cancelled`), [cancelled]);
    const first = (await erin.json('GET', `/v1/videos?model=${textTask.model}&limit=2&order=asc`)).body;
    assert.deepEqual([first.data.map((task: { id: string }) => task.id), first.has_more], [kept.slice(0, 2), true]);
    const rest = (await erin.json('GET', `/v1/videos?model=${textTask.model}&limit=2&order=asc&after=${first.last_id}`)).body;
    assert.deepEqual(rest.data.map((task: { id: string }) => task.id), [kept[2], cancelled]);
  });
  test('bad paging values are 400s naming the parameter', async () => {
    for (const [query, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['order=sideways', 'order'], ['after=video_nope', 'after'], ['status=done', 'status']]) {
      const { status, body } = await alice.json('GET', `/v1/videos?${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.param, param);
      // The page size is told in one sentence on every list (a webhook's deliveries too), not in a schema's words.
      if (param === 'limit') assert.equal(body.error.message, 'limit is a whole number from 1 to 100');
    }
  });
  test('delete answers video.deleted; the task is then gone', async () => {
    const { body: task } = await alice.json('POST', '/v1/videos', textTask);
    const { status, body } = await alice.json('DELETE', `/v1/videos/${task.id}`);
    assert.equal(status, 200);
    assert.deepEqual(body, { id: task.id, object: 'video.deleted', deleted: true });
    assert.equal((await alice.json('GET', `/v1/videos/${task.id}`)).status, 404);
    assert.equal((await alice.json('DELETE', `/v1/videos/${task.id}`)).status, 404);
  });
});

describe('multipart/form-data, as the openai client sends it', () => {
  test('bracketed fields nest and file parts are inputs', async () => {
    const form = new FormData();
    form.append('model', 'grok-video-3');
    form.append('prompt', 'two references');
    form.append('seconds', '4');
    form.append('size', '480P');
    const png = new Blob([readFileSync(pngFile(64, 64))], { type: 'image/png' });
    form.append('input_reference', png, 'a.png');
    form.append('input_reference', png, 'b.png');
    const { status, body } = await alice.json('POST', '/v1/videos', form);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.seconds, '4');
    assert.equal(body.size, '480P');
  });
  test('extra_body[...] fields reach the rules', async () => {
    const form = new FormData();
    form.append('model', 'viduq3p-540p');
    form.append('prompt', 'p');
    form.append('extra_body[seed]', 'lucky');
    const { status, body } = await alice.json('POST', '/v1/video/generations', form);
    assert.equal(status, 400);
    assert.equal(body.error.param, 'extra_body.seed');
  });
  test('a file part and a field inside it (video and video[url]) are refused as a conflict, not one of them dropped', async () => {
    for (const order of ['file first', 'url first']) {
      const form = new FormData();
      form.append('model', 'grok-imagine');
      form.append('prompt', 'p');
      const clip = new Blob([readFileSync(mp4File(1, 160, 120))], { type: 'video/mp4' });
      if (order === 'file first') form.append('video', clip, 'a.mp4');
      form.append('video[url]', 'https://example.com/b.mp4');
      if (order === 'url first') form.append('video', clip, 'a.mp4');
      const { status, body } = await alice.json('POST', '/v1/videos/edits', form);
      assert.equal(status, 400, `${order}: ${JSON.stringify(body)}`);
      assert.match(body.error.param, /^video/, order);
    }
  });
  test('a numbered place sent twice, or a field inside a file or a text value (images[0] and images[0][url]), is refused naming it, not one value dropped', async () => {
    const png = () => new Blob([readFileSync(pngFile(64, 64))], { type: 'image/png' });
    const forms: [string, [string, string | Blob][], RegExp][] = [
      ['a file, then a field inside it', [['images[0]', png()], ['images[0][url]', 'http://127.0.0.1:9/x.png']], /^images\[0\]/],
      ['a field, then a file in its place', [['images[0][url]', 'https://example.com/a.png'], ['images[0]', png()]], /^images\[0\]/],
      ['one place twice', [['images[0]', png()], ['images[0]', png()]], /^images\[0\]/],
      ['a text value, then a field inside it', [['images[0]', 'https://example.com/a.png'], ['images[0][url]', 'https://example.com/b.png']], /^images\[0\]/],
    ];
    for (const [name, fields, param] of forms) {
      for (const route of ['/v1/videos', '/v1/videos/quotes']) {
        const form = new FormData();
        form.append('model', 'grok-imagine');
        form.append('prompt', 'p');
        form.append('duration', '2');
        for (const [field, value] of fields) typeof value === 'string' ? form.append(field, value) : form.append(field, value, 'a.png');
        const { status, body } = await alice.json('POST', route, form);
        assert.equal(status, 400, `${name} on ${route}: ${JSON.stringify(body)}`);
        assert.match(String(body.error.param), param, `${name} on ${route}: ${JSON.stringify(body)}`);
        assert.doesNotMatch(body.error.message, /Cannot create property/);
      }
    }
  });
  test('a text file as an image is refused', async () => {
    const form = new FormData();
    form.append('model', 'grok-video-1.5');
    form.append('prompt', 'p');
    form.append('input_reference', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
    const { status, body } = await alice.json('POST', '/v1/videos', form);
    assert.equal(status, 400);
    assert.equal(body.error.param, 'input_reference');
  });
});

describe('the error envelope on every kind of bad request', () => {
  const cases: [string, () => Promise<Response>, number][] = [
    ['an unknown route', () => alice.request('GET', '/v1/nothing-here'), 404],
    ['a wrong method', () => alice.request('PUT', '/v1/videos', textTask), 405],
    ['malformed JSON', () => alice.request('POST', '/v1/videos', '{"model": '), 400],
    ['a JSON array', () => alice.request('POST', '/v1/videos', '[1,2]'), 400],
    ['an unsupported content type', () => alice.request('POST', '/v1/videos', 'model=grok', { 'content-type': 'text/plain' }), 415],
    ['a truncated multipart form', () => alice.request('POST', '/v1/videos', '--XYZ\r\nContent-Disposition: form-data; name="model"\r\n\r\ngrok-imagine\r\n--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhel', { 'content-type': 'multipart/form-data; boundary=XYZ' }), 400],
    ['a multipart form without a boundary', () => alice.request('POST', '/v1/videos', 'abc', { 'content-type': 'multipart/form-data' }), 400],
    ['a prototype-polluting form field', () => alice.request('POST', '/v1/videos', '--XYZ\r\nContent-Disposition: form-data; name="__proto__[x]"\r\n\r\nx\r\n--XYZ--\r\n', { 'content-type': 'multipart/form-data; boundary=XYZ' }), 400],
    ['JSON null', () => alice.request('POST', '/v1/videos', 'null'), 400],
    ['a body over the limit', () => alice.request('POST', '/v1/videos', JSON.stringify({ ...textTask, prompt: 'x'.repeat(3 * 1024 * 1024) })), 413],
  ];
  for (const [name, send, status] of cases) {
    test(`${name} → ${status}`, async () => {
      const response = await send();
      assert.equal(response.status, status);
      const body = (await response.json()) as { error: Record<string, unknown> };
      assertEnvelope(body);
    });
  }
  test('an input refused as it is stored names its field, as every other refusal of an input does', async () => {
    // MAX_INPUT_MB is 1 here: a data URI of 1.2 MB fits the 2 MB body, not the input limit.
    const big = `data:image/png;base64,${Buffer.alloc(1_200_000, 7).toString('base64')}`;
    const tooLarge = await alice.json('POST', '/v1/videos', { ...textTask, duration: 1, images: [`data:image/png;base64,${Buffer.alloc(64, 7).toString('base64')}`, big] });
    assert.deepEqual([tooLarge.status, tooLarge.body.error?.code, tooLarge.body.error?.param], [400, 'input_too_large', 'images[1]'], JSON.stringify(tooLarge.body));
    assert.match(tooLarge.body.error.message, /images\[1\] is larger than the input limit \(1 MB\)/);
    const form = new FormData();
    for (const [name, value] of Object.entries({ ...textTask, duration: '1' })) form.append(name, String(value));
    form.append('image', new Blob([Buffer.alloc(1_200_000, 7)], { type: 'image/png' }), 'big.png');
    const uploaded = await alice.json('POST', '/v1/videos', form);
    assert.deepEqual([uploaded.status, uploaded.body.error?.code, uploaded.body.error?.param], [413, 'file_too_large', 'image'], JSON.stringify(uploaded.body));
    assert.match(uploaded.body.error.message, /image is larger than the upload limit \(1 MB, MAX_INPUT_MB\)/);
    const unknown = await alice.json('POST', '/v1/videos/edits', { prompt: 'night', video: { id: 'video_0000000000000aaaaaaaaaaaaaaaaaaa' } });
    assert.deepEqual([unknown.status, unknown.body.error?.code, unknown.body.error?.param], [404, 'video_not_found', 'video'], JSON.stringify(unknown.body));
  });
  test('405 says which methods the path answers', async () => {
    const response = await alice.request('POST', '/v1/models');
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, OPTIONS');
  });
});

describe('models', () => {
  test('GET /v1/models lists the whole catalog with capabilities', async () => {
    const { status, body } = await alice.json('GET', '/v1/models');
    assert.equal(status, 200);
    assert.equal(body.object, 'list');
    const ids = body.data.map((m: { id: string }) => m.id);
    for (const id of ['grok-imagine', 'grok-imagine-video', 'grok-video-1.5', 'grok-video-3-pro', 'viduq3p-720p', 'viduq3t-1080p-offpeak', 'viduq3p-mix-720p']) {
      assert.ok(ids.includes(id), id);
    }
    const grok = body.data.find((m: { id: string }) => m.id === 'grok-imagine');
    assert.deepEqual(Object.keys(grok.capabilities).sort(), ['edit_video', 'image_to_video', 'reference_to_video', 'text_to_video', 'video_extend']);
    assert.deepEqual(grok.capabilities.reference_to_video.duration, { min: 1, max: 10, default: null });
    assert.match(grok.note, /preview renderer/);
  });
});

describe('Idempotency-Key', () => {
  const create = (client: Client, key: string, body: unknown) => client.json('POST', '/v1/videos', body, { 'idempotency-key': key });

  test('the same key and body give the original task, and make no second one', async () => {
    const erin = await newClient(gateway, 'erin');
    const first = await create(erin, 'retry-1', textTask);
    const second = await create(erin, 'retry-1', { ...textTask });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
    assert.equal((await erin.json('GET', '/v1/videos')).body.data.length, 1);
  });

  test('the same key with another body is a 409 that tells SDKs not to retry', async () => {
    await create(alice, 'retry-2', textTask);
    const { status, body, headers } = await create(alice, 'retry-2', { ...textTask, prompt: 'something else' });
    assert.equal(status, 409);
    assert.equal(body.error.code, 'idempotency_key_reused');
    assert.equal(headers.get('x-should-retry'), 'false');
  });

  test('keys are per API key', async () => {
    const a = await create(alice, 'shared-name', textTask);
    const b = await create(bob, 'shared-name', textTask);
    assert.notEqual(a.body.id, b.body.id);
  });

  test('parallel retries with one key make exactly one task', async () => {
    const frank = await newClient(gateway, 'frank');
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(frank, 'burst', textTask)));
    const ok = answers.filter((answer) => answer.status === 200);
    assert.ok(ok.length >= 1);
    assert.ok(answers.every((answer) => answer.status === 200 || answer.body.error.code === 'idempotency_key_in_use'));
    assert.equal(new Set(ok.map((answer) => answer.body.id)).size, 1);
    assert.equal((await frank.json('GET', '/v1/videos')).body.data.length, 1);
  });

  test('uploads are compared by content', async () => {
    const form = (bytes: Buffer) => {
      const data = new FormData();
      data.append('model', 'grok-video-1.5');
      data.append('prompt', 'upload retry');
      data.append('input_reference', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'a.png');
      return data;
    };
    const png = readFileSync(pngFile(32, 32));
    const first = await create(alice, 'upload-1', form(png));
    const again = await create(alice, 'upload-1', form(png));
    assert.equal(again.body.id, first.body.id);
    const other = await create(alice, 'upload-1', form(readFileSync(pngFile(48, 48))));
    assert.equal(other.status, 409);
  });

  test('a malformed key is a 400 naming the header', async () => {
    const { status, body } = await create(alice, 'x'.repeat(300), textTask);
    assert.equal(status, 400);
    assert.equal(body.error.param, 'Idempotency-Key');
  });
});

describe('text with a NUL character (U+0000)', () => {
  test('is a 400 naming where it was, in a path, a query, a JSON body or a form, on every route; never a 500', async () => {
    const refused = async (answer: Promise<{ status: number; body: any }>, param: string | null) => {
      const { status, body } = await answer;
      assert.equal(status, 400, JSON.stringify(body));
      assert.deepEqual([body.error.code, body.error.param], ['invalid_text', param]);
    };
    await refused(alice.json('GET', '/v1/videos/video_%00'), 'id');
    await refused(alice.json('DELETE', '/v1/videos/video_%00'), 'id');
    await refused(alice.json('GET', '/v1/videos/video_%00/content'), 'id');
    await refused(alice.json('GET', '/v1/videos?after=video_%00'), 'after');
    await refused(alice.json('GET', '/xai/v1/videos/video_%00'), 'id');
    await refused(alice.json('POST', '/v1/videos', { ...textTask, prompt: 'a\u0000b' }), 'prompt');
    await refused(alice.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'a\u0000b' }), 'prompt');
    await refused(alice.json('POST', '/v1/videos', { ...textTask, image: { url: 'https://example.com/a\u0000.png' } }), 'image.url');
    const form = new FormData();
    form.set('model', 'grok-imagine');
    form.set('prompt', 'x\u0000y');
    await refused(alice.json('POST', '/v1/videos', form), 'prompt');
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const key = await fetch(`${gateway.url}/admin/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'a\u0000b' }) });
    assert.equal(key.status, 400);
    assert.equal((await fetch(`${gateway.url}/admin/keys/key_%00/ledger`, { headers: admin })).status, 400);
    // An escaped backslash before u0000 is text, not a NUL.
    const literal = await alice.json('POST', '/v1/videos', `{"model":"grok-imagine","prompt":"a\\\\u0000b","duration":1,"size":"480p"}`);
    assert.equal(literal.status, 200, JSON.stringify(literal.body));
    assert.equal(literal.body.prompt, 'a\\u0000b');
  });

  test('so is half a surrogate pair (not Unicode text: PostgreSQL refuses it, SQLite would store it changed); a whole pair is text', async () => {
    for (const [body, param] of [
      ['{"model":"grok-imagine","prompt":"a \\ud800 kite","duration":1,"size":"480p"}', 'prompt'],
      ['{"model":"grok-imagine","prompt":"a \\udfff kite","duration":1,"size":"480p"}', 'prompt'],
      ['{"model":"grok-imagine","prompt":"kite","duration":1,"size":"480p","extra_body":{"\\uD83D":1}}', 'extra_body.\ud83d'],
    ] as const) {
      const { status, body: answer } = await alice.json('POST', '/v1/videos', body);
      assert.equal(status, 400, JSON.stringify(answer));
      assert.deepEqual([answer.error.code, answer.error.param], ['invalid_text', param]);
    }
    const pair = await alice.json('POST', '/v1/videos', '{"model":"grok-imagine","prompt":"a \\ud83c\\udfac kite","duration":1,"size":"480p"}');
    assert.equal(pair.status, 200, JSON.stringify(pair.body));
    assert.equal((await alice.json('GET', `/v1/videos/${pair.body.id}`)).body.prompt, 'a 🎬 kite');
  });
});
