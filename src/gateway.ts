import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { resolveAdminKey } from './auth/admin-key.ts';
import { KeyService } from './auth/keys.ts';
import { Accounts } from './billing/accounts.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { buildWorkerApp } from './http/worker-app.ts';
import { MODELS } from './catalog/models.ts';
import { UrlSigner } from './auth/signed-url.ts';
import { MediaResolver } from './net/media.ts';
import { buildChannels } from './channels/build.ts';
import { channelReport } from './channels/report.ts';
import { LocalProvider } from './providers/local/provider.ts';
import { filesFolder, openStorage } from './storage/open.ts';
import type { Operation } from './providers/interface.ts';
import { Scratch } from './scratch.ts';
import type { TaskRow } from './store/schema.ts';
import { openStore } from './store/open.ts';
import { systemClock } from './tasks/clock.ts';
import { Keeper } from './tasks/keeper.ts';
import { routeJob } from './tasks/routing.ts';
import { Runner } from './tasks/runner.ts';
import { TaskService } from './tasks/service.ts';
import { UpstreamInputs } from './tasks/upstream-inputs.ts';
import { Deliverer } from './webhooks/deliverer.ts';
import { Metrics } from './metrics/metrics.ts';
import { observedStore } from './metrics/observed-store.ts';
import { checkReadiness } from './readiness.ts';
import { OutageNotice } from './outage-notice.ts';
import { Unavailable } from './errors.ts';
import { Redis } from 'ioredis';
import { WebhookService } from './webhooks/service.ts';

export interface Gateway {
  /** The address HTTP listens on: the API, or a worker's health and metrics. */
  url: string;
  stop(): Promise<void>;
}

