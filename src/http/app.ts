import { createServer } from 'node:http';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerAdminRoutes } from './admin.ts';
import { registerBalanceRoutes } from './balance.ts';
import { registerChannelRoutes } from './channels.ts';
import { registerConsole } from './console.ts';
import { registerUsageRoutes } from './usage.ts';
import { bodyTooLargeMessage, MAX_FORM_FIELD_BYTES } from './body.ts';
import { Common } from './common.ts';
import { registerContentRoutes } from './content.ts';
import { CorsPolicy } from './cors.ts';
import { clientErrorHandler, frameworkErrors } from './edge-errors.ts';
import { registerEventRoutes } from './events.ts';
import { ApiError, fromDomain } from './errors.ts';
import { fastReadFailure, withFastReads } from './fast-read.ts';
import { checkJsonBody } from './json-body.ts';
import { refuseBadText } from './bad-text.ts';
import { registerMetricsRoute } from './metrics.ts';
import { registerModelRoutes } from './models.ts';
import { Presenter } from './present.ts';
import { type AppDependencies, RouteTable } from './routes.ts';
import { registerUpstreamRoutes } from './upstream-links.ts';
import { registerVideoRoutes } from './videos.ts';
import { registerWebhookRoutes } from './webhooks.ts';
import { registerXaiRoutes } from './xai.ts';

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

/** A surrogate spelled as a JSON escape: the one way half a pair reaches us (bytes that are not UTF-8 decode to U+FFFD). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** Longest path parameter (a video id is 25 characters); a longer one is an unknown id, not a 414. */
const MAX_PARAM_LENGTH = 1000;

export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, log } = deps;
  const presenter = new Presenter(deps.signer, config.publicUrl);
  const common = new Common(new CorsPolicy(config.corsOrigins), log, deps.metrics);
  const app = Fastify({
    serverFactory: (handler) => createServer(withFastReads(deps.keys, deps.tasks, presenter, common, handler)),
    // Typed as fastify's base logger so that route files take a plain FastifyInstance.
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: config.maxBodyBytes,
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
    // A poll the fast path failed to read is answered with its error, not read again.
    const failed = fastReadFailure(request.raw);
    if (failed) throw failed.error;
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
  // Only JSON and multipart bodies are understood; anything else is a 415, not a guess.
  app.removeContentTypeParser('text/plain');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    // Clients send a JSON content type on body-less DELETEs too; an empty body is no body.
    if (bytes.length === 0) return done(null, undefined);
    try {
      checkJsonBody(bytes);
    } catch (error) {
      return done(error as Error);
    }
    const text = bytes.toString('utf8');
    parseJson(request, text, (error, value) => {
      if (error) return done(prototypeKey(text, error), undefined);
      // Only a body that spells one of the escapes (a NUL, a surrogate) is walked for them.
      if (text.includes('\\u0000') || SURROGATE_ESCAPE.test(text)) {
        try {
          refuseBadText(value, null);
        } catch (refusal) {
          return done(refusal as Error, undefined);
        }
      }
      done(null, value);
    });
  });
  // The creates' limit (creates.ts): counted per API key, after authentication; a key's own
  // requests_per_minute, else RATE_LIMIT_PER_MINUTE. With Redis the count is shared by every
  // process; should Redis not answer, creates go on uncounted (skipOnError) rather than all
  // fail, and /readyz says so.
  await app.register(rateLimit, {
    ...(deps.redis ? { redis: deps.redis, nameSpace: 'vidgate-rate-', skipOnError: true } : {}),
    global: false,
    max: async (request) => (await deps.keys.requestsPerMinute(request.keyId)) ?? config.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.keyId,
    errorResponseBuilder: (_request, context) =>
      new ApiError(429, `Too many requests: at most ${context.max} new videos a minute per API key; retry in ${context.after}`, 'rate_limit_error', 'rate_limit_exceeded'),
  });
  await app.register(multipart, {
    limits: { fileSize: config.maxInputBytes, fieldSize: MAX_FORM_FIELD_BYTES, files: 16, fields: 200, parts: 216 },
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const known = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
    const apiError =
      fromDomain(error) ??
      (known
        ? new ApiError(known.status, known.message?.({ contentType: request.headers['content-type'], maxBodyBytes: config.maxBodyBytes }) ?? error.message, 'invalid_request_error', known.code)
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
    const error = new ApiError(404, `No route for ${request.method} ${request.url.split('?')[0]}`, 'not_found_error', 'route_not_found');
    return reply.status(404).send(error.toBody());
  });

  const routes = new RouteTable(app, common.cors);
  // Alive: the process answers. Ready: what it needs answers too (a load balancer sends traffic only then).
  app.get('/healthz', async () => ({ status: 'ok' }));
  routes.note('/healthz', 'GET');
  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = await deps.readiness();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });
  routes.note('/readyz', 'GET');
  const routeDeps = { ...deps, presenter };
  registerAdminRoutes(app, routes, routeDeps);
  registerModelRoutes(app, routes, routeDeps);
  registerBalanceRoutes(app, routes, routeDeps);
  registerUsageRoutes(app, routes, routeDeps);
  registerVideoRoutes(app, routes, routeDeps);
  registerContentRoutes(app, routes, routeDeps);
  registerEventRoutes(app, routes, routeDeps);
  registerUpstreamRoutes(app, routes, routeDeps);
  registerChannelRoutes(app, routes, routeDeps);
  registerWebhookRoutes(app, routes, routeDeps);
  registerMetricsRoute(app, routes, routeDeps);
  registerXaiRoutes(app, routes, routeDeps);
  await registerConsole(app, routes);
  routes.answerOtherMethods();
  return app;
}

/**
 * The parser refuses __proto__ and constructor.prototype keys (prototype poisoning) with
 * "not valid JSON"; when the text is valid JSON, say what is really refused.
 */
function prototypeKey(text: string, error: Error): Error {
  try {
    JSON.parse(text);
  } catch {
    return error;
  }
  return new ApiError(400, 'The keys __proto__ and constructor.prototype are never accepted in a body', 'invalid_request_error', 'unsupported_parameter');
}
