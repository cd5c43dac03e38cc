import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createUpstreamFetch, type UpstreamFailure, type UpstreamFetch, type UpstreamFetchOptions } from '../src/net/upstream-fetch.ts';
import { waitUntil } from './support/wait.ts';

/** The upstream client against local node:http and bare node:net servers on 127.0.0.1. */

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function client(options: Partial<UpstreamFetchOptions> = {}): UpstreamFetch {
  const fetch = createUpstreamFetch({ maxConcurrent: 4, maxPerSecond: 0, connectTimeoutMs: 2000, readTimeoutMs: 2000, ...options });
  cleanups.push(() => fetch.close());
  return fetch;
}

interface Server {
  url: string;
  connections: number;
}

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startHttp(handler: http.RequestListener): Promise<Server> {
  const server = http.createServer(handler);
  const state: Server = { url: await listen(server), connections: 0 };
  server.on('connection', () => state.connections++);
  cleanups.push(() => new Promise((resolve) => server.close(resolve)).then(() => undefined, () => undefined), () => server.closeAllConnections());
  return state;
}

/** A bare TCP server: `onRequest` gets the socket once a request head has arrived. */
async function startRaw(onRequest: (socket: net.Socket) => void): Promise<Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    const onData = (data: Buffer) => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      onRequest(socket);
    };
    socket.on('data', onData);
  });
  const state: Server = { url: await listen(server), connections: 0 };
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return state;
}

/** Asserts a fetch-like failure and returns its cause. */
async function failureOf(promise: Promise<unknown>, message = 'fetch failed'): Promise<UpstreamFailure> {
  const err = await promise.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
  assert.equal(err.message, message);
  return err.cause as UpstreamFailure;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  const url = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return Number(new URL(url).port);
}

