import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyService } from '../auth/keys.ts';
import type { TaskService } from '../tasks/service.ts';
import { apiKeyOf } from './auth.ts';
import type { Common } from './common.ts';
import { pollAfterMs, type Presenter, type VideoObjectKind } from './present.ts';
import { TASK_ROUTES } from './videos.ts';

/**
 * GET /v1/videos/{id} is most of a gateway's traffic: every client polls it until its
 * video is done. On this machine fastify's own request path costs a third of a bare
 * node:http server's throughput before any work is done (bench/), so the poll's happy
 * path — a known key reading its own task — is answered here, on the bare request
 * event. It is not a second pipeline: authentication (apiKeyOf), the shared headers,
 * request id and log line (Common) and the body (Presenter) are the very functions the
 * fastify routes use, and test/pipeline.test.ts asks both paths the same questions.
 * Everything else (no key, unknown task, a query string, other methods) falls through
 * to the fastify app, which answers it with the one error mapper. A read that failed (the
 * database out) falls through with its error (fastReadFailure), which the app answers
 * without asking the database again: asked twice, a silent database held the poll for
 * twice DATABASE_TIMEOUT_SECONDS.
 */
type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const READ = new RegExp(`^(${TASK_ROUTES.map(({ url }) => url.replace(/\//g, '\\/')).join('|')})\\/(video_[0-9a-f]{1,64})$`);
const OBJECT = new Map<string, VideoObjectKind>(TASK_ROUTES.map(({ url, object }) => [url, object]));
const FAILED = new WeakMap<IncomingMessage, unknown>();

/** What the fast path met on this request, if it failed: the app answers with it (app.ts). */
export function fastReadFailure(request: IncomingMessage): { error: unknown } | undefined {
  return FAILED.has(request) ? { error: FAILED.get(request) } : undefined;
}

export function withFastReads(keys: KeyService, tasks: TaskService, presenter: Presenter, common: Common, app: Handler): Handler {
  return (request, response) => {
    const match = request.method === 'GET' ? READ.exec(request.url ?? '') : null;
    if (!match || !request.headers.authorization) return app(request, response);
    void answer(match[1]!, match[2]!, request, response).then(
      (answered) => answered || app(request, response),
      (error: unknown) => {
        FAILED.set(request, error);
        app(request, response);
      },
    );
  };

  async function answer(route: string, id: string, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    const started = performance.now();
    const keyId = await apiKeyOf(keys, request.headers);
    const task = keyId ? await tasks.find(keyId, id) : undefined;
    if (!task) return false;
    const body = presenter.json(task, OBJECT.get(route)!, request.headers.host);
    const requestId = common.requestId(request.headers);
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    common.addHeaders(headers, request.headers, requestId);
    const wait = pollAfterMs(task);
    if (wait !== null) headers['openai-poll-after-ms'] = wait;
    response.writeHead(200, headers);
    response.end(body);
    common.recordRequest({ method: 'GET', route: `${route}/:id`, status: 200, ms: performance.now() - started, keyId, request: requestId });
    return true;
  }
}
