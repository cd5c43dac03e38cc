import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { setTimeout as delay } from 'node:timers/promises';
import type { TaskRow } from '../store/schema.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireApiKey } from './auth.ts';

/**
 * GET /v1/videos/{id}/events: the task as Server-Sent Events. One `video.<status>` event
 * for every status the task passes through, in order, `video.in_progress` again whenever
 * progress rises, then one terminal event (`video.completed`, `video.failed`,
 * `video.cancelled`, or `video.deleted`) and the stream closes. The stream watches the
 * store, so it sees work done by any process; a passage through in_progress that fell
 * between two looks is replayed from the task's recorded start.
 */
const LOOK_EVERY_MS = 250;
const KEEP_ALIVE_MS = 15_000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function registerEventRoutes(app: FastifyInstance, routes: RouteTable, { tasks, presenter, keys }: RouteDependencies): void {
  const onRequest = requireApiKey(keys);

  app.get<{ Params: { id: string } }>('/v1/videos/:id/events', { onRequest }, async (request, reply) => {
    let task: TaskRow | undefined = await tasks.get(request.keyId, request.params.id);
    reply.hijack();
    const raw = reply.raw;
    // Hijacked: fastify will not send, so the shared headers (Common) are carried over here.
    raw.writeHead(200, {
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Tell buffering proxies to pass events through as they come.
      'x-accel-buffering': 'no',
    });
    const closed = new AbortController();
    raw.on('close', () => closed.abort());
    let sequence = 0;
    let lastWrite = Date.now();
    const send = (event: string, data: unknown) => {
      raw.write(`id: ${++sequence}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      lastWrite = Date.now();
    };

    let sentStatus: string | null = null;
    let sentProgress = -1;
    while (!closed.signal.aborted) {
      if (!task) {
        send('video.deleted', { id: request.params.id, object: 'video.deleted', deleted: true });
        break;
      }
      if (sentStatus === 'queued' && task.status !== 'queued' && task.status !== 'in_progress' && task.started_at !== null) {
        // It ran and ended between two looks: tell the run before the end.
        send('video.in_progress', { ...presenter.video(task, 'video', request.headers.host), status: 'in_progress' });
      }
      if (task.status !== sentStatus || (task.status === 'in_progress' && task.progress > sentProgress)) {
        send(`video.${task.status}`, presenter.video(task, 'video', request.headers.host));
        sentStatus = task.status;
        sentProgress = task.progress;
      }
      if (TERMINAL.has(task.status)) break;
      if (Date.now() - lastWrite > KEEP_ALIVE_MS) {
        raw.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await delay(LOOK_EVERY_MS, undefined, { signal: closed.signal }).catch(() => undefined);
      task = await tasks.find(request.keyId, request.params.id);
    }
    raw.end();
  });
  routes.note('/v1/videos/:id/events', 'GET');
}
