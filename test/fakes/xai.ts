import { randomUUID } from 'node:crypto';
import { type ApiRequest, type FakeContext, type FakeOptions, type FakeTask, type FakeUpstream, isHttpUrl, outcomeOf, probeSeconds, progressAt, recordCheck, type Reply, startFakeServer } from './server.ts';

/**
 * A fake xAI video API (Grok Imagine) over real HTTP, as upstream-apis.md §2 and §5 describe it.
 *
 *   POST /v1/videos/generations | edits | extensions    JSON only → 200 {"request_id": "<uuid>"}
 *   GET  /v1/videos/{request_id}                         202 pending, 200 done|failed|expired, 404 unknown
 *   GET  /files/{request_id}.mp4                         the result; no Authorization (a signed CDN link)
 *
 * Authorization: `Bearer <key>`. Outcomes come from the prompt: `#fail`, `#moderated`
 * (done, `respect_moderation:false`, empty url), `#expired`, `#slow` (10× the delay).
 *
 * Our choices where the reference is silent or unverified (change them here):
 * - Both error shapes §5 reports are used, so a client must read both:
 *     `{"code": "<gRPC status text>", "error": "<message>"}`  for 401, 403, 404 and 429;
 *     `{"error": {"message", "type", "param", "code"}}`       for everything else (bad input, 413, 415, 5xx).
 * - Bad input: a field of the wrong JSON type, or one the endpoint does not know → 422;
 *   a value out of range or missing → 400. `param` names the field (`reference_images[2].url`).
 * - Non-JSON bodies (multipart included) → 415; a body over 64 MB → 413.
 * - `image` and `reference_images` together → 400 (two different modes).
 * - The input video's length (edits ≤ 8.7 s, extensions 2–15 s) is not checked: that needs a download.
 * - A pending poll answers 202 with, in turn by check count: `{"status":"pending","progress":N}`,
 *   an empty body, `{"request_id"}` only — so a client must handle all three.
 * - `video.duration` when done is the request's `duration` if it gave one, else the served
 *   file's probed length; `usage.cost_in_usd_ticks` is duration × 500,000,000 ($0.05/s).
 * - `idempotency-key` / `x-idempotency-key` headers are accepted and only recorded.
 */

export const XAI_MODELS: ReadonlySet<string> = new Set(['grok-imagine-video', 'grok-imagine-video-1.5', 'grok-imagine-video-1.5-preview']);
const MODELS_WITH_1080P = new Set(['grok-imagine-video-1.5', 'grok-imagine-video-1.5-preview']);
const ASPECT_RATIOS = new Set(['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3']);
const TICKS_PER_SECOND = 500_000_000; // $0.05 a second: 5 US cents, and 1 cent is 100,000,000 ticks

type Kind = 'generations' | 'edits' | 'extensions';
const FIELDS: Record<Kind, ReadonlySet<string>> = {
  generations: new Set(['model', 'prompt', 'duration', 'aspect_ratio', 'resolution', 'image', 'reference_images', 'reference_audios']),
  edits: new Set(['model', 'prompt', 'video']),
  extensions: new Set(['model', 'prompt', 'video', 'duration']),
};
const CREATE_PATHS = new Map<string, Kind>([
  ['/v1/videos/generations', 'generations'],
  ['/v1/videos/edits', 'edits'],
  ['/v1/videos/extensions', 'extensions'],
]);
const CHECK_PREFIX = '/v1/videos/';

/** The xAI fake has nothing beyond the common API. */
export type FakeXai = FakeUpstream;

