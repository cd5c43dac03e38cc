import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Route } from '../catalog/capability.ts';
import { DIALECTS, type Slot } from '../catalog/dialects.ts';
import { IGNORED_FIELDS } from '../catalog/fields.ts';
import { findModel } from '../catalog/models.ts';
import { InvalidInput } from '../errors.ts';
import type { TaskRow } from '../store/schema.ts';
import { requireApiKey } from './auth.ts';
import { ApiError } from './errors.ts';
import { createRateLimit, ownVideoByLink, readIdempotencyKey, takeCallbackUrl } from './creates.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

/**
 * xAI's own video API under /xai/v1, for clients that speak it (the Vercel AI SDK's
 * @ai-sdk/xai, xAI's SDKs): point their base URL here and every model in the catalog
 * answers in xAI's shapes, with the same keys, validation, billing and storage as the
 * OpenAI-style routes. A request is translated into the model's own dialect and made by
 * the task service as any other; a refusal names the xAI field the client sent.
 */

/** xAI's fields, and the slot of ours each one fills. */
const XAI_FIELDS: Record<string, Slot | 'model' | 'ignored'> = {
  model: 'model',
  prompt: 'prompt',
  duration: 'duration',
  aspect_ratio: 'aspectRatio',
  resolution: 'resolution',
  image: 'image',
  reference_images: 'images',
  video: 'video',
  ...Object.fromEntries(IGNORED_FIELDS.map((field) => [field, 'ignored' as const])),
};

/** Which fields each route takes: an edit keeps its video's length and frame. */
const ROUTE_FIELDS: Record<Route, readonly string[]> = {
  create: ['model', 'prompt', 'duration', 'aspect_ratio', 'resolution', 'image', 'reference_images', ...IGNORED_FIELDS],
  edit: ['model', 'prompt', 'video', ...IGNORED_FIELDS],
  extend: ['model', 'prompt', 'video', 'duration', ...IGNORED_FIELDS],
};

/** A ticks per micro-dollar: xAI counts cost in units of 1e-10 USD. */
const TICKS_PER_MICRO = 10_000;

/** What xAI's own API makes when a request names no duration: 8 s, and 6 s more for an extension. */
const XAI_DEFAULT_SECONDS: Partial<Record<Route, number>> = { create: 8, extend: 6 };

/** `{url}` as xAI writes a media reference; the url as our dialects take it. */
function urlOf(value: unknown, field: string): string {
  const url = typeof value === 'object' && value !== null ? (value as { url?: unknown }).url : undefined;
  if (typeof url !== 'string' || url.length === 0) throw new InvalidInput(`${field} is an object {"url": "…"} (an https URL or a data URL)`, field);
  const other = Object.keys(value as object).find((key) => key !== 'url');
  if (other !== undefined) throw new InvalidInput(`${field}.${other} is not taken: ${field} is {"url": "…"}`, `${field}.${other}`, 'unsupported_parameter');
  return url;
}

/**
 * The xAI body as the body of the model's own dialect, and the way back from each dialect
 * key to the xAI field it came from (for refusals).
 */
export function fromXai(body: unknown, route: Route): { body: Record<string, unknown>; xaiFieldOf: Map<string, string> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInput('The body is a JSON object', null, 'invalid_body');
  const given = body as Record<string, unknown>;
  const unknown = Object.keys(given).find((field) => !ROUTE_FIELDS[route].includes(field));
  if (unknown !== undefined) {
    throw new InvalidInput(`${unknown} is not taken here; this route takes ${[...ROUTE_FIELDS[route], 'callback_url'].join(', ')}`, unknown, 'unsupported_parameter');
  }
  if (typeof given.model !== 'string' || given.model.length === 0) throw new InvalidInput('model is required: one of GET /v1/models', 'model');
  const model = findModel(given.model);
  if (!model) throw new InvalidInput(`Unknown model ${given.model}; GET /v1/models lists them`, 'model', 'model_not_found');
  const keys = DIALECTS[model.family].keys;
  const translated: Record<string, unknown> = {};
  const xaiFieldOf = new Map<string, string>();
  for (const [field, value] of Object.entries(given)) {
    const slot = XAI_FIELDS[field]!;
    if (slot === 'ignored') continue;
    const key = slot === 'model' ? 'model' : keys[slot]?.[0];
    if (key === undefined) throw new InvalidInput(`${model.id} does not take ${field}`, field, 'unsupported_parameter');
    // Some dialects take a first frame and reference images under one key (grok-video's
    // repeatable input_reference): the two cannot be told apart there, so not both are taken.
    const taken = xaiFieldOf.get(key);
    if (taken !== undefined) throw new InvalidInput(`${model.id} takes either ${taken} or ${field}, not both`, field, 'conflicting_parameters');
    xaiFieldOf.set(key, field);
    if (slot === 'duration' && typeof value !== 'number') throw new InvalidInput(`${field} is a whole number of seconds`, field);
    if (slot === 'image' || slot === 'video') translated[key] = urlOf(value, field);
    else if (slot === 'images') {
      if (!Array.isArray(value)) throw new InvalidInput(`${field} is a list of {"url": "…"}`, field);
      if (value.length === 1 && key === keys.image?.[0]) {
        throw new InvalidInput(`${model.id} reads one image as the first frame: send it as image, or send two or more reference_images`, field, 'ambiguous_parameter');
      }
      translated[key] = value.map((one, index) => urlOf(one, `${field}[${index}]`));
    } else translated[key] = value;
  }
  // xAI's own default length, for xAI's own models, as a client of xAI counts on it.
  const seconds = XAI_DEFAULT_SECONDS[route];
  const durationKey = keys.duration?.[0];
  if (seconds !== undefined && durationKey !== undefined && !('duration' in given) && model.family.startsWith('grok')) {
    translated[durationKey] = seconds;
    xaiFieldOf.set(durationKey, 'duration');
  }
  return { body: translated, xaiFieldOf };
}