describe('requests and responses', () => {
  test('a JSON round trip carries method, headers, body, status and headers back', async () => {
    const server = await startHttp((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.writeHead(201, 'Made', { 'content-type': 'application/json', 'x-reply': 'yes', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], length: req.headers['content-length'], body: JSON.parse(body) }));
      });
    });
    const fetch = client();
    const response = await fetch(`${server.url}/v1/videos?x=1`, {
      method: 'POST',
      headers: { Authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a lighthouse' }),
    });
    assert.ok(response instanceof Response);
    assert.equal(response.status, 201);
    assert.equal(response.statusText, 'Made');
    assert.equal(response.headers.get('x-reply'), 'yes');
    assert.deepEqual(response.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(response.url, `${server.url}/v1/videos?x=1`);
    assert.deepEqual(await response.json(), {
      method: 'POST',
      url: '/v1/videos?x=1',
      auth: 'Bearer k',
      type: 'application/json',
      length: String(JSON.stringify({ prompt: 'a lighthouse' }).length),
      body: { prompt: 'a lighthouse' },
    });
    assert.equal(fetch.inFlight(), 0);
  });

  test('URL and Request inputs, Uint8Array bodies, arrayBuffer() and text()', async () => {
    const server = await startHttp((req, res) => req.pipe(res));
    const fetch = client();
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const echoed = await fetch(new URL(`${server.url}/echo`), { method: 'PUT', body: bytes });
    assert.deepEqual(new Uint8Array(await echoed.arrayBuffer()), bytes);
    const viaRequest = await fetch(new Request(`${server.url}/echo`, { method: 'POST', body: 'hello' }));
    assert.equal(await viaRequest.text(), 'hello');
  });

  test('a URL with its init sends exactly what the same call as a Request sends', async () => {
    // The request's head and body as they arrived, in the order they arrived.
    const server = await startHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.rawHeaders, body: Buffer.concat(chunks).toString('base64') })));
    });
    const fetch = client();
    const url = `${server.url}/v1/videos/abc?x=1`;
    const calls: RequestInit[] = [
      { method: 'POST', headers: { Authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a lighthouse ☀' }) },
      // A text body with no content type of its own gets fetch's.
      { method: 'post', headers: [['X-Twice', 'a'], ['x-twice', 'b']], body: 'plain words' },
      { method: 'get', headers: new Headers({ accept: 'application/json' }) },
      {},
      { method: 'PUT', body: new Uint8Array([0, 1, 2, 250, 255]) },
      { method: 'DELETE', headers: { 'Idempotency-Key': 'k-1' } },
      { method: 'PATCH', body: 'a patch' },
      { method: 'POST', body: new URLSearchParams({ a: '1', b: 'two' }) },
    ];
    for (const init of calls) {
      const direct = await (await fetch(url, init)).json();
      const viaRequest = await (await fetch(new Request(url, init))).json();
      assert.deepEqual(direct, viaRequest, `the same bytes for ${JSON.stringify(init)}`);
    }
    // What fetch refuses is refused either way, before anything is sent.
    for (const [input, init] of [
      [url, { method: 'GET', body: 'no body on a GET' }],
      [url, { method: 'CONNECT' }],
      [`http://user:secret@127.0.0.1:1/`, {}],
      ['/relative', {}],
    ] as const) {
      await assert.rejects(fetch(input, init), TypeError, `refused: ${input} ${JSON.stringify(init)}`);
    }
    assert.equal(server.connections, 1);
  });

  test('a 204 and a HEAD have no body and free their slot', async () => {
    const server = await startHttp((req, res) => {
      res.writeHead(req.method === 'HEAD' ? 200 : 204, { 'content-length': req.method === 'HEAD' ? '10' : '0' });
      res.end();
    });
    const fetch = client({ maxConcurrent: 1 });
    const empty = await fetch(`${server.url}/`, { method: 'DELETE' });
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
    const head = await fetch(`${server.url}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, null);
    await waitUntil(() => fetch.inFlight() === 0, 'no call in flight', 5000);
    assert.equal(server.connections, 1);
  });

  test('a 302 is returned, not followed', async () => {
    const seen: string[] = [];
    const server = await startHttp((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/start') res.writeHead(302, { location: '/elsewhere' }).end('moved');
      else res.end('followed');
    });
    const response = await client()(`${server.url}/start`);
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/elsewhere');
    assert.equal(await response.text(), 'moved');
    assert.deepEqual(seen, ['/start']);
  });

  test('an HTTP/1.0 body ended by closing the connection is read whole, 200 times in a row', async () => {
    const body = Buffer.alloc(3000, 'v');
    const server = await startRaw((socket) => {
      socket.write('HTTP/1.0 200 OK\r\n\r\n');
      socket.end(body);
    });
    const fetch = client();
    for (let round = 0; round < 200; round++) {
      const response = await fetch(`${server.url}/file`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), body.toString());
    }
    assert.equal(server.connections, 200);
    assert.equal(fetch.inFlight(), 0);
  });
});

describe('pooling, concurrency and rate', () => {
  test('50 sequential calls reuse one keep-alive connection', async () => {
    const server = await startHttp((_req, res) => res.end('{"status":"pending"}'));
    const fetch = client();
    for (let i = 0; i < 50; i++) assert.deepEqual(await (await fetch(`${server.url}/status`)).json(), { status: 'pending' });
    assert.equal(server.connections, 1);
  });

  test('at most maxConcurrent calls reach the server; the rest start as earlier ones finish, in order', async () => {
    const held: http.ServerResponse[] = [];
    const arrived: string[] = [];
    let active = 0;
    let mostActive = 0;
    const server = await startHttp((req, res) => {
      arrived.push(req.url ?? '');
      active++;
      mostActive = Math.max(mostActive, active);
      res.on('finish', () => active--);
      held.push(res);
    });
    const fetch = client({ maxConcurrent: 3 });
    const calls = Array.from({ length: 8 }, (_, i) => fetch(`${server.url}/${i}`).then((response) => response.text()));
    await waitUntil(() => held.length === 3, 'three requests held', 5000);
    await sleep(100);
    assert.equal(held.length, 3, 'no fourth request while three are held');
    assert.equal(fetch.inFlight(), 3);
    assert.equal(fetch.waiting(), 5);
    for (let released = 0; released < 8; released++) {
      await waitUntil(() => held.length > 0, 'a request held', 5000);
      held.shift()!.end(`done ${released}`);
    }
    assert.equal((await Promise.all(calls)).length, 8);
    assert.equal(mostActive, 3);
    assert.deepEqual(arrived, ['/0', '/1', '/2', '/3', '/4', '/5', '/6', '/7']);
    assert.equal(fetch.inFlight() + fetch.waiting(), 0);
  });

  test('beforeSend runs once the call holds a slot, right before it is sent; if it throws, nothing is sent and its error is the answer', async () => {
    const held: http.ServerResponse[] = [];
    const arrived: string[] = [];
    const server = await startHttp((req, res) => {
      arrived.push(req.url ?? '');
      held.push(res);
    });
    const fetch = client({ maxConcurrent: 1 });
    const ran: string[] = [];
    const first = fetch(`${server.url}/first`, { beforeSend: async () => void ran.push('first') });
    await waitUntil(() => held.length === 1, 'one request held', 5000);
    const second = fetch(`${server.url}/second`, { method: 'POST', body: 'x', beforeSend: async () => void ran.push('second') });
    const refusal = new Error('no longer ours');
    const third = fetch(`${server.url}/third`, {
      beforeSend: async () => {
        throw refusal;
      },
    }).then(
      () => 'answered',
      (error: unknown) => error,
    );
    await sleep(100);
    assert.deepEqual(ran, ['first'], 'the waiting calls have not run theirs');
    held.shift()!.end('one');
    assert.equal(await (await first).text(), 'one');
    await waitUntil(() => held.length === 1, 'one request held', 5000);
    assert.deepEqual(ran, ['first', 'second']);
    held.shift()!.end('two');
    assert.equal(await (await second).text(), 'two');
    assert.equal(await third, refusal);
    assert.deepEqual(arrived, ['/first', '/second'], 'the refused call never reached the server');
    assert.equal(fetch.inFlight() + fetch.waiting(), 0, 'its slot was given back');
  });

  test('maxPerSecond spreads the starts', async () => {
    const server = await startHttp((_req, res) => res.end('ok'));
    const fetch = client({ maxConcurrent: 10, maxPerSecond: 10 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${server.url}/`).then((response) => response.text())));
    // Five starts 100 ms apart: the last no sooner than 400 ms after the first.
    assert.ok(performance.now() - started >= 350, `took only ${performance.now() - started} ms`);
  });
});

