import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pngDataUri, probe } from './support/media.ts';
import { waitUntil } from './support/wait.ts';
import type { FakeTask, FakeUpstream } from './fakes/server.ts';
import { startFakeVidu, viduCallbackSignature } from './fakes/vidu.ts';
import { startFakeXai } from './fakes/xai.ts';

/**
 * The fake upstreams themselves, driven with plain fetch: each contract behaviour of
 * upstream-apis.md §2/§3/§5 they promise, and each scripted fault. Task states are driven
 * by a hand-moved clock, so nothing here waits for a task to finish (callbacks excepted).
 */

// ─── Helpers ───────────────────────────────────────────────────────────────────

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: unknown;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; json?: unknown; body?: string | FormData; signal?: AbortSignal; redirect?: RequestRedirect } = {}): Promise<Answer> {
  const { json, ...rest } = init;
  const response = await fetch(url, { ...rest, method: init.method ?? (json !== undefined || init.body !== undefined ? 'POST' : 'GET'), body: json !== undefined ? JSON.stringify(json) : init.body });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

async function download(url: string, method = 'GET'): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const response = await fetch(url, { method });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** A clock a test moves by hand. */
function manualClock(start = Date.UTC(2026, 10, 1)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const taskOf = (fake: FakeUpstream, id: string): FakeTask => {
  const task = fake.tasks.get(id);
  assert.ok(task, `task ${id} is stored`);
  return task;
};

interface XaiFieldError {
  error: { message: string; type: string; param: string | null; code: string };
}
interface XaiStatusError {
  code: string;
  error: string;
}
interface XaiResult {
  status: string;
  progress?: number;
  request_id?: string;
  video?: { url: string; duration: number; respect_moderation: boolean };
  model?: string;
  usage?: { cost_in_usd_ticks: number };
  error?: { code: string; message: string };
}
interface ViduError {
  code: string;
  message: string;
  reason: string;
}
interface ViduTask {
  task_id: string;
  state: string;
  model: string;
  prompt: string;
  images?: string[];
  duration: number;
  resolution: string;
  off_peak: boolean;
  credits: number;
  created_at: string;
}
interface ViduCreations {
  id: string;
  state: string;
  err_code: string;
  credits: number;
  progress: number;
  payload: string;
  off_peak: boolean;
  creations: { id: string; url: string; cover_url: string; watermarked_url: string }[];
}

// ─── xAI ───────────────────────────────────────────────────────────────────────

const XAI = { authorization: 'Bearer xai-test-key', 'content-type': 'application/json' };

describe('fake xAI', () => {
  test('creates with a Bearer key, answers a request_id, and records the request (idempotency key included)', async (t) => {
    const xai = await startFakeXai();
    t.after(() => xai.close());
    assert.match(xai.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.equal(xai.url, `${xai.origin}/v1`);
    assert.equal(xai.hostPort, xai.origin.slice('http://'.length));

    const body = { model: 'grok-imagine-video', prompt: 'a red kite', duration: 3, resolution: '480p', aspect_ratio: '16:9' };
    const created = await call(`${xai.url}/videos/generations`, { headers: { ...XAI, 'idempotency-key': 'idem-1' }, json: body });
    assert.equal(created.status, 200);
    const { request_id } = created.body as { request_id: string };
    assert.match(request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    assert.equal(xai.requests.length, 1);
    const recorded = xai.requests[0]!;
    assert.equal(recorded.method, 'POST');
    assert.equal(recorded.path, '/v1/videos/generations');
    assert.equal(recorded.headers['idempotency-key'], 'idem-1');
    assert.equal(recorded.headers.authorization, 'Bearer xai-test-key');
    assert.deepEqual(recorded.body, body);

    const task = taskOf(xai, request_id);
    assert.equal(task.kind, 'generations');
    assert.deepEqual(task.body, body);
    assert.equal(task.doneAt - task.createdAt, 300);
    assert.equal(task.outcome, 'success');
    assert.equal(task.checks, 0);

    // The same for the other two endpoints, and an x-idempotency-key.
    const edit = await call(`${xai.url}/videos/edits`, { headers: { ...XAI, 'x-idempotency-key': 'idem-2' }, json: { model: 'grok-imagine-video', prompt: 'make it snow', video: { url: 'https://example.com/in.mp4' } } });
    assert.equal(edit.status, 200);
    assert.equal(xai.requests[1]!.headers['x-idempotency-key'], 'idem-2');
    const extension = await call(`${xai.url}/videos/extensions`, { headers: XAI, json: { model: 'grok-imagine-video-1.5', prompt: 'and then', video: { url: 'https://example.com/in.mp4' }, duration: 4 } });
    assert.equal(extension.status, 200);
    // No prompt is needed with an image; data URLs and 1080p on 1.5 are fine.
    const fromImage = await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video-1.5', image: { url: pngDataUri(64, 48) }, resolution: '1080p' } });
    assert.equal(fromImage.status, 200);
  });

  test('refuses a missing, unknown or non-Bearer key with 401 in the {code, error} shape', async (t) => {
    const xai = await startFakeXai({ keys: ['k1', 'k2'] });
    t.after(() => xai.close());
    const json = { model: 'grok-imagine-video', prompt: 'x' };
    for (const authorization of [undefined, 'Bearer xai-test-key', 'Token k1', 'Bearer ']) {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) };
      const answer = await call(`${xai.url}/videos/generations`, { headers, json });
      assert.equal(answer.status, 401, String(authorization));
      const body = answer.body as XaiStatusError;
      assert.equal(typeof body.code, 'string');
      assert.equal(typeof body.error, 'string');
    }
    assert.equal((await call(`${xai.url}/videos/generations`, { headers: { authorization: 'Bearer k2', 'content-type': 'application/json' }, json })).status, 200);
    // Polling needs the key too.
    assert.equal((await call(`${xai.url}/videos/some-id`)).status, 401);
    assert.equal(xai.tasks.size, 1);
  });

  test('validates as xAI does: 400 for a bad value, 422 for a wrong type or unknown field, naming the field', async (t) => {
    const xai = await startFakeXai();
    t.after(() => xai.close());
    const gen = { model: 'grok-imagine-video', prompt: 'a kite' };
    const video = { url: 'https://example.com/in.mp4' };
    const image = { url: 'https://example.com/a.png' };
    const cases: [path: string, body: Record<string, unknown>, status: number, param: string][] = [
      ['generations', { prompt: 'x' }, 400, 'model'],
      ['generations', { ...gen, model: 'grok-2' }, 400, 'model'],
      ['generations', { ...gen, duration: 0 }, 400, 'duration'],
      ['generations', { ...gen, duration: 16 }, 400, 'duration'],
      ['generations', { ...gen, duration: 2.5 }, 400, 'duration'],
      ['generations', { ...gen, duration: '5' }, 422, 'duration'],
      ['generations', { ...gen, aspect_ratio: '5:4' }, 400, 'aspect_ratio'],
      ['generations', { ...gen, resolution: '1080p' }, 400, 'resolution'],
      ['generations', { ...gen, resolution: '540p' }, 400, 'resolution'],
      ['generations', { ...gen, model: 'grok-imagine-video-1.5', reference_images: [image], resolution: '1080p' }, 400, 'resolution'],
      ['generations', { ...gen, reference_images: [] }, 400, 'reference_images'],
      ['generations', { ...gen, reference_images: Array.from({ length: 8 }, () => image) }, 400, 'reference_images'],
      ['generations', { ...gen, reference_images: [image, { url: 'ftp://x/y.png' }] }, 400, 'reference_images[1].url'],
      ['generations', { ...gen, reference_images: image }, 422, 'reference_images'],
      ['generations', { ...gen, image: 'https://example.com/a.png' }, 422, 'image'],
      ['generations', { ...gen, image: { url: 'data:text/plain;base64,aGk=' } }, 400, 'image.url'],
      ['generations', { ...gen, image, reference_images: [image] }, 400, 'reference_images'],
      ['generations', { model: 'grok-imagine-video' }, 400, 'prompt'],
      ['generations', { model: 'grok-imagine-video', prompt: '   ' }, 400, 'prompt'],
      ['generations', { ...gen, seconds: 5 }, 422, 'seconds'],
      ['generations', { ...gen, reference_audios: [{ voice_id: 'a' }, { voice_id: 'b' }, { voice_id: 'c' }, { voice_id: 'd' }] }, 400, 'reference_audios'],
      ['edits', { model: 'grok-imagine-video', prompt: 'snow' }, 400, 'video'],
      ['edits', { model: 'grok-imagine-video', video }, 400, 'prompt'],
      ['edits', { model: 'grok-imagine-video', prompt: 'snow', video, duration: 5 }, 422, 'duration'],
      ['edits', { model: 'grok-imagine-video', prompt: 'snow', video, resolution: '480p' }, 422, 'resolution'],
      ['extensions', { model: 'grok-imagine-video', prompt: 'on', video, duration: 1 }, 400, 'duration'],
      ['extensions', { model: 'grok-imagine-video', prompt: 'on', video, duration: 11 }, 400, 'duration'],
      ['extensions', { model: 'grok-imagine-video', prompt: 'on', video: { url: 'data:image/png;base64,AAAA' } }, 400, 'video.url'],
    ];
    for (const [path, body, status, param] of cases) {
      const answer = await call(`${xai.url}/videos/${path}`, { headers: XAI, json: body });
      const label = `${path} ${JSON.stringify(body)}`;
      assert.equal(answer.status, status, label);
      const error = (answer.body as XaiFieldError).error;
      assert.equal(error.param, param, label);
      assert.equal(error.type, 'invalid_request_error', label);
      assert.ok(error.message.length > 0, label);
    }
    assert.equal(xai.tasks.size, 0);
  });

  test('takes JSON only: multipart → 415, broken JSON → 400, a non-object → 422', async (t) => {
    const xai = await startFakeXai();
    t.after(() => xai.close());
    const form = new FormData();
    form.set('model', 'grok-imagine-video');
    form.set('prompt', 'x');
    const multipart = await call(`${xai.url}/videos/generations`, { headers: { authorization: XAI.authorization }, body: form });
    assert.equal(multipart.status, 415);
    assert.equal((multipart.body as XaiFieldError).error.code, 'unsupported_media_type');
    const broken = await call(`${xai.url}/videos/generations`, { headers: XAI, body: '{"model":' });
    assert.equal(broken.status, 400);
    assert.equal((broken.body as XaiFieldError).error.code, 'invalid_json');
    assert.equal(xai.requests[1]!.body, '{"model":', 'a body that is no JSON is recorded raw');
    assert.equal((await call(`${xai.url}/videos/generations`, { headers: XAI, json: [1] })).status, 422);
    assert.equal(xai.tasks.size, 0);
  });

  test('polls: 202 in three body shapes with rising progress, then 200 done with a url to the exact bytes', async (t) => {
    const clock = manualClock();
    const xai = await startFakeXai({ clock: clock.now, completeAfterMs: 1000 });
    t.after(() => xai.close());
    const created = await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'a kite', duration: 4 } });
    const id = (created.body as { request_id: string }).request_id;
    const poll = () => call(`${xai.url}/videos/${id}`, { headers: { authorization: XAI.authorization } });

    const first = await poll();
    assert.equal(first.status, 202);
    assert.deepEqual(first.body, { status: 'pending', progress: 0 });
    clock.advance(250);
    const second = await poll();
    assert.equal(second.status, 202);
    assert.equal(second.text, '', 'an empty body');
    const third = await poll();
    assert.equal(third.status, 202);
    assert.deepEqual(third.body, { request_id: id });
    clock.advance(250);
    const fourth = await poll();
    assert.deepEqual(fourth.body, { status: 'pending', progress: 49 });
    clock.advance(499);
    await poll();
    await poll();
    assert.deepEqual((await poll()).body, { status: 'pending', progress: 98 });
    assert.equal(taskOf(xai, id).checks, 7);
    assert.equal(taskOf(xai, id).lastCheckAt, clock.now());

    clock.advance(1);
    const done = await poll();
    assert.equal(done.status, 200);
    assert.deepEqual(done.body, {
      status: 'done',
      video: { url: `${xai.origin}/files/${id}.mp4`, duration: 4, respect_moderation: true },
      model: 'grok-imagine-video',
      progress: 100,
      usage: { cost_in_usd_ticks: 4 * 500_000_000 },
    });

    const file = await download(`${xai.origin}/files/${id}.mp4`);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'video/mp4');
    assert.equal(file.headers.get('content-length'), String(xai.videoBytes.length));
    assert.ok(file.bytes.equals(xai.videoBytes));
    assert.equal(probe(file.bytes).codec, 'h264', 'the default video is a real MP4');
    const head = await download(`${xai.origin}/files/${id}.mp4`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(xai.videoBytes.length));
    assert.equal(xai.requests.at(-2)!.headers.authorization, undefined, 'files need no Authorization');
  });

  test('reports the probed length when no duration was given; unknown ids are 404 {code, error}', async (t) => {
    const clock = manualClock();
    const xai = await startFakeXai({ clock: clock.now });
    t.after(() => xai.close());
    const created = await call(`${xai.url}/videos/edits`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'snow', video: { url: 'https://example.com/in.mp4' } } });
    const id = (created.body as { request_id: string }).request_id;
    clock.advance(300);
    const done = (await call(`${xai.url}/videos/${id}`, { headers: XAI })).body as XaiResult;
    const seconds = Math.round(probe(xai.videoBytes).duration * 100) / 100;
    assert.equal(done.video?.duration, seconds);
    assert.equal(done.usage?.cost_in_usd_ticks, Math.round(seconds * 500_000_000));

    const unknown = await call(`${xai.url}/videos/no-such-id`, { headers: XAI });
    assert.equal(unknown.status, 404);
    assert.equal(typeof (unknown.body as XaiStatusError).error, 'string');
  });

  test('prompt markers pick the outcome: #fail, #moderated, #expired, #slow', async (t) => {
    const clock = manualClock();
    const xai = await startFakeXai({ clock: clock.now, completeAfterMs: 100 });
    t.after(() => xai.close());
    const make = async (prompt: string) => ((await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt, duration: 2 } })).body as { request_id: string }).request_id;
    const failed = await make('a kite #fail');
    const moderated = await make('a kite #moderated');
    const expired = await make('a kite #expired');
    const slow = await make('a kite #slow');
    assert.equal(taskOf(xai, slow).doneAt - taskOf(xai, slow).createdAt, 1000);
    clock.advance(100);
    const poll = async (id: string) => call(`${xai.url}/videos/${id}`, { headers: XAI });

    const fail = await poll(failed);
    assert.equal(fail.status, 200);
    assert.equal((fail.body as XaiResult).status, 'failed');
    assert.equal((fail.body as XaiResult).error?.code, 'internal_error');
    assert.equal((await download(`${xai.origin}/files/${failed}.mp4`)).status, 404);

    const mod = (await poll(moderated)).body as XaiResult;
    assert.equal(mod.status, 'done');
    assert.deepEqual(mod.video, { url: '', duration: 2, respect_moderation: false });
    assert.equal((await download(`${xai.origin}/files/${moderated}.mp4`)).status, 404);

    assert.deepEqual((await poll(expired)).body, { status: 'expired' });
    assert.equal((await poll(slow)).status, 202);
    clock.advance(900);
    assert.equal((await poll(slow)).status, 200);
  });

  test('result links expire after linkTtlMs, and at once with expireLinks() (later tasks get fresh links)', async (t) => {
    const clock = manualClock();
    const xai = await startFakeXai({ clock: clock.now, completeAfterMs: 0, linkTtlMs: 60_000 });
    t.after(() => xai.close());
    const make = async () => ((await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x' } })).body as { request_id: string }).request_id;
    const first = await make();
    assert.equal((await download(`${xai.origin}/files/${first}.mp4`)).status, 200);
    clock.advance(59_999);
    assert.equal((await download(`${xai.origin}/files/${first}.mp4`)).status, 200);
    clock.advance(1);
    assert.equal((await download(`${xai.origin}/files/${first}.mp4`)).status, 404);

    const second = await make();
    assert.equal((await download(`${xai.origin}/files/${second}.mp4`)).status, 200);
    xai.expireLinks();
    assert.equal((await download(`${xai.origin}/files/${second}.mp4`)).status, 404);
    clock.advance(1);
    const third = await make();
    assert.equal((await download(`${xai.origin}/files/${third}.mp4`)).status, 200);
    assert.equal((await download(`${xai.origin}/files/unknown.mp4`)).status, 404);
  });

  test('completeAfterMs may depend on the body; record: false keeps no requests', async (t) => {
    const xai = await startFakeXai({ record: false, completeAfterMs: (body) => (body.duration as number) * 1000 });
    t.after(() => xai.close());
    const created = await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x', duration: 7 } });
    const task = taskOf(xai, (created.body as { request_id: string }).request_id);
    assert.equal(task.doneAt - task.createdAt, 7000);
    assert.equal(xai.requests.length, 0);
  });

  test('faults: a status with Retry-After for `times` requests, then normal service; a given body as is', async (t) => {
    const xai = await startFakeXai();
    t.after(() => xai.close());
    const json = { model: 'grok-imagine-video', prompt: 'x' };
    xai.fault('create', { status: 429, retryAfter: 2 }, 2);
    xai.fault('create', { status: 503, body: '<html>upstream busy</html>' });
    for (let i = 0; i < 2; i++) {
      const limited = await call(`${xai.url}/videos/generations`, { headers: XAI, json });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '2');
      assert.equal(typeof (limited.body as XaiStatusError).error, 'string', 'xAI’s own {code, error} body');
    }
    const busy = await call(`${xai.url}/videos/generations`, { headers: XAI, json });
    assert.equal(busy.status, 503);
    assert.equal(busy.text, '<html>upstream busy</html>');
    assert.match(busy.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(xai.tasks.size, 0, 'a faulted create makes no task');
    assert.equal(xai.requests.length, 3, 'faulted requests are recorded');

    const ok = await call(`${xai.url}/videos/generations`, { headers: XAI, json });
    assert.equal(ok.status, 200);
    const id = (ok.body as { request_id: string }).request_id;
    xai.fault('check', { status: 500 });
    const failing = await call(`${xai.url}/videos/${id}`, { headers: XAI });
    assert.equal(failing.status, 500);
    assert.equal((failing.body as XaiFieldError).error.type, 'server_error');
    assert.equal(taskOf(xai, id).checks, 0, 'a faulted check is not counted');
  });

  test('faults: malformed-json, not-found, reset, hang on the API routes', async (t) => {
    // Pending for a minute: the faults take longer than the default 300 ms on a loaded machine.
    const xai = await startFakeXai({ completeAfterMs: 60_000 });
    t.after(() => xai.close());
    const created = await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x' } });
    const id = (created.body as { request_id: string }).request_id;
    const poll = (signal?: AbortSignal) => call(`${xai.url}/videos/${id}`, { headers: XAI, signal });

    xai.fault('check', 'malformed-json');
    const malformed = await poll();
    assert.equal(malformed.status, 200);
    assert.equal(malformed.headers.get('content-type'), 'application/json');
    assert.equal(malformed.body, undefined, 'not parseable');

    xai.fault('check', 'not-found');
    const gone = await poll();
    assert.equal(gone.status, 404);
    assert.equal(typeof (gone.body as XaiStatusError).error, 'string');

    xai.fault('check', 'reset');
    await assert.rejects(poll(), TypeError);

    xai.fault('check', 'hang');
    await assert.rejects(poll(AbortSignal.timeout(200)), { name: 'TimeoutError' });

    xai.fault('create', 'reset');
    await assert.rejects(call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x' } }), TypeError);
    assert.equal(xai.tasks.size, 1);
    assert.equal((await poll()).status, 202, 'then back to normal');
  });

  test('faults on downloads: truncated, cut-file, not-video, redirect-private, a status; download-only faults are refused elsewhere', async (t) => {
    const xai = await startFakeXai({ completeAfterMs: 0 });
    t.after(() => xai.close());
    const created = await call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x' } });
    const url = `${xai.origin}/files/${(created.body as { request_id: string }).request_id}.mp4`;

    xai.fault('download', 'truncated');
    const truncated = await fetch(url);
    assert.equal(truncated.status, 200);
    assert.equal(truncated.headers.get('content-length'), String(xai.videoBytes.length));
    await assert.rejects(truncated.arrayBuffer());

    xai.fault('download', 'cut-file');
    const cut = await download(url);
    assert.equal(cut.status, 200);
    assert.ok(cut.bytes.equals(xai.videoBytes.subarray(0, Math.floor(xai.videoBytes.length / 2))), 'the first half, as a whole response');

    xai.fault('download', 'not-video');
    const page = await download(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.bytes.toString(), /<html/);

    xai.fault('download', 'redirect-private');
    const redirect = await fetch(url, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), 'http://169.254.169.254/latest/meta-data/');

    xai.fault('download', { status: 403 });
    assert.equal((await download(url)).status, 403);

    const whole = await download(url);
    assert.ok(whole.bytes.equals(xai.videoBytes), 'then the file again');

    for (const fault of ['truncated', 'cut-file', 'not-video', 'redirect-private'] as const) {
      assert.throws(() => xai.fault('check', fault), TypeError);
      assert.throws(() => xai.fault('create', fault), TypeError);
    }
    assert.throws(() => xai.fault('check', 'hang', 0), TypeError);
  });

  test('close() ends idle keep-alive sockets and hung requests at once', async () => {
    const xai = await startFakeXai();
    // A keep-alive connection left idle by a finished request…
    assert.equal((await call(`${xai.url}/videos/x`, { headers: XAI })).status, 404);
    // …and a request the fake will never answer.
    xai.fault('check', 'hang');
    const hanging = call(`${xai.url}/videos/x`, { headers: XAI });
    await waitUntil(() => xai.requests.length === 2, 'the hung request to arrive', 5000);
    const started = Date.now();
    await xai.close();
    assert.ok(Date.now() - started < 500, `closed in ${Date.now() - started} ms`);
    await assert.rejects(hanging);
    await xai.close(); // closing twice is harmless
  });

  test('no timer per task: state is computed from the clock', async (t) => {
    const xai = await startFakeXai({ record: false, completeAfterMs: 60_000 });
    t.after(() => xai.close());
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    await Promise.all(Array.from({ length: 200 }, () => call(`${xai.url}/videos/generations`, { headers: XAI, json: { model: 'grok-imagine-video', prompt: 'x' } })));
    assert.equal(xai.tasks.size, 200);
    assert.ok(timers() <= before + 2, `timers ${before} → ${timers()}`);
  });
});

