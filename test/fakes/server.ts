import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ffmpegPath, ffprobePath } from '../../src/media/ffmpeg.ts';
import { mp4File } from '../support/media.ts';

/**
 * What the fake xAI and Vidu servers share: an HTTP server on 127.0.0.1, bounded JSON
 * reading, a request log, scripted faults, result files behind expiring links, and a clean
 * close. Each fake (xai.ts, vidu.ts) only says how its API answers a request that got here.
 *
 * Built for a benchmark with 10,000 tasks in flight as much as for tests: a task is one Map
 * entry, and its state is computed from the clock when asked (created time + its delay), so
 * there is no timer per task and every request is O(1). Nothing is logged per request.
 */

// ─── What a test sees ──────────────────────────────────────────────────────────

/** The requests a fault can be queued for. `download` is the result video, `cover` its image (Vidu). */
export type Route = 'create' | 'check' | 'download' | 'cover';

export type Fault =
  /** Answer this status; with no `body`, the upstream's own error body for it. */
  | { status: number; retryAfter?: number; body?: string }
  /** 200 with a body that is not JSON. */
  | 'malformed-json'
  /** Read the request, never answer (until the client gives up or the fake closes). */
  | 'hang'
  /** Destroy the socket without answering. */
  | 'reset'
  /** Download only: Content-Length of the whole file, send half, destroy the socket. */
  | 'truncated'
  /** Download only: the first half of the video as a whole, well-formed response (an upstream that stored a cut file). */
  | 'cut-file'
  /** Download only: 200 with an HTML page. */
  | 'not-video'
  /** Download only: 302 to the cloud metadata address, which a gateway must refuse to follow. */
  | 'redirect-private'
  /** 404 with the upstream's own body (on `check`: forgets a task it accepted). */
  | 'not-found';

/** How a task ends, chosen by markers in its prompt (see `outcomeOf`). */
export type Outcome = 'success' | 'failed' | 'moderated' | 'expired';

export interface RecordedRequest {
  method: string;
  /** With the query string. */
  path: string;
  /** Lowercased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The body parsed as JSON, else the raw text; undefined when there was none (or it was over the limit). */
  body: unknown;
}

export interface FakeTask {
  id: string;
  /** The create endpoint that made it: 'generations', 'edits', 'text2video', 'reference2video', … */
  kind: string;
  /** The JSON body exactly as received. */
  body: Record<string, unknown>;
  /** The API key that created it (Vidu signs its callbacks with it). */
  key: string;
  /** Clock times (ms). Pending while clock() < doneAt; the state is never stored, only computed. */
  createdAt: number;
  doneAt: number;
  /** The result link answers until then: doneAt + linkTtlMs, or earlier after expireLinks(). */
  linkExpiresAt: number;
  outcome: Outcome;
  /** Status GETs answered for it (faulted ones do not count), and when the last one came. */
  checks: number;
  lastCheckAt: number | null;
  /** The shortest time between two status GETs of this task (the benchmark holds it to ≥ 2 s). */
  minCheckGapMs: number | null;
}

export interface FakeOptions {
  /** How long a task stays pending, in ms (default 300); `#slow` in the prompt multiplies it by 10. */
  completeAfterMs?: number | ((body: Record<string, unknown>) => number);
  /** How long a result link works after the task finished (default 24 h, as both upstreams say). */
  linkTtlMs?: number;
  /** API keys the fake accepts (default `['xai-test-key']` / `['vidu-test-key']`). */
  keys?: string[];
  /** The bytes served as every result video (default: a 2 s 320×240 H.264 MP4 made once with ffmpeg). */
  video?: Buffer;
  /** Keep `requests` (default true); the benchmark turns it off. */
  record?: boolean;
  /** Time source for task states (default Date.now). Vidu callbacks still run on real timers. */
  clock?: () => number;
}

export interface FakeUpstream {
  /** Base URL the gateway is configured with: `…/v1` for xAI, `…/ent/v2` for Vidu. */
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** 127.0.0.1:PORT, for the gateway's ALLOWED_PRIVATE_HOSTS (it must reach the result links). */
  hostPort: string;
  requests: RecordedRequest[];
  tasks: Map<string, FakeTask>;
  /** Queue a fault for the next `times` requests to a route (faults queued earlier come first). */
  fault(route: Route, fault: Fault, times?: number): void;
  /** Every result link given out so far answers 404 from now on (the 24 h expiry, now). */
  expireLinks(): void;
  /** Exactly the bytes served as a result video. */
  videoBytes: Buffer;
  close(): Promise<void>;
}

// ─── What a fake supplies ──────────────────────────────────────────────────────

