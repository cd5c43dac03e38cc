import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireAdminKey } from './auth.ts';
import { invalidRequest, notFound } from './errors.ts';

const createKeyBody = z.object({ name: z.string().trim().min(1).max(200) });

/** The operator's API: issue, list and revoke client keys. */
export function registerAdminRoutes(app: FastifyInstance, routes: RouteTable, { keys, adminKey }: RouteDependencies): void {
  const onRequest = requireAdminKey(adminKey);

  app.post('/admin/keys', { onRequest }, async (request, reply) => {
    const parsed = createKeyBody.safeParse(request.body ?? {});
    if (!parsed.success) throw invalidRequest('name is required: a non-empty string of at most 200 characters', 'name');
    return reply.status(201).send(await keys.create(parsed.data.name));
  });
  app.get('/admin/keys', { onRequest }, async () => ({ object: 'list', data: await keys.list() }));
  app.delete<{ Params: { id: string } }>('/admin/keys/:id', { onRequest }, async (request) => {
    if (!(await keys.revoke(request.params.id))) throw notFound(`No active key with id '${request.params.id}'`, 'key_not_found');
    return { id: request.params.id, object: 'api_key.deleted', deleted: true };
  });
  routes.note('/admin/keys', 'GET', 'POST');
  routes.note('/admin/keys/:id', 'DELETE');
}
