import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TaskRow } from '../store/schema.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireApiKey } from './auth.ts';
import { ApiError, conflict, invalidRequest, notFound } from './errors.ts';
import { sendFile } from './send-file.ts';
import { StillMaker } from './stills.ts';

const VARIANTS = { video: 'video/mp4', thumbnail: 'image/webp', spritesheet: 'image/jpeg' } as const;
type Variant = keyof typeof VARIANTS;
const isVariant = (value: string): value is Variant => Object.hasOwn(VARIANTS, value);
/** How long a CONTENT_REDIRECT link opens: long enough to start a download, short enough not to be passed around. */
const REDIRECT_SECONDS = 300;

type ContentRequest = FastifyRequest<{
  Params: { id: string };
  Querystring: { variant?: string; expires?: string; signature?: string };
}>;

/**
 * GET/HEAD /v1/videos/{id}/content: the stored MP4, with Range, ETag and Last-Modified so
 * that a browser <video> can seek. Opened either with the owner's API key or with the
 * signed link from the task object (metadata.url), which needs no header at all. With
 * CONTENT_REDIRECT on a bucket, the answer is a 302 to a short-lived presigned link instead.
 */
export function registerContentRoutes(app: FastifyInstance, routes: RouteTable, deps: RouteDependencies): void {
  const { tasks, storage, signer, keys } = deps;
  const apiKey = requireApiKey(keys);
  const stills = new StillMaker(storage, deps.scratch.folder('stills'));

  const findTask = async (request: ContentRequest): Promise<TaskRow> => {
    const { expires, signature } = request.query;
    if (signature === undefined && expires === undefined) {
      await apiKey(request);
      return tasks.get(request.keyId, request.params.id);
    }
    const verdict = signer.verify(request.params.id, expires ?? '', signature ?? '', Math.floor(Date.now() / 1000));
    if (verdict !== 'valid') {
      throw new ApiError(403, verdict === 'expired' ? 'This download link has expired' : 'This download link is not valid', 'authentication_error', `link_${verdict}`);
    }
    const task = await tasks.byId(request.params.id);
    // A link proves access on its owner's behalf, so it lapses with the owner's key.
    if (!(await keys.isActive(task.key_id))) throw new ApiError(403, "This download link's API key has been revoked", 'authentication_error', 'link_revoked');
    return task;
  };

  const handler = async (request: ContentRequest, reply: FastifyReply) => {
    const variant = request.query.variant ?? 'video';
    if (!isVariant(variant)) throw invalidRequest(`variant must be one of ${Object.keys(VARIANTS).join(', ')}`, 'variant');
    const task = await findTask(request);
    if (task.status === 'failed' || task.status === 'cancelled') throw conflict(`Video ${task.id} is ${task.status}; it has no content`, 'video_not_available');
    if (task.status !== 'completed') throw conflict(`Video ${task.id} is ${task.status}; its content is ready once it is completed`, 'video_not_ready');
    if (task.expires_at !== null && task.expires_at <= Date.now()) throw notFound(`Video ${task.id} has expired`, 'video_expired');
    if (!task.video_key) throw notFound(`The file of video ${task.id} is gone`, 'video_not_found');
    const key = variant === 'video' ? task.video_key : await stills.ensure(task, variant);
    const stored = await storage.stat(key);
    if (!stored) throw notFound(`The file of video ${task.id} is gone`, 'video_not_found');
    const link = deps.config.contentRedirect ? storage.downloadLink(key, { seconds: REDIRECT_SECONDS, contentType: VARIANTS[variant] }) : null;
    // The bucket serves the bytes, Range and all; the link is the client's alone, so no cache keeps it.
    if (link) return reply.status(302).headers({ location: await link, 'cache-control': 'no-store' }).send();
    return send(request, reply, task, key, stored.size, VARIANTS[variant]);
  };

  const send = (request: ContentRequest, reply: FastifyReply, task: TaskRow, key: string, size: number, type: string) => {
    const etag = `"${key.split('/').pop()}-${task.id}-${size}"`;
    const modified = new Date(task.completed_at ?? task.created_at);
    modified.setMilliseconds(0);
    const headers: Record<string, string | number> = {
      'content-type': type,
      'accept-ranges': 'bytes',
      etag,
      'last-modified': modified.toUTCString(),
      'cache-control': 'private, max-age=3600',
    };
    if (notModified(request, etag, modified)) return reply.status(304).headers(headers).send();
    const range = requestedRange(request, etag, modified, size);
    if (range === 'unsatisfiable') {
      return reply
        .status(416)
        .headers({ 'content-range': `bytes */${size}` })
        .send(new ApiError(416, 'The requested range is outside the file', 'invalid_request_error', 'range_not_satisfiable').toBody());
    }
    const status = range ? 206 : 200;
    headers['content-length'] = range ? range.end - range.start + 1 : size;
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    if (request.method === 'HEAD') return reply.status(status).headers(headers).send();
    // Straight to the socket: fastify's send path costs a third of the throughput on
    // large files (stack.md).
    reply.hijack();
    const raw = reply.raw;
    // A hijacked reply skips fastify's send: carry over the headers every answer has (Common).
    raw.writeHead(status, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...headers });
    const fail = (error: Error) => {
      request.log.error({ err: error, task: task.id }, 'reading stored video failed');
      raw.destroy();
    };
    const file = storage.filePath(key);
    if (file) {
      sendFile(raw, file, range?.start ?? 0, range?.end ?? size - 1).catch(fail);
    } else {
      const stream = storage.openRead(key, range ?? undefined);
      stream.on('error', fail);
      raw.on('close', () => stream.destroy());
      stream.pipe(raw);
    }
    return reply;
  };

  app.route({ method: ['GET', 'HEAD'], url: '/v1/videos/:id/content', handler });
  routes.note('/v1/videos/:id/content', 'GET', 'HEAD');
}

function notModified(request: FastifyRequest, etag: string, modified: Date): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) return ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*');
  const since = request.headers['if-modified-since'];
  return since !== undefined && !Number.isNaN(Date.parse(since)) && modified.getTime() <= Date.parse(since);
}

/** A single byte range, or null for the whole file (also when If-Range no longer matches). */
function requestedRange(request: FastifyRequest, etag: string, modified: Date, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  const header = request.headers.range;
  if (!header) return null;
  const ifRange = request.headers['if-range'];
  if (ifRange && ifRange !== etag && ifRange !== modified.toUTCString()) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: RFC 9110 lets us answer with the whole file.
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
