import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FetchError, downloadToFile, guardedFetch } from '../src/net/guarded-fetch.ts';
import { createGuardedLookup, guardedLookup, isPublicAddress, parseAllowedHosts } from '../src/net/address-policy.ts';
import type { FetchErrorCode, GuardOptions } from '../src/net/guarded-fetch.ts';
import { startHttp10Origin } from './support/http10-origin.ts';
import { hasPython3, startPythonOrigin } from './support/http10-python.ts';

interface TestServer {
  port: number;
  base: string;
  key: string;
  requests: number;
  connections: number;
  close(): Promise<void>;
}

async function startServer(handler: http.RequestListener, host = '127.0.0.1'): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    state.requests++;
    handler(req, res);
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const state: TestServer = {
    port,
    base: `http://127.0.0.1:${port}`,
    key: `127.0.0.1:${port}`,
    requests: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}

function opts(allowed: Iterable<string> = [], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { allowedPrivateHosts: new Set(allowed), maxBytes: 1024, timeoutMs: 2000, ...extra };
}

async function rejectsWith(promise: Promise<unknown>, code: FetchErrorCode): Promise<FetchError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof FetchError, `expected FetchError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected FetchError(${code}), but it resolved`);
}

const BIG = Buffer.alloc(5000, 0x61);

let main: TestServer; // serves assorted routes on 127.0.0.1
let other: TestServer; // a second local server, never in the allow list unless stated
let trap: TestServer; // dual-stack (::) when possible, so ::1 / ::ffff:127.0.0.1 / 0.0.0.0 would reach it
let tmp: string;

before(async () => {
  other = await startServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('other');
  });
  main = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/image.png':
        res.setHeader('content-type', 'image/png');
        res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
        return;
      case '/to-other':
        res.writeHead(302, { location: `${other.base}/x` });
        res.end();
        return;
      case '/relative':
        res.writeHead(301, { location: '/image.png' });
        res.end();
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop' });
        res.end();
        return;
      case '/to-ftp':
        res.writeHead(302, { location: 'ftp://example.com/x' });
        res.end();
        return;
      case '/big-cl':
        res.writeHead(200, { 'content-length': String(BIG.length), 'content-type': 'video/mp4' });
        res.end(BIG);
        return;
      case '/big-chunked':
        res.writeHead(200, { 'content-type': 'video/mp4' }); // no content-length → chunked
        for (let i = 0; i < 10; i++) res.write(BIG.subarray(0, 500));
        res.end();
        return;
      case '/exact':
        res.end(Buffer.alloc(1024, 0x62));
        return;
      case '/truncated':
        res.writeHead(200, { 'content-length': '100', 'content-type': 'image/png' });
        res.write('0123456789', () => res.socket?.destroy());
        return;
      case '/stall-headers':
        return; // never answers
      case '/stall-body':
        res.writeHead(200, { 'content-type': 'video/mp4' });
        res.write('partial');
        return; // never ends
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('nope');
    }
  });
  try {
    trap = await startServer((_req, res) => res.end('trapped'), '::');
  } catch {
    trap = await startServer((_req, res) => res.end('trapped'));
  }
  tmp = await mkdtemp(join(tmpdir(), 'guarded-fetch-'));
});

after(async () => {
  await Promise.all([main.close(), other.close(), trap.close()]);
  await rm(tmp, { recursive: true, force: true });
});