/** An answer: an object body is sent as JSON, a string as is, no body as an empty one. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiRequest {
  method: string;
  /** Without the query string. */
  pathname: string;
  headers: IncomingHttpHeaders;
  /** The body's media type, lowercased, without parameters; '' when none was given. */
  contentType: string;
  text: string;
  /** `text` parsed as JSON, when it is JSON (whatever the content type said). */
  json: { ok: true; value: unknown } | { ok: false };
}

/** What a fake's handler may use. */
export interface FakeContext {
  origin: string;
  tasks: Map<string, FakeTask>;
  clock: () => number;
  keys: ReadonlySet<string>;
  /** Stores a new task; its completion time comes from the options, `#slow` and `slowdown`. */
  addTask(init: { id: string; kind: string; body: Record<string, unknown>; key: string; outcome: Outcome; slowdown?: number }): FakeTask;
}

export interface UpstreamSpec {
  /** The API's path prefix: `url` is origin + basePath. */
  basePath: string;
  defaultKeys: string[];
  /** Largest request body; a larger one is read to its end, dropped and answered 413. */
  maxBodyBytes: number;
  options: FakeOptions;
  /** Served at /files/<id>.jpg, or null for an upstream without covers. */
  cover: Buffer | null;
  /** Which fault queue a request draws from; null when it is none of create/check. */
  routeOf(method: string, pathname: string): 'create' | 'check' | null;
  /** Answers a request that got past the body limit and any fault. */
  handle(request: ApiRequest, context: FakeContext): Reply;
  /** The upstream's own error answer for a status (faults, the body limit, a handler that threw). */
  errorReply(status: number, route: Route | null): Reply;
  /** Called once by close(), before the server stops: cancel anything of the fake's own. */
  onClose?(): void;
}

// ─── Shared rules ──────────────────────────────────────────────────────────────

/**
 * Tests that drive the gateway end to end pick an outcome with a prompt marker:
 * `#moderated`, `#expired`, `#fail`; anything else succeeds.
 */
export function outcomeOf(prompt: unknown): Outcome {
  if (typeof prompt !== 'string') return 'success';
  if (prompt.includes('#moderated')) return 'moderated';
  if (prompt.includes('#expired')) return 'expired';
  if (prompt.includes('#fail')) return 'failed';
  return 'success';
}

/** Pending progress rises linearly from 0 to 99 over the task's delay; 100 once done. */
/** Counts a status GET of the task. */
export function recordCheck(task: FakeTask, now: number): void {
  if (task.lastCheckAt !== null) task.minCheckGapMs = Math.min(task.minCheckGapMs ?? Infinity, now - task.lastCheckAt);
  task.checks += 1;
  task.lastCheckAt = now;
}

export function progressAt(task: FakeTask, now: number): number {
  if (now >= task.doneAt) return 100;
  const span = task.doneAt - task.createdAt;
  return Math.max(0, Math.min(99, Math.floor((99 * (now - task.createdAt)) / span)));
}

/** The fraction of the delay that has passed, 0–1. */
export function elapsedFraction(task: FakeTask, now: number): number {
  if (now >= task.doneAt) return 1;
  return Math.max(0, (now - task.createdAt) / (task.doneAt - task.createdAt));
}

