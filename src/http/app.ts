import { createServer } from 'node:http';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { registerAdminRoutes } from './admin.ts';
import { registerBalanceRoutes } from './balance.ts';
import { registerChannelRoutes } from './channels.ts';
import { registerConsole } from './console.ts';
import { registerUsageRoutes } from './usage.ts';
import { baseApp } from './base-app.ts';
import { MAX_FORM_FIELD_BYTES } from './body.ts';
import { Common } from './common.ts';
import { registerContentRoutes } from './content.ts';
import { CorsPolicy } from './cors.ts';
import { registerEventRoutes } from './events.ts';
import { registerHealthRoutes } from './health.ts';
import { ApiError } from './errors.ts';
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

/** A surrogate spelled as a JSON escape: the one way half a pair reaches us (bytes that are not UTF-8 decode to U+FFFD). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, log } = deps;
  const presenter = new Presenter(deps.signer, config.publicUrl);
  const common = new Common(new CorsPolicy(config.corsOrigins), log, deps.metrics);
  const app = baseApp({
    log,
    common,
    maxBodyBytes: config.maxBodyBytes,
    serverFactory: (handler) => createServer(withFastReads(deps.keys, deps.tasks, presenter, common, handler)),
  });
  // A poll the fast path failed to read is answered with its error, not read again.
  app.addHook('onRequest', async (request) => {
    const failed = fastReadFailure(request.raw);
    if (failed) throw failed.error;
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

  const routes = new RouteTable(app, common.cors);
  registerHealthRoutes(app, routes, deps.readiness);
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