/** Wires config → store → storage → providers → runner → HTTP, as ROLE asks. */
export async function startGateway(config: Config, log: Logger): Promise<Gateway> {
  await mkdir(config.dataDir, { recursive: true });
  // A worker serves no polls: on PostgreSQL it need not hear of every change.
  const database = await openStore(config.database, config.dataDir, {
    readCache: config.role !== 'worker',
    onWaiting: () => log.info('waiting for another process to finish migrating the database'),
  });
  const channels = buildChannels(config.channels, systemClock);
  const metrics = new Metrics(async () => {
    const now = Date.now();
    const [gauges, webhooks] = await Promise.all([database.gauges(now), database.pendingDeliveries()]);
    return {
      ...gauges,
      due: gauges.due.map(({ lane, tasks, oldest }) => ({ lane, tasks, oldestSeconds: Math.max(0, (now - oldest) / 1000) })),
      breakers: channels.all().map((channel) => ({ channel: channel.name, state: channel.breaker.record().state })),
      webhooksPending: webhooks.pending,
      webhooksOldestDueSeconds: webhooks.oldestDueAt === null ? 0 : Math.max(0, (now - webhooks.oldestDueAt) / 1000),
    };
  }, MODELS.map((model) => model.id));
  const store = observedStore(database, metrics);
  const storage = await openStorage(config.s3, config.dataDir, log);
  // Processes sharing a database must share their files too: a folder is shared on one machine only.
  if (config.database.url !== null && config.s3 === null) {
    log.info({ files: filesFolder(config.dataDir) }, 'videos are kept in this DATA_DIR: every process on this database must use the same one, on one machine; on several machines, set S3_BUCKET');
  }
  const scratch = await Scratch.open(config.dataDir);
  const media = new MediaResolver(
    storage,
    { allowedPrivateHosts: config.allowedPrivateHosts, maxBytes: config.maxInputBytes, timeoutMs: config.fetchTimeoutSeconds * 1000 },
    scratch.folder('probes'),
  );
  const renderer = new LocalProvider({ media, workDirectory: scratch.folder('renders'), concurrency: config.renderConcurrency, log });
  const signer = new UrlSigner(await store.sharedSetting('url_signing_secret', () => randomBytes(32).toString('base64url')));
  // Links to inputs and callbacks outlive the longest an upstream may take over a task.
  const inputs = new UpstreamInputs(storage, signer, config.publicUrl, 50 * 3600_000);
  const keeper = new Keeper({
    prices: config.prices,
    creditMicros: config.viduCreditMicros,
    store,
    storage,
    clock: systemClock,
    log,
    videoTtlMs: Math.round(config.videoTtlHours * 3600 * 1000),
    guard: { allowedPrivateHosts: config.allowedPrivateHosts, maxBytes: config.maxResultBytes, timeoutMs: 10 * 60_000 },
    scratchDirectory: scratch.folder('results'),
    stillsOnKeep: config.stillsOnKeep,
  });

  const runner =
    config.role === 'api'
      ? null
      : new Runner({
          store,
          storage,
          clock: systemClock,
          log,
          keeper,
          renderer,
          upstream: channels.all().length > 0 ? { channels, inputs } : null,
          concurrency: config.runnerConcurrency,
          upstreamConcurrency: config.upstreamConcurrency,
          copyConcurrency: config.copyConcurrency,
          leaseMs: config.leaseSeconds * 1000,
          expirySweepMs: config.expirySweepSeconds * 1000,
          metrics,
        });
  // Webhooks are sent where tasks are run: a worker, or the one process that does it all.
  const deliverer =
    config.role === 'api'
      ? null
      : new Deliverer({
          store,
          clock: systemClock,
          log,
          settings: config.webhooks,
          allowedPrivateHosts: config.allowedPrivateHosts,
          onAttempt: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
        });
  const tasks = new TaskService({
    prices: config.prices,
    store,
    storage,
    media,
    clock: systemClock,
    route: (job, options) => routeJob(job, channels, inputs, options),
    onQueued: () => runner?.notify(),
    onAbandoned: (task) => {
      runner?.abandon(task.id);
      void cancelUpstream(task);
    },
  });
  /** Tells the upstream a task was cancelled or deleted, where it listens; best effort, never in the client's way. */
  const cancelUpstream = async (task: TaskRow) => {
    const channel = channels.byName(task.provider);
    if (!channel?.provider.cancel || task.operation === null) return;
    await channel.provider.cancel(JSON.parse(task.operation) as Operation, AbortSignal.timeout(30_000)).catch((error: unknown) => {
      log.warn({ task: task.id, channel: channel.name, err: error }, 'telling the upstream of a cancel failed');
    });
  };

  let app: FastifyInstance;
  let closeRedis: () => Promise<void> | undefined = () => undefined;
  const adminKey = await resolveAdminKey(config.adminKey, config.dataDir, log);
  // On a shared database, other processes keep their own DATA_DIR and so their own key:
  // /admin (and /metrics) would take a different key depending on which process answers.
  if (config.adminKey === null && config.database.url !== null) {
    log.warn('ADMIN_KEY is not set: this process uses the key in its own DATA_DIR; set one ADMIN_KEY for every process on this database');
  }
  // What every process needs to answer before it takes work (GET /readyz); an api process adds Redis.
  const needs = { database: () => store.ping(), storage: () => storage.ready() };
  if (config.role === 'worker') {
    // Its HTTP is for a load balancer, a container runtime and a scraper only (worker-app.ts).
    const readiness = () => checkReadiness(needs);
    app = buildWorkerApp({ config, log, metrics, readiness, adminKey });
  } else {
    const channelsFor = (model: string) => channels.candidates(model).map((channel) => channel.name);
    // The ioredis settings @fastify/rate-limit recommends (a dead Redis fails a check fast),
    // and no offline queue: without it a check waited for the next reconnection attempt,
    // each later than the last (creates took 0.25 s, then 0.45, … 1.25 s while Redis was down).
    // A Redis that keeps the connection and answers nothing would hold every create: a
    // command unanswered in 500 ms fails, and the create goes on uncounted. After 1 s of
    // silence the connection is dropped and made again (socketTimeout), so that creates fail
    // at once meanwhile and unanswered commands do not pile up on it for the whole outage
    // (ioredis does not give up a silent connection by itself: redis/ioredis#634).
    const redis =
      config.redisUrl === null ? null : new Redis(config.redisUrl, { connectTimeout: 500, commandTimeout: 500, socketTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    // A Redis that goes away must not take the process down: ioredis reconnects, and /readyz
    // tells. The log says it once, not at every reconnection, and once more when it is back.
    const redisOutage = new OutageNotice(log, 'counting creates in Redis');
    redis?.on('error', (error: Error) => redisOutage.failed(new Unavailable(`Redis cannot be reached: ${error.message}`, 'redis_unavailable', { cause: error })));
    redis?.on('ready', () => redisOutage.worked());
    const readiness = () =>
      checkReadiness({
        ...needs,
        ...(redis
          ? {
              redis: async () => {
                // Without an offline queue, ioredis's own word for this is "Stream isn't writeable …".
                if (redis.status !== 'ready') throw new Error(`not connected (${redis.status})`);
                await redis.ping();
              },
            }
          : {}),
      });
    closeRedis = () => redis?.quit().then(() => undefined, () => undefined);
    const channelStatus = async () => channelReport(channels, await tasks.unfinishedByChannel());
    app = await buildApp({ config, log, keys: new KeyService(store), accounts: new Accounts(store), tasks, webhooks: new WebhookService(store, systemClock, config.allowedPrivateHosts), storage, signer, adminKey, scratch, channelsFor, channelStatus, metrics, readiness, redis });
  }
  let url: string;
  try {
    url = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    // A start that failed (a port in use) leaves nothing behind.
    await app.close().catch(() => undefined);
    for (const channel of channels.all()) channel.close();
    await Promise.all([store.close(), scratch.remove(), closeRedis()]);
    storage.close();
    throw error;
  }
  runner?.start();
  deliverer?.start();
  log.info({ url, role: config.role, dataDir: config.dataDir }, 'vidgate started');

  return {
    url,
    async stop() {
      // In-flight requests get a moment to finish; a stuck upload does not hold the exit.
      const server = app.server;
      const cut = setTimeout(() => server.closeAllConnections(), 3000);
      await app.close();
      clearTimeout(cut);
      await Promise.all([runner?.stop(), deliverer?.stop()]);
      for (const channel of channels.all()) channel.close();
      await Promise.all([store.close(), scratch.remove(), closeRedis()]);
      storage.close();
    },
  };
}
