import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callbackSubject, inputSubject } from '../auth/signed-url.ts';
import { ApiError, notFound } from './errors.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

type Signed = { expires?: string; signature?: string };

const INPUT_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
};

/**
 * The two doors an upstream uses, opened by signed links only (an upstream holds no key
 * of ours): a task's stored input, for an upstream that cannot take it inline; and the
 * callback an upstream calls on a status change. A callback only makes us check the task
 * at once; its body is never read as the truth (it is unauthenticated news, not a result).
 */
export function registerUpstreamRoutes(app: FastifyInstance, routes: RouteTable, deps: RouteDependencies): void {
  const { signer, storage, tasks } = deps;
  const check = (subject: string, { expires, signature }: Signed) => {
    const verdict = signer.verify(subject, expires ?? '', signature ?? '', Math.floor(Date.now() / 1000));
    if (verdict !== 'valid') throw new ApiError(403, verdict === 'expired' ? 'This link has expired' : 'This link is not valid', 'authentication_error', `link_${verdict}`);
  };

  app.get('/v1/inputs/:task/:file', async (request: FastifyRequest<{ Params: { task: string; file: string }; Querystring: Signed }>, reply) => {
    const { task, file } = request.params;
    check(inputSubject(task, file), request.query);
    const type = INPUT_TYPES[file.slice(file.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
    const key = `inputs/${task}/${file}`;
    const stored = /^\d+\.[a-z0-9]+$/.test(file) ? await storage.stat(key) : null;
    if (!stored) throw notFound('This input is gone', 'input_not_found');
    return reply.type(type).header('content-length', stored.size).send(storage.openRead(key));
  });
  routes.note('/v1/inputs/:task/:file', 'GET', 'HEAD');

  app.post('/v1/upstream-callbacks/:task', { bodyLimit: 256 * 1024 }, async (request: FastifyRequest<{ Params: { task: string }; Querystring: Signed }>) => {
    check(callbackSubject(request.params.task), request.query);
    await tasks.checkNow(request.params.task);
    return { received: true };
  });
  routes.note('/v1/upstream-callbacks/:task', 'POST');
}
