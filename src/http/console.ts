import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';
import type { RouteTable } from './routes.ts';

/** Where `npm install` builds the console (the package's prepare script: vite build console). */
export const CONSOLE_DIST = path.resolve(import.meta.dirname, '../../console/dist');

/**
 * The console may load nothing but the gateway's own files and talk to nothing but the
 * gateway: the browser holds it to that. Images may be data URIs (a chosen file's preview).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The web console at /console/: its built files, and index.html for every page path (the
 * console routes in the browser). `/` leads there. Unbuilt (installed with --ignore-scripts),
 * /console/ says how to build it.
 */
export async function registerConsole(app: FastifyInstance, routes: RouteTable, dist = CONSOLE_DIST): Promise<void> {
  app.get('/', async (_request, reply) => reply.redirect('/console/'));
  routes.note('/', 'GET', 'HEAD');
  routes.note('/console/', 'GET', 'HEAD');
  routes.note('/console/*', 'GET', 'HEAD');
  if (!existsSync(path.join(dist, 'index.html'))) {
    app.get('/console/*', async () => {
      throw new ApiError(503, 'The console is not built: run npm run build:console (npm install does it)', 'server_error', 'console_not_built');
    });
    return;
  }
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('referrer-policy', 'no-referrer');
    });
    await scope.register(fastifyStatic, {
      root: dist,
      prefix: '/console/',
      wildcard: false,
      // Vite names assets by their content: they never change under one name.
      setHeaders: (response, file) => response.setHeader('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    });
    // The plugin serves /console/ itself (index.html); every other page path is the same page.
    scope.get('/console/*', async (_request, reply) => reply.header('cache-control', 'no-cache').sendFile('index.html'));
    // A missing asset is a 404, not the page: a stale page asking for an old bundle must fail plainly.
    scope.get('/console/assets/*', async (request) => {
      throw new ApiError(404, `No console file ${request.url.split('?')[0]}`, 'not_found_error', 'route_not_found');
    });
  });
}