describe('guardedFetch', () => {
  test('fetches from an allowed host:port', async () => {
    const res = await guardedFetch(`${main.base}/image.png?sig=1`, opts([main.key]));
    assert.deepEqual([...res.body], [0x89, 0x50, 0x4e, 0x47]);
    assert.equal(res.contentType, 'image/png');
    assert.equal(res.finalUrl, `${main.base}/image.png?sig=1`);
  });

  test('the same server not in the allow list is refused before connecting', async () => {
    const before = main.connections;
    await rejectsWith(guardedFetch(`${main.base}/image.png`, opts()), 'url_not_allowed');
    // Exemption is per exact host:port.
    await rejectsWith(guardedFetch(`${main.base}/image.png`, opts([`127.0.0.1:${other.port}`])), 'url_not_allowed');
    assert.equal(main.connections, before);
  });

  test('localhost is refused through the DNS (lookup) path', async () => {
    const t0 = Date.now();
    const err = await rejectsWith(guardedFetch(`http://localhost:${trap.port}/`, opts()), 'url_not_allowed');
    assert.match(err.message, /localhost/);
    assert.match(err.message, /private or reserved/);
    assert.ok(Date.now() - t0 < 1000);
    await rejectsWith(guardedFetch(`http://LOCALHOST:${trap.port}/`, opts()), 'url_not_allowed');
    // Same name, but the allow-list entry is for another port: still guarded.
    await rejectsWith(guardedFetch(`http://localhost:${trap.port}/`, opts([`localhost:${main.port}`])), 'url_not_allowed');
    assert.equal(trap.connections, 0);
    assert.equal(trap.requests, 0);
  });

  test('localhost:port in the allow list is exempt (hostname entry)', async () => {
    const res = await guardedFetch(`http://localhost:${trap.port}/`, opts([`localhost:${trap.port}`]));
    assert.equal(res.body.toString(), 'trapped');
  });

  test('private IP literals are refused without any connection attempt', async () => {
    const literals = [
      'http://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data',
      'http://172.16.5.4:8080/',
      'http://192.168.1.1/',
      'http://100.64.0.1/',
      `http://127.0.0.1:${trap.port}/`,
      `http://127.9.9.9:${trap.port}/`,
      `http://2130706433:${trap.port}/`, // 127.0.0.1 in decimal; URL canonicalises it
      `http://0x7f.1:${trap.port}/`,
      `http://[::1]:${trap.port}/`,
      `http://[::ffff:127.0.0.1]:${trap.port}/`,
      `http://[::ffff:a9fe:a9fe]/`,
      `http://0.0.0.0:${trap.port}/`,
      `http://[::]:${trap.port}/`,
      'http://[fe80::1]/',
      'http://[fd00::1]/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
      'https://10.1.2.3/',
    ];
    const before = { connections: trap.connections, requests: trap.requests };
    for (const url of literals) {
      const t0 = Date.now();
      // timeoutMs is long: a real connection attempt to a dead address would hit it.
      await rejectsWith(guardedFetch(url, opts([], { timeoutMs: 5000 })), 'url_not_allowed');
      assert.ok(Date.now() - t0 < 500, `${url} took too long`);
    }
    assert.deepEqual({ connections: trap.connections, requests: trap.requests }, before);
  });

  test('non-http schemes, credentials and garbage are url_invalid', async () => {
    await rejectsWith(guardedFetch('ftp://example.com/file', opts()), 'url_invalid');
    await rejectsWith(guardedFetch('file:///etc/passwd', opts()), 'url_invalid');
    await rejectsWith(guardedFetch('data:text/plain,hi', opts()), 'url_invalid');
    await rejectsWith(guardedFetch('not a url', opts()), 'url_invalid');
    const err = await rejectsWith(guardedFetch(`http://user:hunter2@127.0.0.1:${main.port}/image.png`, opts([main.key])), 'url_invalid');
    assert.ok(!err.message.includes('hunter2'));
  });

  test('a redirect to a local server not in the allow list is refused', async () => {
    const before = other.connections;
    await rejectsWith(guardedFetch(`${main.base}/to-other`, opts([main.key])), 'url_not_allowed');
    assert.equal(other.connections, before);
    // …but followed when that exact host:port is allowed too.
    const res = await guardedFetch(`${main.base}/to-other`, opts([main.key, other.key]));
    assert.equal(res.body.toString(), 'other');
    assert.equal(res.finalUrl, `${other.base}/x`);
  });

  test('relative redirects are followed; redirect to ftp is url_invalid', async () => {
    const res = await guardedFetch(`${main.base}/relative`, opts([main.key]));
    assert.equal(res.contentType, 'image/png');
    assert.equal(res.finalUrl, `${main.base}/image.png`);
    await rejectsWith(guardedFetch(`${main.base}/to-ftp`, opts([main.key])), 'url_invalid');
  });

  test('redirect loop → too_many_redirects', async () => {
    const before = main.requests;
    await rejectsWith(guardedFetch(`${main.base}/loop`, opts([main.key])), 'too_many_redirects');
    assert.equal(main.requests - before, 6); // first request + 5 redirects
    const b2 = main.requests;
    await rejectsWith(guardedFetch(`${main.base}/loop`, opts([main.key], { maxRedirects: 0 })), 'too_many_redirects');
    assert.equal(main.requests - b2, 1);
  });

  test('bodies over maxBytes → too_large (Content-Length and chunked)', async () => {
    const e1 = await rejectsWith(guardedFetch(`${main.base}/big-cl`, opts([main.key])), 'too_large');
    assert.match(e1.message, /1024 bytes/);
    await rejectsWith(guardedFetch(`${main.base}/big-chunked`, opts([main.key])), 'too_large');
    const exact = await guardedFetch(`${main.base}/exact`, opts([main.key]));
    assert.equal(exact.body.length, 1024);
  });

  test('a stalled server → fetch_timeout within roughly timeoutMs', async () => {
    for (const path of ['/stall-headers', '/stall-body']) {
      const t0 = Date.now();
      const err = await rejectsWith(guardedFetch(`${main.base}${path}`, opts([main.key], { timeoutMs: 300 })), 'fetch_timeout');
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 250 && elapsed < 1500, `${path}: ${elapsed} ms`);
      assert.match(err.message, /300 ms/);
    }
  });

  test('404 → bad_status; query strings are kept out of messages', async () => {
    const err = await rejectsWith(guardedFetch(`${main.base}/missing?token=s3cret#frag`, opts([main.key])), 'bad_status');
    assert.match(err.message, /404/);
    assert.match(err.message, /\/missing/);
    assert.ok(!err.message.includes('s3cret'));
    assert.ok(!err.message.includes('frag'));
  });

  test('connection refused → fetch_failed without leaking the address', async () => {
    const gone = await startServer((_req, res) => res.end());
    await gone.close();
    const err = await rejectsWith(guardedFetch(`${gone.base}/x?k=secret`, opts([gone.key])), 'fetch_failed');
    assert.match(err.message, /connection refused/);
    assert.ok(!err.message.includes('secret'));
  });

  test('a body cut short before its Content-Length → fetch_failed, never a short success', async () => {
    const err = await rejectsWith(guardedFetch(`${main.base}/truncated`, opts([main.key])), 'fetch_failed');
    assert.match(err.message, /before the whole body arrived/);
    const dest = join(tmp, 'truncated.bin');
    await rejectsWith(downloadToFile(`${main.base}/truncated`, dest, opts([main.key])), 'fetch_failed');
    assert.deepEqual(await readdir(tmp), []);
  });

  test("the caller's abort signal rejects with its reason, not a FetchError", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled by caller')), 50);
    await assert.rejects(
      guardedFetch(`${main.base}/stall-headers`, { ...opts([main.key]), signal: ac.signal }),
      (err: unknown) => err instanceof Error && !(err instanceof FetchError) && err.message === 'cancelled by caller',
    );
  });
});

