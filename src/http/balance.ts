import type { FastifyInstance } from 'fastify';
import { requireApiKey } from './auth.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

/** A key reads its own balance (micro-dollars; null when unmetered). */
export function registerBalanceRoutes(app: FastifyInstance, routes: RouteTable, { keys, accounts }: RouteDependencies): void {
  const onRequest = requireApiKey(keys);
  app.get('/v1/balance', { onRequest }, async (request) => ({ object: 'balance', currency: 'USD', unit: 'micro', ...(await accounts.balance(request.keyId)) }));
  routes.note('/v1/balance', 'GET');
}