export async function startFakeXai(options: FakeOptions = {}): Promise<FakeXai> {
  let videoSeconds: number | undefined; // probed on first need: most polls never ask

  function handle(request: ApiRequest, context: FakeContext): Reply {
    const route = routeOf(request.method, request.pathname);
    if (!route) return statusError(404, `no route ${request.method} ${request.pathname}`);
    const key = bearerKey(request);
    if (!key || !context.keys.has(key)) return statusError(401, key ? `Incorrect API key provided: ${key.slice(0, 3)}***` : 'No API key provided: send Authorization: Bearer <key>');
    if (route === 'create') return create(request, context, key);
    const task = context.tasks.get(request.pathname.slice(CHECK_PREFIX.length));
    if (!task) return statusError(404, `no video request with id ${request.pathname.slice(CHECK_PREFIX.length)}`);
    return check(task, context);
  }

  function create(request: ApiRequest, context: FakeContext, key: string): Reply {
    if (request.contentType !== 'application/json') return fieldError(415, null, `Content-Type must be application/json, got ${request.contentType || 'none'}`, 'unsupported_media_type');
    if (!request.json.ok) return fieldError(400, null, 'the body is not valid JSON', 'invalid_json');
    const body = request.json.value;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return fieldError(422, null, 'the body must be a JSON object');
    const kind = CREATE_PATHS.get(request.pathname)!;
    try {
      validate(kind, body as Record<string, unknown>);
    } catch (error) {
      if (error instanceof Invalid) return fieldError(error.status, error.param, error.message);
      throw error;
    }
    const id = randomUUID();
    context.addTask({ id, kind, body: body as Record<string, unknown>, key, outcome: outcomeOf((body as Record<string, unknown>).prompt) });
    return { status: 200, body: { request_id: id } };
  }

  function check(task: FakeTask, context: FakeContext): Reply {
    const now = context.clock();
    recordCheck(task, now);
    if (now < task.doneAt) {
      switch (task.checks % 3) {
        case 1:
          return { status: 202, body: { status: 'pending', progress: progressAt(task, now) } };
        case 2:
          return { status: 202 };
        default:
          return { status: 202, body: { request_id: task.id } };
      }
    }
    if (task.outcome === 'failed') return { status: 200, body: { status: 'failed', error: { code: 'internal_error', message: 'video generation failed (#fail in the prompt)' } } };
    if (task.outcome === 'expired') return { status: 200, body: { status: 'expired' } };
    const duration = typeof task.body.duration === 'number' ? task.body.duration : (videoSeconds ??= probeSeconds(fake.videoBytes));
    const moderated = task.outcome === 'moderated';
    return {
      status: 200,
      body: {
        status: 'done',
        video: { url: moderated ? '' : `${context.origin}/files/${task.id}.mp4`, duration, respect_moderation: !moderated },
        model: task.body.model,
        progress: 100,
        usage: { cost_in_usd_ticks: Math.round(duration * TICKS_PER_SECOND) },
      },
    };
  }

  const fake = await startFakeServer({
    basePath: '/v1',
    defaultKeys: ['xai-test-key'],
    maxBodyBytes: 64 * 1024 * 1024,
    options,
    cover: null,
    routeOf,
    handle,
    errorReply: (status, route) => {
      if (status === 404 && route === 'check') return statusError(404, 'no video request with that id');
      if (GRPC_TEXT[status]) return statusError(status, status === 429 ? 'Too many requests: slow down' : 'request refused');
      if (status === 413) return fieldError(413, null, 'the request body is larger than 64 MB', 'payload_too_large');
      if (status >= 500) return fieldError(status, null, 'the service failed; retry later', status === 503 ? 'service_unavailable' : 'internal_error');
      return fieldError(status, null, 'the request was refused', 'invalid_argument');
    },
  });
  return fake;
}

function routeOf(method: string, pathname: string): 'create' | 'check' | null {
  if (method === 'POST' && CREATE_PATHS.has(pathname)) return 'create';
  if (method === 'GET' && pathname.startsWith(CHECK_PREFIX) && pathname.indexOf('/', CHECK_PREFIX.length) === -1 && pathname.length > CHECK_PREFIX.length) return 'check';
  return null;
}

function bearerKey(request: ApiRequest): string | null {
  const header = request.headers.authorization;
  if (!header || !/^bearer /i.test(header)) return null;
  return header.slice(7).trim() || null;
}

// ─── Error bodies ──────────────────────────────────────────────────────────────

/** The status texts xAI puts in `code` (gRPC's own wording). */
const GRPC_TEXT: Record<number, string> = {
  401: 'The request does not have valid authentication credentials for the operation',
  403: 'The caller does not have permission to execute the specified operation',
  404: 'Some requested entity was not found',
  429: 'Some resource has been exhausted',
};

function statusError(status: number, message: string): Reply {
  return { status, body: { code: GRPC_TEXT[status] ?? 'Unknown', error: message } };
}

function fieldError(status: number, param: string | null, message: string, code = 'invalid_argument'): Reply {
  return { status, body: { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param, code } } };
}

// ─── Validation, as xAI does it ────────────────────────────────────────────────