describe('downloadToFile', () => {
  test('streams to disk', async () => {
    const dest = join(tmp, 'ok.bin');
    const res = await downloadToFile(`${main.base}/exact`, dest, opts([main.key]));
    assert.deepEqual(res, { size: 1024, contentType: null });
    assert.deepEqual(await readFile(dest), Buffer.alloc(1024, 0x62));
    await rm(dest);
  });

  test('leaves no partial file on too_large, timeout, bad_status or refusal', async () => {
    const dest = join(tmp, 'fail.bin');
    await rejectsWith(downloadToFile(`${main.base}/big-cl`, dest, opts([main.key])), 'too_large');
    await rejectsWith(downloadToFile(`${main.base}/big-chunked`, dest, opts([main.key])), 'too_large');
    await rejectsWith(downloadToFile(`${main.base}/stall-body`, dest, opts([main.key], { timeoutMs: 300 })), 'fetch_timeout');
    await rejectsWith(downloadToFile(`${main.base}/missing`, dest, opts([main.key])), 'bad_status');
    await rejectsWith(downloadToFile(`${main.base}/exact`, dest, opts()), 'url_not_allowed');
    assert.deepEqual(await readdir(tmp), []);
  });

  test('a chunked body over the limit stops streaming (never buffers the whole body)', async () => {
    const dest = join(tmp, 'limit.bin');
    await rejectsWith(downloadToFile(`${main.base}/big-chunked`, dest, opts([main.key], { maxBytes: 600 })), 'too_large');
    assert.deepEqual(await readdir(tmp), []);
  });
});

