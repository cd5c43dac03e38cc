import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { resolveAdminKey } from './auth/admin-key.ts';
import { KeyService } from './auth/keys.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { UrlSigner } from './http/signed-url.ts';
import { MediaResolver } from './net/media.ts';
import type { VideoProvider } from './providers/interface.ts';
import { LocalProvider } from './providers/local/provider.ts';
import { LocalStorage } from './storage/local.ts';
import { Scratch } from './scratch.ts';
import { openSqliteStore } from './store/sqlite.ts';
import { systemClock } from './tasks/clock.ts';
import { Runner } from './tasks/runner.ts';
import { TaskService } from './tasks/service.ts';

export interface Gateway {
  /** The address HTTP listens on, when this role serves HTTP. */
  url: string | null;
  stop(): Promise<void>;
}

/** Wires config → store → storage → providers → runner → HTTP, as ROLE asks. */
export async function startGateway(config: Config, log: Logger): Promise<Gateway> {
  await mkdir(config.dataDir, { recursive: true });
  const store = await openSqliteStore(path.join(config.dataDir, 'vidgate.db'));
  const storage = new LocalStorage(path.join(config.dataDir, 'files'));
  const scratch = await Scratch.open(config.dataDir);
  const media = new MediaResolver(
    storage,
    { allowedPrivateHosts: config.allowedPrivateHosts, maxBytes: config.maxInputBytes, timeoutMs: config.fetchTimeoutSeconds * 1000 },
    scratch.folder('probes'),
  );
  const local = new LocalProvider({ media, workDirectory: scratch.folder('renders'), concurrency: config.renderConcurrency, log });
  const providers = new Map<string, VideoProvider>([[local.name, local]]);

  const runner =
    config.role === 'api'
      ? null
      : new Runner({
          store,
          storage,
          providers,
          clock: systemClock,
          log,
          concurrency: config.runnerConcurrency,
          leaseMs: config.leaseSeconds * 1000,
          videoTtlMs: config.videoTtlHours * 3600 * 1000,
          expirySweepMs: config.expirySweepSeconds * 1000,
        });
  const tasks = new TaskService({
    store,
    storage,
    media,
    clock: systemClock,
    providerFor: () => local.name,
    onQueued: () => runner?.notify(),
    onAbandoned: (id) => runner?.abandon(id),
  });

  let app: FastifyInstance | null = null;
  let url: string | null = null;
  if (config.role !== 'worker') {
    const adminKey = await resolveAdminKey(config.adminKey, config.dataDir, log);
    const secret = await store.sharedSetting('url_signing_secret', () => randomBytes(32).toString('base64url'));
    app = await buildApp({ config, log, keys: new KeyService(store), tasks, storage, signer: new UrlSigner(secret), adminKey, scratch });
    try {
      url = await app.listen({ port: config.port, host: config.host });
    } catch (error) {
      // A start that failed (a port in use) leaves nothing behind.
      await app.close().catch(() => undefined);
      await Promise.all([store.close(), scratch.remove()]);
      throw error;
    }
  }
  runner?.start();
  log.info({ url, role: config.role, dataDir: config.dataDir }, 'vidgate started');

  return {
    url,
    async stop() {
      if (app) {
        // In-flight requests get a moment to finish; a stuck upload does not hold the exit.
        const server = app.server;
        const cut = setTimeout(() => server.closeAllConnections(), 3000);
        await app.close();
        clearTimeout(cut);
      }
      await runner?.stop();
      await Promise.all([store.close(), scratch.remove()]);
    },
  };
}
