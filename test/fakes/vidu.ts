import { createHmac, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  type ApiRequest,
  defaultCoverBytes,
  elapsedFraction,
  type FakeContext,
  type FakeOptions,
  type FakeTask,
  type FakeUpstream,
  isHttpUrl,
  outcomeOf,
  progressAt,
  recordCheck,
  type Reply,
  type Route,
  startFakeServer,
} from './server.ts';

/**
 * A fake Vidu API over real HTTP, as upstream-apis.md §3 and §5 describe it.
 *
 *   POST /ent/v2/text2video | img2video | start-end2video | reference2video   JSON → the task, state "created"
 *   GET  /ent/v2/tasks/{id}/creations                                          the task's state and results
 *   GET  /files/{id}.mp4, /files/{id}.jpg                                      result and cover; no Authorization
 *
 * Authorization: `Token <key>` (a `Bearer` one is refused). Outcomes come from the prompt:
 * `#fail` (failed, err_code InternalServiceFailure), `#moderated` (failed, err_code
 * CreationPolicyViolation), `#slow` (10× the delay); `off_peak: true` takes 3× the delay.
 * `#expired` is xAI's own status: Vidu has none, so such a task succeeds.
 *
 * Our reading where the contract is unverified (change it here):
 * - Error body: `{"code": "<Vidu error code>", "message": "<Vidu's documented message>", "reason": "<detail>"}`.
 *   For a field error the message is Vidu's template with the field filled in, so the field is
 *   the part after ': ': `{"code":"FieldInvalid","message":"invalid field: duration","reason":"duration must be an integer from 1 to 16"}`.
 *   Codes (platform.vidu.com/docs/error-code): 400 BadRequest (not JSON), FieldLacking (missing),
 *   FieldUnwanted (a field this endpoint does not take), FieldItemCountOutOfRange (image count),
 *   FieldInvalid (bad value), ImageFormatInvalid (a data URI of another type); 401 Unauthorized;
 *   404 TaskNotFound (a task id) or NotFound (any other path); 413 RequestEntityTooLarge (a body
 *   over 20,000,000 bytes: Vidu documents the limit, not the answer); 429 TooManyRequests;
 *   5xx InternalServiceFailure.
 * - Models: viduq3-pro and viduq3-turbo on text2video, img2video, start-end2video; viduq3 and
 *   viduq3-mix on reference2video only; viduq3-mix only at 720p/1080p. `prompt` is required on
 *   text2video and reference2video. `bgm: true` is refused (not offered on Q3).
 * - States follow the clock: created for the first 10% of the delay, queueing to 30%,
 *   processing to 100%, then success or failed. `progress` (0–99, 100 when done) is included.
 * - `credits`: duration × 2/4/8 per second at 540p/720p/1080p, halved for turbo and for
 *   off-peak, at least 1; a failed task reports 0 (refunded).
 * - Creation id: the task id with its first digit 8 instead of 9. File names use the task id.
 * - `callback_url`: the creations JSON is POSTed on each change after `created` (queueing,
 *   processing, success|failed), signed as platform.vidu.com/docs/callback-signature describes
 *   (see `viduCallbackSignature`); a delivery that fails (network error or non-2xx) is retried up
 *   to 3 times, 250 ms, 500 ms, 1 s apart. Callbacks run on real timers, even with a fake clock,
 *   and may arrive out of order when retried: receivers must cope (as with the real service).
 */

export interface FakeViduOptions extends FakeOptions {
  /** The bytes served as every cover (default: a small real JPEG made once with ffmpeg). */
  cover?: Buffer;
  /** First wait before a failed callback is retried; doubled each time (default 250 ms). */
  callbackRetryMs?: number;
}

export interface CallbackDelivery {
  taskId: string;
  state: string;
  url: string;
  /** 1 for the first try, up to 4. */
  attempt: number;
  /** The receiver's HTTP status, or null when it could not be reached. */
  status: number | null;
  error: string | null;
}

export interface FakeVidu extends FakeUpstream {
  coverBytes: Buffer;
  /** Every callback attempt, in the order they ended. */
  callbacks: CallbackDelivery[];
}

