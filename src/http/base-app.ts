import { createServer, type RequestListener, type Server } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { bodyTooLargeMessage } from './body.ts';
import type { Common } from './common.ts';
import { clientErrorHandler, frameworkErrors } from './edge-errors.ts';
import { ApiError, fromDomain } from './errors.ts';
import { refuseBadText } from './bad-text.ts';

declare module 'fastify' {
  interface FastifyRequest {
    keyId: string;
    /** Set once a create has committed its task, so that a later 5xx says "do not retry". */
    taskCreated: boolean;
  }
}

const ACCEPTED_TYPES = 'application/json or multipart/form-data';

/** Fastify's own error codes, answered in our envelope with the status they deserve. */
type Refused = { contentType: string | undefined; maxBodyBytes: number };
const FRAMEWORK_ERRORS: Record<string, { status: number; code: string; message?: (refused: Refused) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large', message: ({ maxBodyBytes }) => bodyTooLargeMessage(maxBodyBytes) },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'file_too_large' },
  FST_PARTS_LIMIT: { status: 413, code: 'too_many_parts' },
  FST_FILES_LIMIT: { status: 413, code: 'too_many_files' },
  FST_FIELDS_LIMIT: { status: 413, code: 'too_many_fields' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: ({ contentType }) => `Content-Type ${contentType ?? '(none)'} is not supported; send ${ACCEPTED_TYPES}` },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'unsupported_media_type', message: () => `The body is not ${ACCEPTED_TYPES}` },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_body' },
};

/** Longest path parameter (a video id is 25 characters); a longer one is an unknown id, not a 414. */
const MAX_PARAM_LENGTH = 1000;

export interface BaseAppOptions {
  log: Logger;
  common: Common;
  maxBodyBytes: number;
  /** What a path no route answers is told, after "No route for GET /x". */
  noRouteHint?: string;
  /** The server the app's handler runs in (the API's poll fast path wraps it). */
  serverFactory?: (handler: RequestListener) => Server;
}

/**
 * What every HTTP answer of every process shares, whatever routes it serves (app.ts for the
 * API, worker-app.ts for a worker): the request id and log line, the headers every response
 * carries, the per-request metrics, refusal of NULs in ids and queries, and one error mapper
 * with our envelope for domain errors, fastify's own and unknown paths alike.
 */
export function baseApp({ log, common, maxBodyBytes, noRouteHint = '', serverFactory = (handler) => createServer(handler) }: BaseAppOptions): FastifyInstance {
  const app = Fastify({
    serverFactory,
    // Typed as fastify's base logger so that route files take a plain FastifyInstance.
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: maxBodyBytes,
    // One line per request at debug comes from Common (onResponse below), as on the fast path.
    // One name for the request id in every line: the request's, and the worker's about its task.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request' }),
    genReqId: (request) => common.requestId(request.headers),
    requestIdHeader: false,

    // Lets route files name a 405 for the methods a path does not answer.
    exposeHeadRoutes: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrors(common),
    clientErrorHandler,
  });
  app.decorateRequest('keyId', '');
  app.decorateRequest('taskCreated', false);
  app.addHook('onRequest', async (request, reply) => {
    const headers: Record<string, string> = {};
    common.addHeaders(headers, request.headers, request.id);
    reply.headers(headers);
  });
  // Ids and query values with a NUL: refused before any route reads them (bad-text.ts).
  app.addHook('preValidation', async (request) => {
    refuseBadText(request.params, null);
    refuseBadText(request.query, null);
  });
  app.addHook('onResponse', async (request, reply) => {
    common.recordRequest({
      method: request.method,
      route: request.routeOptions.url,
      status: reply.statusCode,
      ms: reply.elapsedTime,
      keyId: request.keyId || null,
      request: request.id,
    });
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const known = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
    const apiError =
      fromDomain(error) ??
      (known
        ? new ApiError(known.status, known.message?.({ contentType: request.headers['content-type'], maxBodyBytes }) ?? error.message, 'invalid_request_error', known.code)
        : error.statusCode && error.statusCode >= 400 && error.statusCode < 500
          ? new ApiError(error.statusCode, error.message, 'invalid_request_error', 'invalid_request')
          : null);
    // The openai SDK retries 409s and 5xx; say so when a retry cannot help or could duplicate a task.
    if (apiError?.shouldRetry === false || ((apiError?.status ?? 500) >= 500 && request.taskCreated)) reply.header('x-should-retry', 'false');
    if (apiError?.retryAfter !== undefined) reply.header('retry-after', String(apiError.retryAfter));
    if (apiError) return reply.status(apiError.status).send(apiError.toBody());
    request.log.error({ err: error, method: request.method, path: request.routeOptions.url }, 'unhandled error');
    return reply.status(500).send(new ApiError(500, 'The server failed to handle this request', 'server_error', 'internal_error').toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError(404, `No route for ${request.method} ${request.url.split('?')[0]}${noRouteHint}`, 'not_found_error', 'route_not_found');
    return reply.status(404).send(error.toBody());
  });
  return app;
}
