import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyService } from '../auth/keys.ts';
import type { TaskService } from '../tasks/service.ts';
import { bearer } from './auth.ts';
import { pollAfterMs, type Presenter, type VideoObjectKind } from './present.ts';
import { TASK_ROUTES } from './videos.ts';

/**
 * GET /v1/videos/{id} is most of a gateway's traffic: every client polls it until its
 * video is done. On this machine fastify's own request path costs a third of a bare
 * node:http server's throughput before any work is done (bench/), so the poll's happy
 * path — a known key reading its own task — is answered here, on the bare request
 * event, with the same services and presenter as the routes. Everything else (no key,
 * unknown task, a query string, other methods) falls through to the fastify app, which
 * answers it with the one error mapper.
 */
type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const READ = new RegExp(`^(${TASK_ROUTES.map(({ url }) => url.replace(/\//g, '\\/')).join('|')})\\/(video_[0-9a-f]{1,64})$`);
const OBJECT = new Map<string, VideoObjectKind>(TASK_ROUTES.map(({ url, object }) => [url, object]));

export function withFastReads(keys: KeyService, tasks: TaskService, presenter: Presenter, app: Handler): Handler {
  return (request, response) => {
    const match = request.method === 'GET' ? READ.exec(request.url ?? '') : null;
    const token = match ? bearer(request.headers.authorization) : null;
    if (!match || !token) return app(request, response);
    void answer(match[1]!, match[2]!, token, request, response).then(
      (answered) => answered || app(request, response),
      () => app(request, response),
    );
  };

  async function answer(route: string, id: string, token: string, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    const keyId = await keys.authenticate(token);
    const task = keyId ? await tasks.find(keyId, id) : undefined;
    if (!task) return false;
    const body = presenter.json(task, OBJECT.get(route)!, request.headers.host);
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    const wait = pollAfterMs(task);
    if (wait !== null) headers['openai-poll-after-ms'] = wait;
    response.writeHead(200, headers);
    response.end(body);
    return true;
  }
}