type Kind = 'text2video' | 'img2video' | 'start-end2video' | 'reference2video';
const KINDS: Record<Kind, { models: ReadonlySet<string>; images: [min: number, max: number] | null; promptRequired: boolean }> = {
  text2video: { models: new Set(['viduq3-pro', 'viduq3-turbo']), images: null, promptRequired: true },
  img2video: { models: new Set(['viduq3-pro', 'viduq3-turbo']), images: [1, 1], promptRequired: false },
  'start-end2video': { models: new Set(['viduq3-pro', 'viduq3-turbo']), images: [2, 2], promptRequired: false },
  reference2video: { models: new Set(['viduq3', 'viduq3-mix']), images: [1, 7], promptRequired: true },
};
const FIELDS = new Set(['model', 'prompt', 'images', 'duration', 'seed', 'aspect_ratio', 'resolution', 'movement_amplitude', 'audio', 'bgm', 'off_peak', 'watermark', 'payload', 'callback_url']);
const ASPECT_RATIOS = new Set(['16:9', '9:16', '3:4', '4:3', '1:1']);
const RESOLUTIONS = ['540p', '720p', '1080p'];
const MOVEMENT = new Set(['auto', 'small', 'medium', 'large']);
const CREDITS_PER_SECOND: Record<string, number> = { '540p': 2, '720p': 4, '1080p': 8 };
const DATA_URI = /^data:image\/([a-z0-9.+-]+);base64,/i;
const CHECK_PATH = /^\/ent\/v2\/tasks\/([^/]+)\/creations$/;
const BASE = '/ent/v2/';
/** When each state begins, as a fraction of the task's delay; then the outcome at 1. */
const PHASES = [
  { state: 'queueing', at: 0.1 },
  { state: 'processing', at: 0.3 },
] as const;
const CALLBACK_RETRIES = 3;
const CALLBACK_TIMEOUT_MS = 5000;

// 18-digit numeric ids, unique in the process: '9', 6 random digits, an 11-digit counter.
const idPrefix = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
let idCounter = 0;
const newTaskId = () => `9${idPrefix}${String(++idCounter).padStart(11, '0')}`;
const creationIdOf = (taskId: string) => `8${taskId.slice(1)}`;