class Invalid extends Error {
  constructor(
    readonly status: 400 | 422,
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

function invalid(param: string, message: string, status: 400 | 422 = 400): never {
  throw new Invalid(status, param, message);
}

function validate(kind: Kind, body: Record<string, unknown>): void {
  for (const field of Object.keys(body)) if (!FIELDS[kind].has(field)) invalid(field, `unknown field \`${field}\` for /videos/${kind}`, 422);

  if (body.model == null) invalid('model', 'model is required');
  if (typeof body.model !== 'string') invalid('model', 'model must be a string', 422);
  const model = body.model;
  if (!XAI_MODELS.has(model)) invalid('model', `unknown model ${model}; known: ${[...XAI_MODELS].join(', ')}`);

  if (body.prompt != null && typeof body.prompt !== 'string') invalid('prompt', 'prompt must be a string', 422);
  const hasPrompt = typeof body.prompt === 'string' && body.prompt.trim() !== '';

  if (kind === 'generations') {
    integerIn(body, 'duration', 1, 15);
    if (body.aspect_ratio != null && !ASPECT_RATIOS.has(stringField(body, 'aspect_ratio'))) invalid('aspect_ratio', `aspect_ratio must be one of ${[...ASPECT_RATIOS].join(' ')}`);
    const image = body.image == null ? null : mediaUrl(body.image, 'image', 'image');
    const references = body.reference_images == null ? null : referenceImages(body.reference_images);
    if (image && references) invalid('reference_images', 'reference_images cannot be combined with image');
    if (body.resolution != null) {
      const resolution = stringField(body, 'resolution');
      const allowed = MODELS_WITH_1080P.has(model) && !references ? ['480p', '720p', '1080p'] : ['480p', '720p'];
      if (!allowed.includes(resolution)) {
        const why = references ? 'reference-to-video is capped at 720p' : `${model} offers ${allowed.join(', ')}`;
        invalid('resolution', `resolution ${resolution} is not available: ${why}`);
      }
    }
    if (body.reference_audios != null) referenceAudios(body.reference_audios);
    if (!hasPrompt && !image) invalid('prompt', 'prompt is required unless an image is given');
    return;
  }

  // Edits and extensions: a prompt and the input video; an extension may say how much to add.
  if (!hasPrompt) invalid('prompt', 'prompt is required');
  if (body.video == null) invalid('video', 'video is required');
  mediaUrl(body.video, 'video', 'video');
  if (kind === 'extensions') integerIn(body, 'duration', 2, 10);
}

function stringField(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') invalid(field, `${field} must be a string`, 422);
  return value;
}

function integerIn(body: Record<string, unknown>, field: string, min: number, max: number): void {
  const value = body[field];
  if (value == null) return;
  if (typeof value !== 'number') invalid(field, `${field} must be a number`, 422);
  if (!Number.isInteger(value) || value < min || value > max) invalid(field, `${field} must be an integer from ${min} to ${max}`);
}

/** `{url}` where url is http(s) or a base64 data URL of the right kind. */
function mediaUrl(value: unknown, param: string, kind: 'image' | 'video'): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(param, `${param} must be an object {url}`, 422);
  const url = (value as Record<string, unknown>).url;
  if (typeof url !== 'string') invalid(`${param}.url`, `${param}.url must be a string`, 422);
  const dataUrl = new RegExp(`^data:${kind}/[a-z0-9.+-]+;base64,`, 'i');
  if (!isHttpUrl(url) && !dataUrl.test(url)) invalid(`${param}.url`, `${param}.url must be an http(s) URL or a data:${kind}/…;base64 URL`);
  return url;
}

function referenceImages(value: unknown): string[] {
  if (!Array.isArray(value)) invalid('reference_images', 'reference_images must be an array of {url}', 422);
  if (value.length < 1 || value.length > 7) invalid('reference_images', `reference_images takes 1 to 7 images, got ${value.length}`);
  return value.map((item, index) => mediaUrl(item, `reference_images[${index}]`, 'image'));
}

function referenceAudios(value: unknown): void {
  if (!Array.isArray(value)) invalid('reference_audios', 'reference_audios must be an array of {voice_id}', 422);
  if (value.length > 3) invalid('reference_audios', `reference_audios takes at most 3 voices, got ${value.length}`);
  value.forEach((item: unknown, index) => {
    const voice = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).voice_id : undefined;
    if (typeof voice !== 'string' || voice === '') invalid(`reference_audios[${index}].voice_id`, 'voice_id must be a non-empty string', 422);
  });
}