// ─── Vidu ──────────────────────────────────────────────────────────────────────

const VIDU = { authorization: 'Token vidu-test-key', 'content-type': 'application/json' };

describe('fake Vidu', () => {
  test('creates with a Token key and answers the task as created, echoing its settings', async (t) => {
    const clock = manualClock();
    const vidu = await startFakeVidu({ clock: clock.now });
    t.after(() => vidu.close());
    assert.equal(vidu.url, `${vidu.origin}/ent/v2`);
    const body = { model: 'viduq3-pro', prompt: 'a kite', duration: 4, resolution: '1080p', aspect_ratio: '9:16', payload: 'mine' };
    const created = await call(`${vidu.url}/text2video`, { headers: VIDU, json: body });
    assert.equal(created.status, 200);
    const task = created.body as ViduTask & Record<string, unknown>;
    assert.match(task.task_id, /^\d{18}$/);
    assert.equal(task.state, 'created');
    assert.equal(task.model, 'viduq3-pro');
    assert.equal(task.prompt, 'a kite');
    assert.equal(task.duration, 4);
    assert.equal(task.resolution, '1080p');
    assert.equal(task.aspect_ratio, '9:16');
    assert.equal(task.payload, 'mine');
    assert.equal(task.off_peak, false);
    assert.equal(task.credits, 32);
    assert.equal(task.created_at, new Date(clock.now()).toISOString());
    assert.deepEqual(vidu.requests[0]!.body, body);
    assert.equal(taskOf(vidu, task.task_id).kind, 'text2video');

    const image = pngDataUri(64, 48);
    const fromImage = await call(`${vidu.url}/img2video`, { headers: VIDU, json: { model: 'viduq3-turbo', images: [image], off_peak: true } });
    assert.equal(fromImage.status, 200);
    const offPeak = fromImage.body as ViduTask;
    assert.deepEqual(offPeak.images, [image]);
    assert.equal(offPeak.off_peak, true);
    assert.equal(offPeak.duration, 5);
    assert.equal(offPeak.resolution, '720p');
    assert.equal(offPeak.credits, 5, '5 s × 4 at 720p, halved for turbo and for off-peak');
    assert.notEqual(offPeak.task_id, task.task_id);

    assert.equal((await call(`${vidu.url}/start-end2video`, { headers: VIDU, json: { model: 'viduq3-pro', images: ['https://example.com/a.png', image] } })).status, 200);
    assert.equal((await call(`${vidu.url}/reference2video`, { headers: VIDU, json: { model: 'viduq3-mix', prompt: 'x', resolution: '1080p', images: ['https://example.com/a.png'] } })).status, 200);
    assert.equal((await call(`${vidu.url}/reference2video`, { headers: VIDU, json: { model: 'viduq3', prompt: 'x', images: Array.from({ length: 7 }, () => image) } })).status, 200);
  });

  test('refuses a Bearer, unknown or missing key with 401 Unauthorized', async (t) => {
    const vidu = await startFakeVidu();
    t.after(() => vidu.close());
    const json = { model: 'viduq3-pro', prompt: 'x' };
    for (const authorization of ['Bearer vidu-test-key', 'Token other', undefined]) {
      const answer = await call(`${vidu.url}/text2video`, { headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, json });
      assert.equal(answer.status, 401, String(authorization));
      assert.equal((answer.body as ViduError).code, 'Unauthorized');
    }
    assert.equal((await call(`${vidu.url}/tasks/1/creations`, { headers: { authorization: 'Bearer vidu-test-key' } })).status, 401);
    assert.equal(vidu.tasks.size, 0);
  });

  test('validates: 400 with Vidu’s code and the field in the message', async (t) => {
    const vidu = await startFakeVidu();
    t.after(() => vidu.close());
    const png = 'https://example.com/a.png';
    const text = { model: 'viduq3-pro', prompt: 'a kite' };
    const cases: [path: string, body: Record<string, unknown>, code: string, field: string][] = [
      ['text2video', { prompt: 'x' }, 'FieldLacking', 'model'],
      ['text2video', { model: 'viduq3-pro' }, 'FieldLacking', 'prompt'],
      ['text2video', { ...text, model: 'viduq3-mix' }, 'FieldInvalid', 'model'],
      ['text2video', { ...text, model: 'viduq2' }, 'FieldInvalid', 'model'],
      ['text2video', { ...text, duration: 0 }, 'FieldInvalid', 'duration'],
      ['text2video', { ...text, duration: 17 }, 'FieldInvalid', 'duration'],
      ['text2video', { ...text, duration: '5' }, 'FieldInvalid', 'duration'],
      ['text2video', { ...text, resolution: '480p' }, 'FieldInvalid', 'resolution'],
      ['text2video', { ...text, aspect_ratio: '3:2' }, 'FieldInvalid', 'aspect_ratio'],
      ['text2video', { ...text, prompt: 'x'.repeat(5001) }, 'FieldInvalid', 'prompt'],
      ['text2video', { ...text, off_peak: 'yes' }, 'FieldInvalid', 'off_peak'],
      ['text2video', { ...text, bgm: true }, 'FieldInvalid', 'bgm'],
      ['text2video', { ...text, callback_url: 'not a url' }, 'FieldInvalid', 'callback_url'],
      ['text2video', { ...text, images: [png] }, 'FieldUnwanted', 'images'],
      ['text2video', { ...text, image_url: png }, 'FieldUnwanted', 'image_url'],
      ['img2video', { model: 'viduq3-pro' }, 'FieldLacking', 'images'],
      ['img2video', { model: 'viduq3-pro', images: [png, png] }, 'FieldItemCountOutOfRange', 'images'],
      ['img2video', { model: 'viduq3-pro', images: ['data:image/gif;base64,R0lGOD=='] }, 'ImageFormatInvalid', ''],
      ['img2video', { model: 'viduq3-pro', images: ['data:image/png;base64,not base64!'] }, 'FieldInvalid', 'images[0]'],
      ['img2video', { model: 'viduq3-pro', images: ['/local/file.png'] }, 'FieldInvalid', 'images[0]'],
      ['start-end2video', { model: 'viduq3-pro', images: [png] }, 'FieldItemCountOutOfRange', 'images'],
      ['reference2video', { model: 'viduq3', prompt: 'x', images: Array.from({ length: 8 }, () => png) }, 'FieldItemCountOutOfRange', 'images'],
      ['reference2video', { model: 'viduq3-pro', prompt: 'x', images: [png] }, 'FieldInvalid', 'model'],
      ['reference2video', { model: 'viduq3-mix', prompt: 'x', images: [png], resolution: '540p' }, 'FieldInvalid', 'resolution'],
      ['reference2video', { model: 'viduq3-mix', images: [png] }, 'FieldLacking', 'prompt'],
    ];
    for (const [path, body, code, field] of cases) {
      const answer = await call(`${vidu.url}/${path}`, { headers: VIDU, json: body });
      const label = `${path} ${JSON.stringify(body).slice(0, 120)}`;
      assert.equal(answer.status, 400, label);
      const error = answer.body as ViduError;
      assert.equal(error.code, code, label);
      if (field) assert.ok(error.message.endsWith(`: ${field}`), `${label}: ${error.message}`);
      assert.ok(error.reason.length > 0, label);
    }
    assert.equal(vidu.tasks.size, 0);
  });

  test('takes JSON only (else 400 BadRequest) and at most 20 MB (else 413)', async (t) => {
    const vidu = await startFakeVidu();
    t.after(() => vidu.close());
    const form = new FormData();
    form.set('model', 'viduq3-pro');
    const multipart = await call(`${vidu.url}/text2video`, { headers: { authorization: VIDU.authorization }, body: form });
    assert.equal(multipart.status, 400);
    assert.equal((multipart.body as ViduError).code, 'BadRequest');
    assert.equal((await call(`${vidu.url}/text2video`, { headers: VIDU, body: '{' })).status, 400);

    const huge = await call(`${vidu.url}/img2video`, { headers: VIDU, json: { model: 'viduq3-pro', images: [`data:image/png;base64,${'A'.repeat(20_000_000)}`] } });
    assert.equal(huge.status, 413);
    assert.equal((huge.body as ViduError).code, 'RequestEntityTooLarge');
    assert.equal(vidu.requests.at(-1)!.body, undefined, 'an oversized body is not kept');
    assert.equal(vidu.tasks.size, 0);
  });

  test('states follow the clock: created → queueing → processing → success, with progress, creations, video and cover', async (t) => {
    const clock = manualClock();
    const vidu = await startFakeVidu({ clock: clock.now, completeAfterMs: 1000 });
    t.after(() => vidu.close());
    const created = (await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'a kite', duration: 2, payload: 'p' } })).body as ViduTask;
    const poll = async () => {
      const answer = await call(`${vidu.url}/tasks/${created.task_id}/creations`, { headers: { authorization: VIDU.authorization } });
      assert.equal(answer.status, 200);
      return answer.body as ViduCreations;
    };
    const seen: [string, number][] = [];
    for (const step of [0, 99, 1, 199, 1, 500, 199]) {
      clock.advance(step);
      const body = await poll();
      assert.deepEqual(body.creations, []);
      assert.equal(body.err_code, '');
      seen.push([body.state, body.progress]);
    }
    assert.deepEqual(seen, [['created', 0], ['created', 9], ['queueing', 9], ['queueing', 29], ['processing', 29], ['processing', 79], ['processing', 98]]);
    assert.equal(taskOf(vidu, created.task_id).checks, 7);

    clock.advance(1);
    const done = await poll();
    assert.equal(done.state, 'success');
    assert.equal(done.id, created.task_id);
    assert.equal(done.progress, 100);
    assert.equal(done.credits, 8);
    assert.equal(done.payload, 'p');
    assert.equal(done.creations.length, 1);
    const [creation] = done.creations;
    assert.match(creation!.id, /^\d{18}$/);
    assert.notEqual(creation!.id, created.task_id);
    assert.equal(creation!.url, `${vidu.origin}/files/${created.task_id}.mp4`);

    const video = await download(creation!.url);
    assert.ok(video.bytes.equals(vidu.videoBytes));
    assert.ok((await download(creation!.watermarked_url)).bytes.equals(vidu.videoBytes));
    const cover = await download(creation!.cover_url);
    assert.equal(cover.status, 200);
    assert.equal(cover.headers.get('content-type'), 'image/jpeg');
    assert.ok(cover.bytes.equals(vidu.coverBytes));
    assert.deepEqual([...cover.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
    assert.equal(probe(cover.bytes).codec, 'mjpeg');

    vidu.expireLinks();
    assert.equal((await download(creation!.url)).status, 404);
    assert.equal((await download(creation!.cover_url)).status, 404);
  });

  test('off_peak takes 3× longer; #fail and #moderated fail with their err_code and no credits; unknown task 404', async (t) => {
    const clock = manualClock();
    const vidu = await startFakeVidu({ clock: clock.now, completeAfterMs: 100 });
    t.after(() => vidu.close());
    const make = async (body: Record<string, unknown>) => ((await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', ...body } })).body as ViduTask).task_id;
    const offPeak = await make({ prompt: 'x', off_peak: true });
    const slowOffPeak = await make({ prompt: 'x #slow', off_peak: true });
    const failed = await make({ prompt: 'x #fail' });
    const moderated = await make({ prompt: 'x #moderated' });
    const expired = await make({ prompt: 'x #expired' });
    const span = (id: string) => taskOf(vidu, id).doneAt - taskOf(vidu, id).createdAt;
    assert.equal(span(offPeak), 300);
    assert.equal(span(slowOffPeak), 3000);
    clock.advance(100);
    const poll = async (id: string) => (await call(`${vidu.url}/tasks/${id}/creations`, { headers: VIDU })).body as ViduCreations;

    const fail = await poll(failed);
    assert.equal(fail.state, 'failed');
    assert.equal(fail.err_code, 'InternalServiceFailure');
    assert.equal(fail.credits, 0);
    assert.deepEqual(fail.creations, []);
    const mod = await poll(moderated);
    assert.equal(mod.state, 'failed');
    assert.equal(mod.err_code, 'CreationPolicyViolation');
    assert.equal((await poll(expired)).state, 'success', 'Vidu has no expired state');
    assert.equal((await poll(offPeak)).state, 'processing');
    assert.equal((await poll(offPeak)).off_peak, true);
    clock.advance(200);
    assert.equal((await poll(offPeak)).state, 'success');

    const unknown = await call(`${vidu.url}/tasks/123456789012345678/creations`, { headers: VIDU });
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body as ViduError).code, 'TaskNotFound');
    const elsewhere = await call(`${vidu.url}/tasks`, { headers: VIDU });
    assert.equal(elsewhere.status, 404);
    assert.equal((elsewhere.body as ViduError).code, 'NotFound');
  });

  test('faults: 429 TooManyRequests with Retry-After, not-found → TaskNotFound, a truncated cover', async (t) => {
    const vidu = await startFakeVidu({ completeAfterMs: 0 });
    t.after(() => vidu.close());
    vidu.fault('create', { status: 429, retryAfter: 2 });
    const limited = await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'x' } });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.equal((limited.body as ViduError).code, 'TooManyRequests');
    vidu.fault('create', { status: 500 });
    assert.equal(((await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'x' } })).body as ViduError).code, 'InternalServiceFailure');

    const id = ((await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'x' } })).body as ViduTask).task_id;
    vidu.fault('check', 'not-found');
    const lost = await call(`${vidu.url}/tasks/${id}/creations`, { headers: VIDU });
    assert.equal(lost.status, 404);
    assert.equal((lost.body as ViduError).code, 'TaskNotFound');
    const found = (await call(`${vidu.url}/tasks/${id}/creations`, { headers: VIDU })).body as ViduCreations;
    assert.equal(found.state, 'success');

    vidu.fault('cover', 'truncated');
    const cover = await fetch(found.creations[0]!.cover_url);
    assert.equal(cover.headers.get('content-length'), String(vidu.coverBytes.length));
    await assert.rejects(cover.arrayBuffer());
    vidu.fault('cover', 'not-video');
    assert.match((await download(found.creations[0]!.cover_url)).headers.get('content-type') ?? '', /text\/html/);
    assert.ok((await download(found.creations[0]!.cover_url)).bytes.equals(vidu.coverBytes));
  });

  test('callback_url gets the creations JSON on each state change, signed, and a failed delivery is retried', async (t) => {
    const received: { headers: IncomingHttpHeaders; url: string; body: ViduCreations }[] = [];
    let refuse = 2; // the receiver fails the first two `queueing` deliveries
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as ViduCreations;
        received.push({ headers: request.headers, url: request.url ?? '', body });
        response.writeHead(body.state === 'queueing' && refuse-- > 0 ? 500 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/vidu/callback?task=1`;

    const vidu = await startFakeVidu({ completeAfterMs: 200, callbackRetryMs: 20, keys: ['vidu-test-key', 'second-key'] });
    t.after(() => vidu.close());
    const created = await call(`${vidu.url}/text2video`, { headers: { ...VIDU, authorization: 'Token second-key' }, json: { model: 'viduq3-pro', prompt: 'x', callback_url: callbackUrl } });
    const id = (created.body as ViduTask).task_id;
    await waitUntil(() => vidu.callbacks.some((delivery) => delivery.state === 'success' && delivery.status === 200), 'the success callback', 5000);

    // Each state after `created`, each delivered once with a 200 in the end.
    const delivered = vidu.callbacks.filter((delivery) => delivery.status === 200).map((delivery) => delivery.state);
    assert.deepEqual(delivered.sort(), ['processing', 'queueing', 'success']);
    const queueing = vidu.callbacks.filter((delivery) => delivery.state === 'queueing');
    assert.deepEqual(queueing.map((delivery) => [delivery.attempt, delivery.status]), [[1, 500], [2, 500], [3, 200]]);
    assert.ok(vidu.callbacks.every((delivery) => delivery.taskId === id && delivery.url === callbackUrl));

    const success = received.find((entry) => entry.body.state === 'success')!;
    assert.equal(success.url, '/vidu/callback?task=1');
    const polled = (await call(`${vidu.url}/tasks/${id}/creations`, { headers: VIDU })).body;
    assert.deepEqual(success.body, polled, 'the same JSON as GET …/creations');
    const processing = received.find((entry) => entry.body.state === 'processing')!;
    assert.equal(processing.body.progress, 29);
    assert.deepEqual(processing.body.creations, []);

    // Signed with the key that created the task, as Vidu documents.
    const headers = success.headers;
    assert.equal(headers['x-hmac-algorithm'], 'hmac-sha256');
    assert.equal(headers['x-hmac-access-key'], 'vidu');
    assert.equal(headers['x-hmac-signed-headers'], 'Date;x-request-nonce');
    const expected = viduCallbackSignature({ method: 'POST', url: callbackUrl, date: String(headers.date), nonce: String(headers['x-request-nonce']), key: 'second-key' });
    assert.equal(headers['x-hmac-signature'], expected);
    assert.notEqual(viduCallbackSignature({ method: 'POST', url: callbackUrl, date: String(headers.date), nonce: String(headers['x-request-nonce']), key: 'vidu-test-key' }), expected);
  });

  test('an unreachable callback_url is retried 3 times per state and never breaks the fake', async (t) => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const vidu = await startFakeVidu({ completeAfterMs: 50, callbackRetryMs: 5 });
    t.after(() => vidu.close());
    const created = await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'x', callback_url: `http://127.0.0.1:${port}/cb` } });
    await waitUntil(() => vidu.callbacks.length === 12, 'all attempts', 5000);
    for (const state of ['queueing', 'processing', 'success']) {
      const attempts = vidu.callbacks.filter((delivery) => delivery.state === state);
      assert.deepEqual(attempts.map((delivery) => delivery.attempt), [1, 2, 3, 4], state);
      assert.ok(attempts.every((delivery) => delivery.status === null && delivery.error), state);
    }
    await sleep(100);
    assert.equal(vidu.callbacks.length, 12, 'no more after the third retry');
    const polled = await call(`${vidu.url}/tasks/${(created.body as ViduTask).task_id}/creations`, { headers: VIDU });
    assert.equal((polled.body as ViduCreations).state, 'success');
  });

  test('close() cancels pending callbacks', async () => {
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      received.push(request.url ?? '');
      response.end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const vidu = await startFakeVidu({ completeAfterMs: 300 });
    await call(`${vidu.url}/text2video`, { headers: VIDU, json: { model: 'viduq3-pro', prompt: 'x', callback_url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb` } });
    await vidu.close();
    await sleep(400);
    assert.deepEqual(received, []);
    assert.deepEqual(vidu.callbacks, []);
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });
});