describe('failures', () => {
  test('connection refused: nothing was sent', async () => {
    const fetch = client();
    const cause = await failureOf(fetch(`http://127.0.0.1:${await closedPort()}/`));
    assert.equal(cause.code, 'ECONNREFUSED');
    assert.equal(cause.requestSent, false);
    assert.equal(fetch.inFlight(), 0);
  });

  test('a TLS handshake that never completes is a connect timeout: nothing was sent', async () => {
    const server = await startRaw(() => {}); // accepts TCP, never answers the ClientHello
    const fetch = client({ connectTimeoutMs: 200 });
    const cause = await failureOf(fetch(server.url.replace('http:', 'https:')));
    assert.equal(cause.code, 'ECONNECT_TIMEOUT');
    assert.equal(cause.requestSent, false);
    assert.equal(fetch.inFlight(), 0);
  });

  test('no response headers within readTimeoutMs: ETIMEDOUT, the request was sent', async () => {
    let received = 0;
    const server = await startHttp(() => received++); // never answers
    const fetch = client({ readTimeoutMs: 200 });
    const cause = await failureOf(fetch(`${server.url}/`, { method: 'POST', body: '{}' }));
    assert.equal(cause.code, 'ETIMEDOUT');
    assert.equal(cause.requestSent, true);
    assert.equal(received, 1);
    assert.equal(fetch.inFlight(), 0);
  });

  test('silence in the middle of a body errors the body read', async () => {
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part of it'); // then nothing more
    });
    const fetch = client({ readTimeoutMs: 200 });
    const response = await fetch(`${server.url}/`);
    assert.equal(response.status, 200);
    const cause = await failureOf(response.text(), 'terminated');
    assert.equal(cause.code, 'ETIMEDOUT');
    assert.equal(cause.requestSent, true);
    assert.equal(fetch.inFlight(), 0);
  });

  test('a body cut short by the server errors the body read', async () => {
    const server = await startRaw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes!');
      socket.end();
    });
    const fetch = client();
    const response = await fetch(`${server.url}/`);
    const cause = await failureOf(response.arrayBuffer(), 'terminated');
    assert.equal(cause.code, 'ECONNRESET');
    assert.equal(cause.requestSent, true);
    assert.equal(fetch.inFlight(), 0);
  });

  test('a malformed response fails the call', async () => {
    const server = await startRaw((socket) => socket.end('this is not HTTP\r\n\r\n'));
    const cause = await failureOf(client()(`${server.url}/`));
    assert.match(cause.code, /^HPE_/);
    assert.equal(cause.requestSent, true);
  });

  test('after close() calls fail at once, nothing sent', async () => {
    const fetch = client();
    fetch.close();
    const cause = await failureOf(fetch('http://127.0.0.1:9/'));
    assert.equal(cause.code, 'ECLOSED');
    assert.equal(cause.requestSent, false);
  });

  test('bad options are refused', () => {
    assert.throws(() => createUpstreamFetch({ maxConcurrent: 0, maxPerSecond: 0, connectTimeoutMs: 1, readTimeoutMs: 1 }), RangeError);
    assert.throws(() => createUpstreamFetch({ maxConcurrent: 1, maxPerSecond: -1, connectTimeoutMs: 1, readTimeoutMs: 1 }), RangeError);
    assert.throws(() => createUpstreamFetch({ maxConcurrent: 1, maxPerSecond: 0, connectTimeoutMs: Infinity, readTimeoutMs: 1 }), RangeError);
  });
});

