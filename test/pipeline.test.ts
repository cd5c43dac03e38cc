import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';

/**
 * The one request pipeline: the poll fast path (fast-read.ts) and the fastify routes share
 * authentication, headers and presentation, so the same question gets the same answer on
 * both. A query string sends a poll down the fastify path, which lets us ask both. Also the
 * holes at the edges of the envelope: long ids, bad encodings, content types, OPTIONS and
 * CORS, bodies that cost too much, and the request log.
 */
const ORIGIN = 'https://app.example.com';
let gateway: RunningGateway;
let client: Client;

before(async () => {
  gateway = await startGateway({ LOG_LEVEL: 'debug', CORS_ORIGINS: `${ORIGIN}, http://localhost:5173`, MAX_BODY_MB: '2' });
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
});

/** Everything a client can see of an answer except what differs by nature (date, request id). */
async function observed(response: Response) {
  const headers = Object.fromEntries([...response.headers].filter(([name]) => !['date', 'x-request-id'].includes(name)));
  return { status: response.status, headers, body: await response.text(), requestId: response.headers.get('x-request-id') };
}

/** Bytes as they are, which the test client would re-encode. */
async function sendRaw(bytes: Buffer, contentType: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${gateway.url}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${client.key}`, 'content-type': contentType }, body: new Uint8Array(bytes) });
  return { status: response.status, body: await response.json() };
}

function assertEnvelope(body: unknown, code: string) {
  const error = (body as { error: Record<string, unknown> }).error;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(error.code, code, JSON.stringify(error));
}

describe('both read paths answer alike', () => {
  const routes = ['/v1/videos', '/v1/videos/generations', '/v1/video/generations'];
  let queued: string;
  let completed: string;

  before(async () => {
    const first = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'parity, finished', duration: 1, size: '480p' });
    completed = first.body.id;
    assert.equal((await client.waitFor(completed)).status, 'completed');
    // Long enough to still be waiting or running while it is asked about.
    const second = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'parity, running', duration: 15, size: '480p' });
    queued = second.body.id;
  });

  for (const route of routes) {
    test(`${route}/{id}: status, headers and body match on both paths, with and without an Origin`, async () => {
      for (const id of [completed, queued]) {
        for (const origin of [undefined, ORIGIN, 'https://evil.example']) {
          const headers: Record<string, string> = origin ? { origin } : {};
          const fast = await observed(await client.request('GET', `${route}/${id}`, undefined, headers));
          const slow = await observed(await client.request('GET', `${route}/${id}?via=fastify`, undefined, headers));
          const { requestId: fastId, ...fastSeen } = fast;
          const { requestId: slowId, ...slowSeen } = slow;
          if (id === queued) {
            // The task may move on between the two looks; its object is compared where it cannot.
            const strip = (text: string) => text.replace(/"(status|progress)":("?[\w]+"?)/g, '"$1":_');
            fastSeen.body = strip(fastSeen.body);
            slowSeen.body = strip(slowSeen.body);
            delete fastSeen.headers['openai-poll-after-ms'];
            delete slowSeen.headers['openai-poll-after-ms'];
            delete fastSeen.headers['content-length'];
            delete slowSeen.headers['content-length'];
          }
          assert.deepEqual(fastSeen, slowSeen, `${route}/${id} origin=${origin}`);
          assert.match(fastId!, /^req_/);
          assert.match(slowId!, /^req_/);
          assert.notEqual(fastId, slowId);
          assert.equal(fast.status, 200);
          assert.equal(fast.headers['x-content-type-options'], 'nosniff');
          assert.equal(fast.headers['access-control-allow-origin'], origin === ORIGIN ? ORIGIN : undefined);
        }
      }
    });
  }

  test('a caller-given X-Request-Id comes back on both paths; a hostile one is replaced', async () => {
    for (const suffix of ['', '?via=fastify']) {
      const given = await client.request('GET', `/v1/videos/${completed}${suffix}`, undefined, { 'x-request-id': 'trace-42.a:b' });
      assert.equal(given.headers.get('x-request-id'), 'trace-42.a:b');
      const hostile = await client.request('GET', `/v1/videos/${completed}${suffix}`, undefined, { 'x-request-id': 'a b<script>' });
      assert.match(hostile.headers.get('x-request-id')!, /^req_/);
    }
  });

  test('every request is logged once at debug with method, route, status, time and key id, never the key', async () => {
    const marker = `trace-${Date.now()}`;
    await client.request('GET', `/v1/videos/${completed}`, undefined, { 'x-request-id': `${marker}-fast` });
    await client.request('GET', `/v1/videos/${completed}?x=1`, undefined, { 'x-request-id': `${marker}-slow` });
    await client.request('GET', '/v1/videos/video_0000', undefined, { 'x-request-id': `${marker}-missing` });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request' && String(entry.request).startsWith(marker));
    assert.equal(lines.length, 3, JSON.stringify(lines));
    for (const line of lines) {
      assert.equal(line.msg, 'request');
      assert.equal(line.method, 'GET');
      assert.equal(line.route, '/v1/videos/:id');
      assert.equal(typeof line.ms, 'number');
      assert.match(String(line.keyId), /^key_/);
    }
    assert.deepEqual(lines.map((line) => line.status), [200, 200, 404]);
    assert.ok(!gateway.logs.some((line) => line.includes(client.key)), 'no API key in the log');
  });
});

describe('the edges of the envelope', () => {
  test('a 300-character id is a 404 in the envelope, not a bare 414', async () => {
    const { status, body } = await client.json('GET', `/v1/videos/video_${'a'.repeat(300)}`);
    assert.equal(status, 404);
    assertEnvelope(body, 'video_not_found');
  });

  test('ids far too long for any route, and request lines too large for HTTP, still answer in the envelope', async () => {
    const long = await client.request('GET', `/v1/videos/video_${'a'.repeat(2000)}`);
    assert.equal(long.status, 404);
    assertEnvelope(await long.json(), 'not_found');
    assert.match(long.headers.get('x-request-id')!, /^req_/);
    assert.equal(long.headers.get('x-content-type-options'), 'nosniff');
    const huge = await client.request('GET', `/v1/videos/video_${'a'.repeat(100_000)}`);
    assert.equal(huge.status, 431);
    assertEnvelope(await huge.json(), 'headers_too_large');
  });

  test('with a list of origins, every answer varies by Origin, even one to no or a refused Origin', async () => {
    for (const headers of [{}, { origin: 'https://evil.example' }, { origin: ORIGIN }] as Record<string, string>[]) {
      const response = await client.request('GET', '/v1/models', undefined, headers);
      assert.match(response.headers.get('vary') ?? '', /Origin/, JSON.stringify(headers));
    }
  });

  test('a Host header that is not a plain host never roots a signed link', async () => {
    const { body: created } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'host', duration: 1, size: '480p' });
    await client.waitFor(created.id);
    for (const host of ['x@evil.example', 'a b<script>', 'evil.example/path']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const url = new URL(`/v1/videos/${created.id}?via=fastify`, gateway.url);
        httpRequest(url, { headers: { authorization: `Bearer ${client.key}`, host } }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      const link = (JSON.parse(answer) as { metadata: { url: string } }).metadata.url;
      assert.match(link, /^http:\/\/localhost\/v1\/videos\//, host);
    }
  });

  test('a JSON body that is not valid UTF-8 is a 400, not a prompt of U+FFFD', async () => {
    const bytes = Buffer.concat([Buffer.from('{"model":"grok-imagine","duration":3,"prompt":"caf'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]);
    const { status, body } = await sendRaw(bytes, 'application/json');
    assert.equal(status, 400);
    assertEnvelope(body, 'invalid_encoding');
  });

  test('a form field that is not valid UTF-8 is a 400 naming it', async () => {
    // FormData would send bytes as a file part; this form is written by hand to make them a text field.
    const boundary = 'vidgate-boundary';
    const parts = [
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\ngrok-imagine\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="duration"\r\n\r\n3\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n`,
    ];
    const raw = Buffer.concat([Buffer.from(parts.join('')), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const { status, body } = await sendRaw(raw, `multipart/form-data; boundary=${boundary}`);
    assert.equal(status, 400);
    assertEnvelope(body, 'invalid_encoding');
    assert.equal((body as { error: { param: string } }).error.param, 'prompt');
  });

  test('a __proto__ key in valid JSON is refused for what it is, not as invalid JSON', async () => {
    const { status, body } = await client.json('POST', '/v1/videos', '{"model":"grok-imagine","prompt":"x","duration":3,"__proto__":{"a":1}}');
    assert.equal(status, 400);
    assertEnvelope(body, 'unsupported_parameter');
    assert.match((body as { error: { message: string } }).error.message, /__proto__/);
    const broken = await client.json('POST', '/v1/videos', '{"model":"grok-imagine",');
    assertEnvelope(broken.body, 'invalid_json');
  });

  test('a form field sent twice is named as a list, not only as not a string', async () => {
    const form = new FormData();
    form.append('model', 'grok-imagine');
    form.append('duration', '3');
    form.append('prompt', 'one');
    form.append('prompt', 'two');
    const { status, body } = await client.json('POST', '/v1/videos', form);
    assert.equal(status, 400);
    assert.equal((body as { error: { param: string } }).error.param, 'prompt');
    assert.match((body as { error: { message: string } }).error.message, /not a list of 2/);
  });

  test('an unsupported content type is a 415 that says which types are accepted', async () => {
    const { status, body } = await client.json('POST', '/v1/videos', '<video/>', { 'content-type': 'application/xml' });
    assert.equal(status, 415);
    assertEnvelope(body, 'unsupported_media_type');
    assert.match((body as { error: { message: string } }).error.message, /application\/json.*multipart\/form-data/);
  });

  test('OPTIONS on an API route answers 204 with Allow; no CORS headers for an unknown origin', async () => {
    for (const route of ['/v1/videos', '/v1/videos/video_0123', '/v1/videos/video_0123/content', '/v1/models']) {
      const response = await fetch(`${gateway.url}${route}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      assert.equal(response.status, 204, route);
      assert.match(response.headers.get('allow')!, /GET/);
      assert.equal(response.headers.get('access-control-allow-origin'), null);
    }
  });

  test('a CORS preflight from an allowed origin is answered without a key, for every API route', async () => {
    for (const route of ['/v1/videos', '/v1/videos/video_0123', '/v1/videos/edits', '/v1/videos/video_0123/content', '/v1/videos/video_0123/events']) {
      const response = await fetch(`${gateway.url}${route}`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
      });
      assert.equal(response.status, 204, route);
      assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
      assert.match(response.headers.get('access-control-allow-headers')!, /idempotency-key/);
      assert.ok(response.headers.get('access-control-allow-methods'));
    }
  });

  test('errors carry the CORS headers too, so a browser app can read them', async () => {
    const response = await fetch(`${gateway.url}/v1/videos/video_0123`, { headers: { origin: ORIGIN } });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
  });
});

describe('what one body may cost', () => {
  /** Sends `size` bytes of JSON without a key and reports when the answer came and whether /healthz stayed quick meanwhile. */
  function sendHuge(path: string, size: number, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const url = new URL(path, gateway.url);
      const outgoing = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': size, ...headers } }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      outgoing.on('error', () => resolve(0));
      const chunk = Buffer.from('{},'.repeat(100_000));
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
          sent += piece.length;
          if (!outgoing.write(piece)) return outgoing.once('drain', pump);
        }
        outgoing.end();
      };
      pump();
      setTimeout(() => reject(new Error('no answer in 20 s')), 20_000).unref();
    });
  }

  test('without a key, a body is never read: 401 at once', async () => {
    const started = Date.now();
    const status = await sendHuge('/v1/videos', 1_500_000, {});
    assert.equal(status, 401);
    const health = Date.now();
    assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
    assert.ok(Date.now() - started < 20_000 && Date.now() - health < 5_000);
  });

  test('a JSON body of many tiny values is a 400 json_too_complex', async () => {
    const body = `{"model":"grok-imagine","prompt":"x","duration":3,"junk":[${'{},'.repeat(200_000)}{}]}`;
    const { status, body: answer } = await client.json('POST', '/v1/videos', body);
    assert.equal(status, 400);
    assertEnvelope(answer, 'json_too_complex');
  });

  test('a deeply nested body with an Idempotency-Key is a 400, not a 500', async () => {
    const body = `{"model":"grok-imagine","prompt":"x","duration":3,"junk":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const { status, body: answer } = await client.json('POST', '/v1/videos', body, { 'idempotency-key': `deep-${Date.now()}` });
    assert.equal(status, 400);
    assertEnvelope(answer, 'json_too_deep');
  });

  test('a form larger than MAX_BODY_MB is a 413', async () => {
    const big = 'x'.repeat(900_000);
    const form = new FormData();
    form.set('model', 'grok-imagine');
    form.set('prompt', 'three large fields');
    for (const name of ['a', 'b', 'c']) form.set(name, big);
    const whole = await client.json('POST', '/v1/videos', form);
    assert.equal(whole.status, 413);
    assertEnvelope(whole.body, 'body_too_large');
    // A JSON body over it is told the same, in the same words.
    const json = await client.json('POST', '/v1/videos', JSON.stringify({ model: 'grok-imagine', prompt: 'x', junk: big.repeat(3) }));
    assert.equal(json.status, 413);
    assertEnvelope(json.body, 'body_too_large');
    assert.equal(json.body.error.message, whole.body.error.message);
    assert.match(json.body.error.message, /MAX_BODY_MB/);
  });
});
