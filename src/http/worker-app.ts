import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Readiness } from '../readiness.ts';
import { baseApp } from './base-app.ts';
import { Common } from './common.ts';
import { CorsPolicy } from './cors.ts';
import { registerHealthRoutes } from './health.ts';
import { registerMetricsRoute } from './metrics.ts';
import { RouteTable } from './routes.ts';

/**
 * What a worker (ROLE=worker) serves on its PORT: no API, only what a load balancer, a
 * container runtime and a scraper ask of it. Its render, upstream and delivery series are
 * its own, and reach Prometheus only from here.
 */
export function buildWorkerApp(deps: { config: Config; log: Logger; metrics: Metrics; readiness: () => Promise<Readiness>; adminKey: string }): FastifyInstance {
  const { config, log, metrics } = deps;
  const common = new Common(new CorsPolicy(config.corsOrigins), log, metrics);
  const app = baseApp({ log, common, maxBodyBytes: config.maxBodyBytes, noRouteHint: ': this process (ROLE=worker) serves /healthz, /readyz and /metrics; the API is an api process’s' });
  const routes = new RouteTable(app, common.cors);
  registerHealthRoutes(app, routes, deps.readiness);
  registerMetricsRoute(app, routes, deps);
  routes.answerOtherMethods();
  return app;
}
