import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../readiness.ts';
import type { RouteTable } from './routes.ts';

/**
 * For a load balancer and a container runtime, on every process: alive (the process answers)
 * and ready (what it needs answers too; a load balancer sends traffic only then).
 */
export function registerHealthRoutes(app: FastifyInstance, routes: RouteTable, readiness: () => Promise<Readiness>): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  routes.note('/healthz', 'GET');
  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = await readiness();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });
  routes.note('/readyz', 'GET');
}