describe('abort', () => {
  test('an already aborted signal rejects with its reason, nothing sent', async () => {
    const server = await startHttp((_req, res) => res.end());
    const reason = new Error('not wanted');
    await assert.rejects(client()(`${server.url}/`, { signal: AbortSignal.abort(reason) }), (err) => err === reason);
    assert.equal(server.connections, 0);
  });

  test('abort while waiting for headers rejects with an AbortError and closes the socket', async () => {
    let serverSocketClosed = false;
    const server = await startHttp((req) => req.socket.on('close', () => (serverSocketClosed = true)));
    const fetch = client();
    const controller = new AbortController();
    const pending = fetch(`${server.url}/`, { signal: controller.signal });
    await waitUntil(() => server.connections === 1, 'one connection to the server', 5000);
    await sleep(20);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await waitUntil(() => serverSocketClosed, 'the server side of the socket closed', 5000);
    assert.equal(fetch.inFlight(), 0);
  });

  test('abort during the body errors the body read with the reason', async () => {
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('a start');
    });
    const fetch = client();
    const controller = new AbortController();
    const response = await fetch(`${server.url}/`, { signal: controller.signal });
    const reason = new Error('enough');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(response.text(), (err) => err === reason);
    assert.equal(fetch.inFlight(), 0);
  });

  test('abort while queued leaves the queue', async () => {
    const held: http.ServerResponse[] = [];
    const server = await startHttp((_req, res) => held.push(res));
    const fetch = client({ maxConcurrent: 1 });
    const first = fetch(`${server.url}/1`);
    await waitUntil(() => held.length === 1, 'one request held', 5000);
    const controller = new AbortController();
    const queued = fetch(`${server.url}/2`, { signal: controller.signal });
    await waitUntil(() => fetch.waiting() === 1, 'one call waiting', 5000);
    controller.abort();
    await assert.rejects(queued, { name: 'AbortError' });
    assert.equal(fetch.waiting(), 0);
    held[0]!.end('one');
    assert.equal(await (await first).text(), 'one');
    assert.equal(held.length, 1);
  });
});

describe('a body nobody reads', () => {
  test('a small body completes by itself: the slot is freed at once and the data stays readable', async () => {
    const server = await startHttp((req, res) => res.end(`{"url":"${req.url}"}`));
    const fetch = client({ maxConcurrent: 1, readTimeoutMs: 5000 });
    const unread = await fetch(`${server.url}/1`);
    const started = performance.now();
    assert.deepEqual(await (await fetch(`${server.url}/2`)).json(), { url: '/2' });
    assert.ok(performance.now() - started < 2000, 'the second call did not wait for the read timeout');
    assert.deepEqual(await unread.json(), { url: '/1' });
  });

  test('a big body stops moving and the read timeout frees its slot', async () => {
    const server = await startHttp((req, res) => res.end(req.url === '/big' ? Buffer.alloc(8 * 1024 * 1024) : 'small'));
    const fetch = client({ maxConcurrent: 1, readTimeoutMs: 300 });
    const unread = await fetch(`${server.url}/big`);
    const started = performance.now();
    assert.equal(await (await fetch(`${server.url}/small`)).text(), 'small');
    assert.ok(performance.now() - started >= 250, 'the second call waited for the first slot');
    const cause = await failureOf(unread.arrayBuffer(), 'terminated');
    assert.equal(cause.code, 'ETIMEDOUT');
  });
});
