import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Logger } from 'pino';
import type { KeyService } from '../auth/keys.ts';
import type { Accounts } from '../billing/accounts.ts';
import type { channelReport } from '../channels/report.ts';
import type { Config } from '../config.ts';
import type { Scratch } from '../scratch.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskService } from '../tasks/service.ts';
import type { CorsPolicy } from './cors.ts';
import { ApiError } from './errors.ts';
import type { Presenter } from './present.ts';
import type { UrlSigner } from '../auth/signed-url.ts';
import type { WebhookService } from '../webhooks/service.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Readiness } from '../readiness.ts';
import type { Redis } from 'ioredis';

/** What the HTTP layer is built from (app.ts), and what each route file receives. */
export interface AppDependencies {
  config: Config;
  log: Logger;
  keys: KeyService;
  accounts: Accounts;
  tasks: TaskService;
  webhooks: WebhookService;
  storage: Storage;
  signer: UrlSigner;
  adminKey: string;
  scratch: Scratch;
  /** The names of the channels that serve a model; none when the preview renderer does. */
  channelsFor: (model: string) => string[];
  /** Shared by every process (REDIS_URL): per-key rate limits count there; null: in this process. */
  redis: Redis | null;
  /** Whether the database and storage answer now (GET /readyz). */
  readiness: () => Promise<Readiness>;
  /** The series GET /metrics exposes; requests are counted into it. */
  metrics: Metrics;
  /** Each channel's models, load and health, for the operator. */
  channelStatus: () => Promise<ReturnType<typeof channelReport>>;
}

/** The dependencies plus the presenter made from them. */
export type RouteDependencies = AppDependencies & { presenter: Presenter };

/**
 * Remembers which methods each path answers, so that the others get a 405, not a 404,
 * and OPTIONS (a browser's CORS preflight among others) is answered with what is allowed.
 */
export class RouteTable {
  private readonly methods = new Map<string, Set<HTTPMethods>>();

  constructor(
    private readonly app: FastifyInstance,
    private readonly cors: CorsPolicy,
  ) {}

  note(url: string, ...methods: HTTPMethods[]): void {
    const known = this.methods.get(url) ?? new Set();
    for (const method of methods) known.add(method);
    this.methods.set(url, known);
  }

  answerOtherMethods(): void {
    const all: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
    for (const [url, known] of this.methods) {
      const others = all.filter((method) => !known.has(method));
      const allow = [...known, 'OPTIONS'].join(', ');
      this.app.route({
        method: others,
        url,
        handler: async (_request: FastifyRequest, reply: FastifyReply) => {
          const error = new ApiError(405, `This path answers ${allow}`, 'invalid_request_error', 'method_not_allowed');
          return reply.status(405).header('allow', allow).send(error.toBody());
        },
      });
      // A preflight carries no credentials: it is answered without a key, and says nothing about any video.
      this.app.options(url, async (request, reply) => {
        const preflight = this.cors.preflight(request.headers.origin, allow, request.headers['access-control-request-headers']);
        return reply.status(204).header('allow', allow).headers(preflight).send();
      });
    }
  }
}