/**
 * A refusal about a dialect key, told in the xAI field the client sent (`images[1]` →
 * `reference_images[1]`): the param, and the message where it opens with the key.
 */
function inXaiTerms(error: unknown, xaiFieldOf: Map<string, string>): unknown {
  if (!(error instanceof InvalidInput) || error.param === null) return error;
  const [key, rest = ''] = error.param.split(/(?=\[)/, 2);
  const field = xaiFieldOf.get(key!);
  if (field === undefined || field === key) return error;
  const message = error.message.startsWith(key!) ? `${field}${error.message.slice(key!.length)}` : error.message;
  return new InvalidInput(message, `${field}${rest}`, error.code);
}

/** GET /videos/{request_id} in xAI's shapes: 202 pending, then 200 done, failed or expired. */
function xaiStatus(task: TaskRow, url: string | null): { status: number; body: Record<string, unknown> } {
  switch (task.status) {
    case 'queued':
    case 'in_progress':
      return { status: 202, body: { request_id: task.id, status: 'pending', progress: task.progress } };
    case 'completed':
      if (url === null || task.video_key === null) return { status: 200, body: { request_id: task.id, status: 'expired' } };
      return {
        status: 200,
        body: {
          request_id: task.id,
          status: 'done',
          model: task.model,
          progress: 100,
          video: { url, duration: Number(task.seconds), respect_moderation: true },
          usage: { cost_in_usd_ticks: (task.cost ?? 0) * TICKS_PER_MICRO },
        },
      };
    case 'failed':
      return { status: 200, body: { request_id: task.id, status: 'failed', error: { code: task.error_code, message: task.error_message ?? '' } } };
    case 'cancelled':
      return { status: 200, body: { request_id: task.id, status: 'failed', error: { code: 'cancelled', message: 'The video was cancelled' } } };
  }
}

/**
 * xAI's API takes JSON bodies only: any other type is refused before its body is read, in
 * those terms (the routes elsewhere also take forms, and their 415 says so).
 */
async function jsonOnly(request: FastifyRequest): Promise<void> {
  const type = request.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, `Content-Type ${type || '(none)'} is not taken here; xAI's routes take a JSON body (application/json)`, 'invalid_request_error', 'unsupported_media_type');
  }
}

export function registerXaiRoutes(app: FastifyInstance, routes: RouteTable, deps: RouteDependencies): void {
  const { keys, tasks, presenter, config } = deps;
  const onRequest = requireApiKey(keys);
  const limited = createRateLimit(app);
  const creating = (path: string, route: Route) => {
    app.post(`/xai/v1/videos/${path}`, { onRequest: [onRequest, jsonOnly], preHandler: limited }, async (request, reply) => {
      const idempotencyKey = readIdempotencyKey(request.headers['idempotency-key']);
      const { rest, callbackUrl } = await takeCallbackUrl(request.body, config.allowedPrivateHosts);
      const { body, xaiFieldOf } = fromXai(rest, route);
      const videoKey = [...xaiFieldOf].find(([, field]) => field === 'video')?.[0];
      if (videoKey !== undefined) await ownVideoByLink(body, videoKey, 'video.url', request, deps);
      try {
        const task = await tasks.create(request.keyId, route, body, { idempotencyKey, requestId: request.id, callbackUrl });
        request.taskCreated = idempotencyKey === undefined;
        if (task.price !== null) reply.header('x-vidgate-price', String(task.price));
        return { request_id: task.id };
      } catch (error) {
        throw inXaiTerms(error, xaiFieldOf);
      }
    });
    routes.note(`/xai/v1/videos/${path}`, 'POST');
  };
  creating('generations', 'create');
  creating('edits', 'edit');
  creating('extensions', 'extend');

  app.get<{ Params: { id: string } }>('/xai/v1/videos/:id', { onRequest }, async (request, reply) => {
    const task = await tasks.get(request.keyId, request.params.id);
    const { status, body } = xaiStatus(task, presenter.contentUrl(task, request.host));
    return reply.status(status).send(body);
  });
  routes.note('/xai/v1/videos/:id', 'GET');
}