export async function startFakeVidu(options: FakeViduOptions = {}): Promise<FakeVidu> {
  const cover = options.cover ?? defaultCoverBytes();
  const retryMs = options.callbackRetryMs ?? 250;
  const callbacks: CallbackDelivery[] = [];
  /** Timers and requests of pending callbacks, so close() can stop them. */
  const timers = new Set<NodeJS.Timeout>();
  const aborter = new AbortController();

  function handle(request: ApiRequest, context: FakeContext): Reply {
    const route = routeOf(request.method, request.pathname);
    if (!route) return viduError(404, 'NotFound', 'not found', `no route ${request.method} ${request.pathname}`);
    const key = tokenKey(request);
    if (!key || !context.keys.has(key)) return viduError(401, 'Unauthorized', 'unauthorized', 'send Authorization: Token <key>');
    if (route === 'create') return create(request, context, key);
    const id = CHECK_PATH.exec(request.pathname)![1]!;
    const task = context.tasks.get(id);
    if (!task) return viduError(404, 'TaskNotFound', 'task not found', `no task ${id}`);
    const now = context.clock();
    recordCheck(task, now);
    return { status: 200, body: creationsBody(task, now, context.origin) };
  }

  function create(request: ApiRequest, context: FakeContext, key: string): Reply {
    if (request.contentType !== 'application/json') return viduError(400, 'BadRequest', 'bad request', `Content-Type must be application/json, got ${request.contentType || 'none'}`);
    if (!request.json.ok) return viduError(400, 'BadRequest', 'bad request', 'the body is not valid JSON');
    const body = request.json.value;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return viduError(400, 'BadRequest', 'bad request', 'the body must be a JSON object');
    const fields = body as Record<string, unknown>;
    const kind = request.pathname.slice(BASE.length) as Kind;
    try {
      validate(kind, fields);
    } catch (error) {
      if (error instanceof Invalid) return viduError(400, error.code, error.message, error.reason);
      throw error;
    }
    const outcome = outcomeOf(fields.prompt);
    const task = context.addTask({
      id: newTaskId(),
      kind,
      body: fields,
      key,
      outcome: outcome === 'expired' ? 'success' : outcome,
      slowdown: fields.off_peak === true ? 3 : 1,
    });
    if (typeof fields.callback_url === 'string') scheduleCallbacks(task, fields.callback_url, context.origin);
    return {
      status: 200,
      body: {
        task_id: task.id,
        state: 'created',
        model: fields.model,
        prompt: fields.prompt ?? '',
        ...(fields.images !== undefined ? { images: fields.images } : {}),
        duration: durationOf(fields),
        seed: typeof fields.seed === 'number' ? fields.seed : Math.floor(Math.random() * 2 ** 31),
        aspect_ratio: fields.aspect_ratio ?? '16:9',
        resolution: resolutionOf(fields),
        movement_amplitude: fields.movement_amplitude ?? 'auto',
        payload: fields.payload ?? '',
        off_peak: fields.off_peak === true,
        credits: creditsOf(fields),
        created_at: new Date(task.createdAt).toISOString(),
      },
    };
  }

  /** A timer per state change, for the tasks that asked for callbacks only. */
  function scheduleCallbacks(task: FakeTask, url: string, origin: string): void {
    const span = task.doneAt - task.createdAt;
    for (const at of [...PHASES.map((phase) => phase.at), 1]) {
      // The body is computed for the moment the state begins, so it says that state.
      const moment = at === 1 ? task.doneAt : task.createdAt + span * at;
      later(span * at, () => {
        const body = creationsBody(task, moment, origin);
        deliver(task, String(body.state), JSON.stringify(body), url, 1);
      });
    }
  }

  function later(ms: number, run: () => void): void {
    if (aborter.signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  }

  function deliver(task: FakeTask, state: string, body: string, url: string, attempt: number): void {
    const settle = (status: number | null, error: string | null) => {
      if (aborter.signal.aborted) return;
      callbacks.push({ taskId: task.id, state, url, attempt, status, error });
      const failed = status === null || status < 200 || status > 299;
      if (failed && attempt <= CALLBACK_RETRIES) later(retryMs * 2 ** (attempt - 1), () => deliver(task, state, body, url, attempt + 1));
    };
    postCallback(url, body, task.key, aborter.signal).then(
      (status) => settle(status, null),
      (error: unknown) => settle(null, error instanceof Error ? error.message : String(error)),
    );
  }

  const fake = await startFakeServer({
    basePath: '/ent/v2',
    defaultKeys: ['vidu-test-key'],
    maxBodyBytes: 20_000_000,
    options,
    cover,
    routeOf,
    handle,
    errorReply,
    onClose() {
      aborter.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  });
  return Object.assign(fake, { coverBytes: cover, callbacks });
}

function routeOf(method: string, pathname: string): 'create' | 'check' | null {
  if (method === 'POST' && pathname.startsWith(BASE) && Object.hasOwn(KINDS, pathname.slice(BASE.length))) return 'create';
  if (method === 'GET' && CHECK_PATH.test(pathname)) return 'check';
  return null;
}

function tokenKey(request: ApiRequest): string | null {
  const header = request.headers.authorization;
  if (!header || !header.startsWith('Token ')) return null;
  return header.slice(6).trim() || null;
}

/** What GET …/creations answers (and what a callback carries) at a moment of the clock. */
function creationsBody(task: FakeTask, now: number, origin: string): Record<string, unknown> {
  const fraction = elapsedFraction(task, now);
  let state: string = 'created';
  for (const phase of PHASES) if (fraction >= phase.at) state = phase.state;
  if (fraction >= 1) state = task.outcome === 'success' ? 'success' : 'failed';
  const file = `${origin}/files/${task.id}`;
  return {
    id: task.id,
    state,
    err_code: state !== 'failed' ? '' : task.outcome === 'moderated' ? 'CreationPolicyViolation' : 'InternalServiceFailure',
    credits: state === 'failed' ? 0 : creditsOf(task.body),
    payload: task.body.payload ?? '',
    bgm: false,
    off_peak: task.body.off_peak === true,
    progress: progressAt(task, now),
    creations: state === 'success' ? [{ id: creationIdOf(task.id), url: `${file}.mp4`, cover_url: `${file}.jpg`, watermarked_url: `${file}.mp4?watermarked=1` }] : [],
  };
}

const durationOf = (body: Record<string, unknown>) => (typeof body.duration === 'number' ? body.duration : 5);
const resolutionOf = (body: Record<string, unknown>) => (typeof body.resolution === 'string' ? body.resolution : '720p');

function creditsOf(body: Record<string, unknown>): number {
  let credits = durationOf(body) * (CREDITS_PER_SECOND[resolutionOf(body)] ?? 4);
  if (body.model === 'viduq3-turbo') credits /= 2;
  if (body.off_peak === true) credits /= 2;
  return Math.max(1, Math.ceil(credits));
}

// ─── Errors ────────────────────────────────────────────────────────────────────

function viduError(status: number, code: string, message: string, reason: string): Reply {
  return { status, body: { code, message, reason } };
}

function errorReply(status: number, route: Route | null): Reply {
  switch (status) {
    case 400:
      return viduError(400, 'BadRequest', 'bad request', 'the request was refused');
    case 401:
      return viduError(401, 'Unauthorized', 'unauthorized', 'the key was refused');
    case 403:
      return viduError(403, 'Forbidden', 'forbidden', 'the request is forbidden');
    case 404:
      return route === 'check' ? viduError(404, 'TaskNotFound', 'task not found', 'no such task') : viduError(404, 'NotFound', 'not found', 'no such resource');
    case 413:
      return viduError(413, 'RequestEntityTooLarge', 'request entity too large', 'the body is larger than 20 MB');
    case 429:
      return viduError(429, 'TooManyRequests', 'too many requests', 'requests are too frequent');
    default:
      return status >= 500 ? viduError(status, 'InternalServiceFailure', 'internal service failure', 'retry later') : viduError(status, 'BadRequest', 'bad request', 'the request was refused');
  }
}

// ─── Validation ────────────────────────────────────────────────────────────────

class Invalid extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const lacking = (field: string, reason: string): never => {
  throw new Invalid('FieldLacking', `field is missing or empty: ${field}`, reason);
};
const invalid = (field: string, reason: string): never => {
  throw new Invalid('FieldInvalid', `invalid field: ${field}`, reason);
};

function validate(kind: Kind, body: Record<string, unknown>): void {
  const rules = KINDS[kind];
  for (const field of Object.keys(body)) {
    if (!FIELDS.has(field) || (field === 'images' && !rules.images)) throw new Invalid('FieldUnwanted', `unwanted field: ${field}`, `/${kind} does not take ${field}`);
  }

  if (body.model == null || body.model === '') lacking('model', 'model is required');
  if (typeof body.model !== 'string' || !rules.models.has(body.model)) invalid('model', `/${kind} takes model ${[...rules.models].join(' or ')}`);

  if (body.prompt != null) {
    if (typeof body.prompt !== 'string') invalid('prompt', 'prompt must be a string');
    else if (body.prompt.length > 5000 && [...body.prompt].length > 5000) invalid('prompt', 'prompt is at most 5000 characters');
  }
  if (rules.promptRequired && (typeof body.prompt !== 'string' || body.prompt.trim() === '')) lacking('prompt', `/${kind} needs a prompt`);

  if (body.duration != null && (!Number.isInteger(body.duration) || (body.duration as number) < 1 || (body.duration as number) > 16)) invalid('duration', 'duration must be an integer from 1 to 16');
  if (body.seed != null && (!Number.isInteger(body.seed) || (body.seed as number) < 0)) invalid('seed', 'seed must be a non-negative integer');
  if (body.aspect_ratio != null && !ASPECT_RATIOS.has(body.aspect_ratio as string)) invalid('aspect_ratio', `aspect_ratio must be one of ${[...ASPECT_RATIOS].join(' ')}`);
  if (body.resolution != null && !RESOLUTIONS.includes(body.resolution as string)) invalid('resolution', `resolution must be one of ${RESOLUTIONS.join(' ')}`);
  if (body.model === 'viduq3-mix' && resolutionOf(body) === '540p') invalid('resolution', 'viduq3-mix offers 720p and 1080p only');
  if (body.movement_amplitude != null && !MOVEMENT.has(body.movement_amplitude as string)) invalid('movement_amplitude', `movement_amplitude must be one of ${[...MOVEMENT].join(' ')}`);
  for (const flag of ['audio', 'bgm', 'off_peak', 'watermark']) if (body[flag] != null && typeof body[flag] !== 'boolean') invalid(flag, `${flag} must be true or false`);
  if (body.bgm === true) invalid('bgm', 'bgm is not offered on Q3 models');
  if (body.payload != null && (typeof body.payload !== 'string' || body.payload.length > 1_048_576)) invalid('payload', 'payload must be a string of at most 1,048,576 characters');
  if (body.callback_url != null && (typeof body.callback_url !== 'string' || !isHttpUrl(body.callback_url))) invalid('callback_url', 'callback_url must be an http(s) URL');

  if (rules.images) {
    const [min, max] = rules.images;
    if (body.images == null) lacking('images', `/${kind} needs ${min === max ? min : `${min} to ${max}`} image(s)`);
    if (!Array.isArray(body.images)) return invalid('images', 'images must be an array of strings');
    if (body.images.length < min || body.images.length > max) {
      throw new Invalid('FieldItemCountOutOfRange', 'field item count out of range: images', `/${kind} takes ${min === max ? `exactly ${min}` : `${min} to ${max}`} image(s), got ${body.images.length}`);
    }
    body.images.forEach((image: unknown, index) => {
      if (typeof image !== 'string') return invalid(`images[${index}]`, 'each image is a URL or a data URI string');
      const data = DATA_URI.exec(image);
      if (data) {
        if (!['png', 'jpeg', 'jpg', 'webp'].includes(data[1]!.toLowerCase())) throw new Invalid('ImageFormatInvalid', 'invalid image format', `images[${index}] is image/${data[1]}, not png, jpeg or webp`);
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(image.slice(data[0].length))) invalid(`images[${index}]`, 'the data URI is not valid base64');
      } else if (!isHttpUrl(image)) invalid(`images[${index}]`, 'an image is an http(s) URL or a data:image/(png|jpeg|webp);base64, URI');
    });
  }
}

// ─── Callbacks ─────────────────────────────────────────────────────────────────

/**
 * Vidu's callback signature (platform.vidu.com/docs/callback-signature):
 * base64(HMAC-SHA256(key, signingString)), the key being the token that created the task.
 * A receiver recomputes it from the request and compares with X-HMAC-SIGNATURE.
 */
export function viduCallbackSignature(input: { method: string; url: string; date: string; nonce: string; key: string }): string {
  const { pathname, search } = new URL(input.url);
  const signing = [input.method.toUpperCase(), pathname || '/', search.slice(1), 'vidu', input.date, `Date:${input.date}`, `x-request-nonce:${input.nonce}`, ''].join('\n');
  return createHmac('sha256', input.key).update(signing).digest('base64');
}

/** POSTs one callback; resolves with the receiver's status. node:http, not fetch: fetch may not set `Date`. */
function postCallback(url: string, body: string, key: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      reject(error);
      return;
    }
    const date = new Date().toUTCString();
    const nonce = randomUUID();
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(target, {
      method: 'POST',
      agent: false, // one connection per callback: nothing lingers after close()
      signal,
      timeout: CALLBACK_TIMEOUT_MS,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        date,
        'x-request-nonce': nonce,
        'x-hmac-signed-headers': 'Date;x-request-nonce',
        'x-hmac-signature': viduCallbackSignature({ method: 'POST', url, date, nonce, key }),
        'x-hmac-algorithm': 'hmac-sha256',
        'x-hmac-access-key': 'vidu',
      },
    });
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`callback timed out after ${CALLBACK_TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