describe('HTTP/1.0 servers that end the body by closing the connection', () => {
  // Large enough that the body outruns the reader (the disk, for downloadToFile),
  // which is when undici 7 crashed the process on the closing end of the socket.
  const BODY = randomBytes(2 * 1024 * 1024);
  const ROUNDS = 8;
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const childScript = fileURLToPath(new URL('./support/http10-fetch-child.ts', import.meta.url));

  function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stderr });
      });
    });
  }

  async function assertSurvives(url: string, hostPort: string): Promise<void> {
    for (const mode of ['fetch', 'download']) {
      const out = await mkdtemp(join(tmpdir(), 'guarded-fetch-http10-'));
      try {
        const { code, signal, stderr } = await runChild([mode, url, hostPort, out, String(ROUNDS)]);
        assert.equal(code, 0, `${mode} ${url}: child exited ${code ?? signal}\n${stderr.slice(0, 2000)}`);
        const files = (await readdir(out)).sort();
        assert.equal(files.length, ROUNDS, `${mode}: ${files.join(', ')}`);
        for (const file of files) assert.ok(BODY.equals(await readFile(join(out, file))), `${mode} ${file}: bytes differ`);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    }
  }

  test('a raw HTTP/1.0 answer without Content-Length, body in one write', async () => {
    const origin = await startHttp10Origin({ body: BODY });
    try {
      await assertSurvives(`${origin.url}/image.png`, origin.hostPort);
    } finally {
      await origin.close();
    }
  });

  test('a raw HTTP/1.0 answer without Content-Length, body in delayed pieces', async () => {
    const origin = await startHttp10Origin({ body: BODY, chunkSize: 256 * 1024, delayMs: 2 });
    try {
      await assertSurvives(`${origin.url}/image.png`, origin.hostPort);
    } finally {
      await origin.close();
    }
  });

  test('python3 -m http.server', { skip: !hasPython3() && 'python3 is not installed' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'guarded-fetch-www-'));
    await writeFile(join(dir, 'image.png'), BODY);
    const origin = await startPythonOrigin(dir);
    try {
      await assertSurvives(`${origin.url}/image.png`, origin.hostPort);
    } finally {
      await origin.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('isPublicAddress', () => {
  const table: Array<[string, boolean]> = [
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['93.184.216.34', true],
    ['2606:4700::1111', true],
    ['2a00:1450:4001:80b::200e', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['127.255.255.254', false],
    ['10.0.0.1', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.168.0.1', false],
    ['169.254.169.254', false],
    ['169.254.0.1', false],
    ['100.64.0.1', false],
    ['100.127.255.255', false],
    ['0.0.0.0', false],
    ['0.1.2.3', false],
    ['224.0.0.1', false],
    ['239.255.255.250', false],
    ['255.255.255.255', false],
    ['240.0.0.1', false],
    ['192.0.2.1', false],
    ['198.51.100.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fe80::1%eth0', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['ff02::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:169.254.169.254', false],
    ['2002:7f00:1::', false], // 6to4 embedding 127.0.0.1
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', false], // Teredo
    ['64:ff9b::7f00:1', false], // NAT64 of 127.0.0.1
    ['2001:db8::1', false], // documentation
    ['[::1]', false],
    ['127.1', false], // inet_aton shorthand is not a canonical address
    ['localhost', false],
    ['', false],
    ['not-an-ip', false],
  ];
  for (const [ip, expected] of table) {
    test(`${ip || '(empty)'} → ${expected}`, () => assert.equal(isPublicAddress(ip), expected));
  }
});

describe('guarded lookup', () => {
  type Lookup = typeof guardedLookup;
  function call(lookup: Lookup, host: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family?: number | undefined }> {
    return new Promise((resolve) => lookup(host, { all }, (err, address, family) => resolve({ err, address, family })));
  }
  const fake = (answers: Record<string, Array<{ address: string; family: number }>>) =>
    createGuardedLookup((hostname, _options, cb) => cb(null, answers[hostname] ?? []));

  test('real resolver: localhost is refused (both callback forms)', async () => {
    for (const all of [true, false]) {
      const { err } = await call(guardedLookup, 'localhost', all);
      assert.ok(err instanceof FetchError);
      assert.equal(err.code, 'url_not_allowed');
    }
  });

  test('every returned address is validated', async () => {
    const lookup = fake({
      'public.test': [{ address: '8.8.8.8', family: 4 }, { address: '2606:4700::1111', family: 6 }],
      'mixed.test': [{ address: '8.8.8.8', family: 4 }, { address: '10.0.0.5', family: 4 }],
      'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
      'empty.test': [],
    });
    const many = await call(lookup, 'public.test', true);
    assert.equal(many.err, null);
    assert.deepEqual(many.address, [{ address: '8.8.8.8', family: 4 }, { address: '2606:4700::1111', family: 6 }]);
    const one = await call(lookup, 'public.test', false);
    assert.equal(one.err, null);
    assert.equal(one.address, '8.8.8.8');
    assert.equal(one.family, 4);
    for (const host of ['mixed.test', 'mapped.test']) {
      const { err } = await call(lookup, host, true);
      assert.ok(err instanceof FetchError && err.code === 'url_not_allowed', host);
      assert.ok(!err.message.includes('10.0.0.5') && !err.message.includes('127.0.0.1'), 'does not leak the address');
    }
    const empty = await call(lookup, 'empty.test', true);
    assert.equal(empty.err?.code, 'ENOTFOUND');
  });
});

describe('parseAllowedHosts', () => {
  test('parses and canonicalises entries', () => {
    assert.deepEqual(parseAllowedHosts(undefined), new Set());
    assert.deepEqual(parseAllowedHosts(''), new Set());
    assert.deepEqual(parseAllowedHosts(' , '), new Set());
    assert.deepEqual(parseAllowedHosts('a:1, b:2'), new Set(['a:1', 'b:2']));
    assert.deepEqual(parseAllowedHosts('MinIO:9000,127.0.0.1:8080 [::1]:80,'), new Set(['minio:9000', '127.0.0.1:8080', '[::1]:80']));
    assert.deepEqual(parseAllowedHosts('[0:0:0:0:0:0:0:1]:8080'), new Set(['[::1]:8080']));
  });

  test('rejects entries without a port or with junk', () => {
    for (const bad of ['minio', 'a:1, b', 'http://a:1', 'a:1/path', '::1:8080', 'a:0', 'a:65536', 'a:', '[::1]', 'u@a:1']) {
      assert.throws(() => parseAllowedHosts(bad), /Invalid allowed private host/, bad);
    }
  });
});
