import type { FastifyInstance } from 'fastify';
import { requireAdminKey } from './auth.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { RouteTable } from './routes.ts';

/** GET /metrics: the Prometheus exposition, for the admin key or METRICS_TOKEN. */
export function registerMetricsRoute(app: FastifyInstance, routes: RouteTable, { adminKey, metrics, config }: { adminKey: string; metrics: Metrics; config: Config }): void {
  const onRequest = requireAdminKey(adminKey, ...(config.metricsToken === null ? [] : [config.metricsToken]));
  app.get('/metrics', { onRequest }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  routes.note('/metrics', 'GET');
}
