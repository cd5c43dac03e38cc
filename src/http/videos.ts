import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TaskRow } from '../store/schema.ts';
import { z } from 'zod';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireApiKey } from './auth.ts';
import { readCreateBody } from './body.ts';
import { createRateLimit, ownVideoByLink, readIdempotencyKey, takeCallbackUrl } from './creates.ts';
import { listPage, pageLimit, readListQuery } from './list.ts';
import { pollAfterMs, quoteObject, type VideoObjectKind } from './present.ts';
import type { CreateOptions } from '../tasks/service.ts';

/**
 * The task API: POST creates, GET reads, lists and deletes. The seeds' compatibility
 * routes create and read the very same tasks; each answers in the shape its page shows.
 */
export const TASK_ROUTES: { url: string; object: VideoObjectKind }[] = [
  { url: '/v1/videos', object: 'video' },
  { url: '/v1/videos/generations', object: 'video' },
  // Seed 002 documents this legacy route's answer as a "video.generation.job".
  { url: '/v1/video/generations', object: 'video.generation.job' },
];

const listQuery = z.object({
  after: z.string().min(1).optional(),
  limit: pageLimit,
  order: z.enum(['asc', 'desc']).default('desc'),
  status: z.enum(['queued', 'in_progress', 'completed', 'failed', 'cancelled']).optional(),
  model: z.string().min(1).max(100).optional(),
});

type IdParams = { Params: { id: string } };

export function registerVideoRoutes(app: FastifyInstance, routes: RouteTable, deps: RouteDependencies): void {
  const { tasks, presenter, config, keys } = deps;
  const onRequest = requireApiKey(keys);
  const uploads = deps.scratch.folder('uploads');

  const limited = createRateLimit(app);

  /** A route that makes a task: body in either encoding, Idempotency-Key, callback_url, rate limit. */
  const creating = <P>(url: string, object: VideoObjectKind, make: (request: FastifyRequest<{ Params: P }>, body: unknown, options: CreateOptions) => Promise<TaskRow>) => {
    app.post<{ Params: P }>(url, { onRequest, preHandler: limited }, async (request, reply) => {
      const idempotencyKey = readIdempotencyKey(request.headers['idempotency-key']);
      const { body, cleanup } = await readCreateBody(request, uploads, { maxBytes: config.maxBodyBytes, maxFileBytes: config.maxInputBytes });
      try {
        const { rest, callbackUrl } = await takeCallbackUrl(body, config.allowedPrivateHosts);
        const task = await make(request, rest, { idempotencyKey, requestId: request.id, callbackUrl });
        // From here a failure must not invite a blind retry: the task exists.
        request.taskCreated = idempotencyKey === undefined;
        if (task.price !== null) reply.header('x-vidgate-price', String(task.price));
        return presenter.video(task, object, request.host);
      } finally {
        await cleanup();
      }
    });
    routes.note(url, 'POST');
  };

  /**
   * What a create on `url` would cost, without making anything: the same validation, routing
   * and quote as the create (its 400s included); nothing is fetched, stored or held.
   */
  const quoting = (url: string, route: 'create' | 'edit' | 'extend') => {
    app.post(`${url}/quotes`, { onRequest }, async (request) => {
      const { body, cleanup } = await readCreateBody(request, uploads, { maxBytes: config.maxBodyBytes, maxFileBytes: config.maxInputBytes });
      try {
        return quoteObject(await tasks.quote(request.keyId, route, (await takeCallbackUrl(body, config.allowedPrivateHosts)).rest));
      } finally {
        await cleanup();
      }
    });
    routes.note(`${url}/quotes`, 'POST');
  };
  quoting('/v1/videos', 'create');
  quoting('/v1/videos/edits', 'edit');
  quoting('/v1/videos/extensions', 'extend');

  // OpenAI's edit and extension routes map onto the catalog's edit_video and video_extend.
  // A video given by one of our own links is read as that video (creates.ts).
  const withOwnVideo = async (request: FastifyRequest, body: unknown) => {
    if (typeof body === 'object' && body !== null) await ownVideoByLink(body as Record<string, unknown>, 'video', 'video', request, deps);
    return body;
  };
  creating('/v1/videos/edits', 'video', async (request, body, options) => tasks.create(request.keyId, 'edit', await withOwnVideo(request, body), options));
  creating('/v1/videos/extensions', 'video', async (request, body, options) => tasks.create(request.keyId, 'extend', await withOwnVideo(request, body), options));
  creating<{ id: string }>('/v1/videos/:id/remix', 'video', (request, body, options) => tasks.remix(request.keyId, request.params.id, body, options));

  for (const { url, object } of TASK_ROUTES) {
    creating(url, object, (request, body, options) => tasks.create(request.keyId, 'create', body, options));
    // The happy path of this route usually runs in fast-read.ts; this one answers the rest.
    app.get<IdParams>(`${url}/:id`, { onRequest }, async (request, reply) => {
      const task = await tasks.get(request.keyId, request.params.id);
      const wait = pollAfterMs(task);
      if (wait !== null) reply.header('openai-poll-after-ms', wait);
      return presenter.video(task, object, request.host);
    });
    routes.note(`${url}/:id`, 'GET');
  }
  routes.note('/v1/videos', 'GET');

  app.get('/v1/videos', { onRequest }, async (request) => {
    const { tasks: page, hasMore } = await tasks.list(request.keyId, readListQuery(listQuery, request.query));
    return listPage(page, hasMore, (task) => presenter.video(task, 'video', request.host));
  });

  app.post<IdParams>('/v1/videos/:id/cancel', { onRequest }, async (request) =>
    presenter.video(await tasks.cancel(request.keyId, request.params.id), 'video', request.host),
  );
  routes.note('/v1/videos/:id/cancel', 'POST');

  app.delete<IdParams>('/v1/videos/:id', { onRequest }, async (request) => {
    await tasks.delete(request.keyId, request.params.id);
    return { id: request.params.id, object: 'video.deleted', deleted: true };
  });
  routes.note('/v1/videos/:id', 'DELETE');
}