export const isHttpUrl = (value: string): boolean => /^https?:\/\/[^\s/?#]+/i.test(value);

// ─── Served media, made once per process ───────────────────────────────────────

let defaultVideo: Buffer | undefined;
let defaultCover: Buffer | undefined;

/** A real 2 s 320×240 H.264 MP4 with sound, web-ready (its index first) as upstreams serve them. */
export function defaultVideoBytes(): Buffer {
  return (defaultVideo ??= readFileSync(mp4File(2, 320, 240, { faststart: true })));
}

/** A real 320×240 JPEG (ffmpeg's test pattern). */
export function defaultCoverBytes(): Buffer {
  return (defaultCover ??= execFileSync(
    ffmpegPath,
    ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x240', '-frames:v', '1', '-f', 'mjpeg', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  ));
}

const probed = new WeakMap<Buffer, number>();

/** The length in seconds ffprobe reads from some bytes (to 0.01 s), or 0 when they are no media. */
export function probeSeconds(bytes: Buffer): number {
  const known = probed.get(bytes);
  if (known !== undefined) return known;
  const directory = mkdtempSync(path.join(os.tmpdir(), 'vidgate-fake-'));
  let seconds = 0;
  try {
    const file = path.join(directory, 'probe.mp4');
    writeFileSync(file, bytes);
    // stderr is dropped: a test may serve bytes that are no video on purpose.
    const output = execFileSync(ffprobePath, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    const value = Number(output.toString().trim());
    if (Number.isFinite(value) && value > 0) seconds = Math.round(value * 100) / 100;
  } catch {
    // Not media: 0 seconds.
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  probed.set(bytes, seconds);
  return seconds;
}

// ─── The server ────────────────────────────────────────────────────────────────

/** Faults only a file download can show. */
const DOWNLOAD_FAULTS = new Set<Fault>(['truncated', 'cut-file', 'not-video', 'redirect-private']);
const FILE_PATH = /^\/files\/([^/]+)\.(mp4|jpg)$/;
const DAY_MS = 24 * 60 * 60 * 1000;

export async function startFakeServer(spec: UpstreamSpec): Promise<FakeUpstream> {
  const { options } = spec;
  const clock = options.clock ?? Date.now;
  const record = options.record ?? true;
  const linkTtlMs = options.linkTtlMs ?? DAY_MS;
  const completeAfterMs = options.completeAfterMs ?? 300;
  const video = options.video ?? defaultVideoBytes();
  const requests: RecordedRequest[] = [];
  const tasks = new Map<string, FakeTask>();
  /** Per route, what is still queued: each entry serves `left` more requests. */
  const faults = new Map<Route, { fault: Fault; left: number }[]>();
  /** Responses a 'hang' fault holds open; close() destroys their sockets. */
  const hung = new Set<ServerResponse>();
  let closing: Promise<void> | null = null;

  const context: FakeContext = {
    origin: '', // set once the server listens, before any request can arrive
    tasks,
    clock,
    keys: new Set(options.keys ?? spec.defaultKeys),
    addTask({ id, kind, body, key, outcome, slowdown = 1 }) {
      const base = typeof completeAfterMs === 'function' ? completeAfterMs(body) : completeAfterMs;
      const slow = typeof body.prompt === 'string' && body.prompt.includes('#slow') ? 10 : 1;
      const createdAt = clock();
      const doneAt = createdAt + Math.max(0, base * slow * slowdown);
      const task: FakeTask = { id, kind, body, key, createdAt, doneAt, linkExpiresAt: doneAt + linkTtlMs, outcome, checks: 0, lastCheckAt: null, minCheckGapMs: null };
      tasks.set(id, task);
      return task;
    },
  };

  function takeFault(route: Route): Fault | undefined {
    const queue = faults.get(route);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.left <= 0) queue.shift();
    return head.fault;
  }

  function send(response: ServerResponse, reply: Reply): void {
    const headers: Record<string, string | number> = { ...reply.headers };
    let payload: string | undefined;
    if (typeof reply.body === 'string') {
      payload = reply.body;
      headers['content-type'] ??= /^\s*[{[]/.test(payload) ? 'application/json' : 'text/html; charset=utf-8';
    } else if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      headers['content-type'] ??= 'application/json';
    }
    headers['content-length'] = payload === undefined ? 0 : Buffer.byteLength(payload);
    // Once closing, no socket goes back to keep-alive: close() should not wait for idle timeouts.
    if (closing) headers.connection = 'close';
    response.writeHead(reply.status, headers).end(payload);
  }

  /** Plays a fault; answers false for none (the request goes on as usual). */
  function playFault(fault: Fault | undefined, route: Route, request: IncomingMessage, response: ServerResponse): boolean {
    if (fault === undefined) return false;
    if (typeof fault === 'object') {
      const reply: Reply = fault.body === undefined ? spec.errorReply(fault.status, route) : { status: fault.status, body: fault.body };
      if (fault.retryAfter !== undefined) reply.headers = { ...reply.headers, 'retry-after': String(fault.retryAfter) };
      send(response, reply);
      return true;
    }
    switch (fault) {
      case 'malformed-json':
        send(response, { status: 200, body: '{"status":"pending","progr', headers: { 'content-type': 'application/json' } });
        return true;
      case 'hang':
        hung.add(response);
        response.on('close', () => hung.delete(response));
        return true;
      case 'reset':
        request.socket.destroy();
        return true;
      case 'not-found':
        send(response, spec.errorReply(404, route));
        return true;
      case 'truncated': {
        const bytes = route === 'cover' && spec.cover ? spec.cover : video;
        response.writeHead(200, { 'content-type': route === 'cover' ? 'image/jpeg' : 'video/mp4', 'content-length': bytes.length });
        response.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => request.socket.destroy());
        return true;
      }
      case 'cut-file': {
        const cut = video.subarray(0, Math.floor(video.length / 2));
        response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': cut.length });
        response.end(cut);
        return true;
      }
      case 'not-video':
        send(response, { status: 200, body: '<!doctype html><html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>' });
        return true;
      case 'redirect-private':
        send(response, { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } });
        return true;
    }
  }

  function log(request: IncomingMessage, json: ApiRequest['json'] | null, text: string | null): void {
    if (!record) return;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const body = json?.ok ? json.value : text ? text : undefined;
    requests.push({ method: request.method ?? 'GET', path: request.url ?? '/', headers, body });
  }

  /** GET /files/<id>.mp4 and .jpg: no Authorization, like a signed CDN link; 404 once it expired. */
  function serveFile(request: IncomingMessage, response: ServerResponse, match: RegExpExecArray): void {
    request.resume(); // a body on a download is ignored, but read so the socket stays usable
    log(request, null, null);
    const route: Route = match[2] === 'mp4' ? 'download' : 'cover';
    if (playFault(takeFault(route), route, request, response)) return;
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, { status: 405, body: 'method not allowed', headers: { allow: 'GET, HEAD', 'content-type': 'text/plain' } });
    const bytes = route === 'download' ? video : spec.cover;
    const task = tasks.get(match[1]!);
    const now = clock();
    if (!bytes || !task || task.outcome !== 'success' || now < task.doneAt || now >= task.linkExpiresAt) {
      return send(response, { status: 404, body: 'not found', headers: { 'content-type': 'text/plain' } });
    }
    response.writeHead(200, { 'content-type': route === 'download' ? 'video/mp4' : 'image/jpeg', 'content-length': bytes.length, ...(closing ? { connection: 'close' } : {}) });
    response.end(request.method === 'HEAD' ? undefined : bytes);
  }

  function serveApi(request: IncomingMessage, response: ServerResponse, pathname: string, text: string | null): void {
    const json: ApiRequest['json'] = text ? parseJson(text) : { ok: false };
    log(request, json, text);
    const route = spec.routeOf(request.method ?? 'GET', pathname);
    if (text === null) return send(response, spec.errorReply(413, route));
    if (route && playFault(takeFault(route), route, request, response)) return;
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let reply: Reply;
    try {
      reply = spec.handle({ method: request.method ?? 'GET', pathname, headers: request.headers, contentType, text, json }, context);
    } catch (error) {
      // A bug in the fake itself: say so loudly, and answer as the upstream would.
      console.error('fake upstream handler failed:', error);
      reply = spec.errorReply(500, route);
    }
    send(response, reply);
  }

  const server = createServer((request, response) => {
    const target = request.url ?? '/';
    const query = target.indexOf('?');
    const pathname = query === -1 ? target : target.slice(0, query);
    const file = FILE_PATH.exec(pathname);
    if (file) return serveFile(request, response, file);
    // Most requests are bodiless GETs (polls): answer them at once, without stream listeners.
    if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) return serveApi(request, response, pathname, '');
    readBody(request, spec.maxBodyBytes, (text) => serveApi(request, response, pathname, text));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  context.origin = `http://127.0.0.1:${port}`;

  return {
    url: context.origin + spec.basePath,
    origin: context.origin,
    hostPort: `127.0.0.1:${port}`,
    requests,
    tasks,
    videoBytes: video,
    fault(route, fault, times = 1) {
      if (DOWNLOAD_FAULTS.has(fault) && route !== 'download' && route !== 'cover') throw new TypeError(`fault '${String(fault)}' only applies to download or cover, not ${route}`);
      if (!Number.isInteger(times) || times < 1) throw new TypeError(`times must be a positive integer, got ${times}`);
      const queue = faults.get(route) ?? [];
      queue.push({ fault, left: times });
      faults.set(route, queue);
    },
    expireLinks() {
      // A link is given out once its task is done; the ones not done yet will get fresh links.
      const now = clock();
      for (const task of tasks.values()) if (task.doneAt <= now && task.linkExpiresAt > now) task.linkExpiresAt = now;
    },
    close() {
      return (closing ??= new Promise<void>((resolve) => {
        spec.onClose?.();
        server.close(() => resolve());
        server.closeIdleConnections();
        for (const response of hung) response.socket?.destroy();
        // A response still being written gets a moment to finish; then every socket goes.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }));
    },
  };
}

function parseJson(text: string): ApiRequest['json'] {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Reads a body as UTF-8, keeping at most `limit` bytes in memory. Past the limit the rest is
 * still read (and dropped) to its end, so the client finishes sending and can read our 413
 * instead of seeing a reset mid-upload; `done` then gets null.
 */
function readBody(request: IncomingMessage, limit: number, done: (text: string | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else chunks.length = 0;
  });
  request.on('end', () => done(size > limit ? null : Buffer.concat(chunks, size).toString('utf8')));
  request.on('error', () => {
    // The client went away mid-body: there is no one to answer.
  });
}
