import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { TaskRow } from '../store/schema.ts';
import type { AppDependencies, RouteTable } from './app.ts';
import { requireApiKey } from './auth.ts';
import { readCreateBody } from './body.ts';
import { invalidRequest } from './errors.ts';
import { videoObject, type VideoObjectKind } from './present.ts';

/**
 * The task API: POST creates, GET reads, lists and deletes. The seeds' compatibility
 * routes create and read the very same tasks; each answers in the shape its page shows.
 */
const CREATE_ROUTES: { url: string; object: VideoObjectKind }[] = [
  { url: '/v1/videos', object: 'video' },
  { url: '/v1/videos/generations', object: 'video' },
  // Seed 002 documents this legacy route's answer as a "video.generation.job".
  { url: '/v1/video/generations', object: 'video.generation.job' },
];

const listQuery = z.object({
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

type IdParams = { Params: { id: string } };

export function registerVideoRoutes(app: FastifyInstance, routes: RouteTable, deps: AppDependencies): void {
  const { tasks, signer, config, keys } = deps;
  const preHandler = requireApiKey(keys);
  const uploads = path.join(config.dataDir, 'tmp');

  const present = (request: FastifyRequest, task: TaskRow, object: VideoObjectKind) => {
    const live = task.status === 'completed' && task.expires_at !== null && task.expires_at > Date.now();
    const base = config.publicUrl ?? `${request.protocol}://${request.host}`;
    const url = live ? signer.contentUrl(base, task.id, Math.floor(task.expires_at! / 1000)) : null;
    return videoObject(task, object, url);
  };

  for (const { url, object } of CREATE_ROUTES) {
    app.post(url, { preHandler }, async (request) => {
      const { body, cleanup } = await readCreateBody(request, uploads);
      try {
        return present(request, await tasks.create(request.keyId, 'create', body), object);
      } finally {
        await cleanup();
      }
    });
    app.get<IdParams>(`${url}/:id`, { preHandler }, async (request) =>
      present(request, await tasks.get(request.keyId, request.params.id), object),
    );
    routes.note(url, 'POST');
    routes.note(`${url}/:id`, 'GET');
  }
  routes.note('/v1/videos', 'GET');

  app.get('/v1/videos', { preHandler }, async (request) => {
    const parsed = listQuery.safeParse(request.query);
    if (!parsed.success) {
      const param = String(parsed.error.issues[0]?.path[0] ?? 'query');
      throw invalidRequest(`${param}: ${parsed.error.issues[0]?.message ?? 'invalid'}`, param);
    }
    const { tasks: page, hasMore } = await tasks.list(request.keyId, parsed.data);
    return {
      object: 'list',
      data: page.map((task) => present(request, task, 'video')),
      first_id: page[0]?.id ?? null,
      last_id: page.at(-1)?.id ?? null,
      has_more: hasMore,
    };
  });

  app.delete<IdParams>('/v1/videos/:id', { preHandler }, async (request) => {
    await tasks.delete(request.keyId, request.params.id);
    return { id: request.params.id, object: 'video.deleted', deleted: true };
  });
  routes.note('/v1/videos/:id', 'DELETE');
}
