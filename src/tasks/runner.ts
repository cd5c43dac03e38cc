import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { VideoJob } from '../catalog/types.ts';
import { ProviderFailure, type Operation, type VideoProvider } from '../providers/interface.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './clock.ts';

export interface RunnerOptions {
  store: Store;
  storage: Storage;
  providers: ReadonlyMap<string, VideoProvider>;
  clock: Clock;
  log: Logger;
  concurrency: number;
  leaseMs: number;
  /** How long finished videos stay downloadable. */
  videoTtlMs: number;
  /** How often an idle runner looks for due tasks that another process queued. */
  idleMs?: number;
  /** How often the runner removes the files of expired videos. */
  expirySweepMs?: number;
  /** The least time between two status calls for one task, whatever the provider answers. */
  pollIntervalMs?: number;
  maxAttempts?: number;
}

/**
 * Drives tasks to the end. A runner claims due tasks with a lease (owner + expiry) and
 * renews it while it works; every write names the lease, so a runner that crashed, or
 * stalled past its lease, cannot overwrite the one that took over. A task is never lost:
 * an unleased or expired task is claimed again, and its saved operation lets the next
 * runner carry on instead of starting over upstream.
 */
export class Runner {
  readonly owner = `runner-${randomUUID()}`;
  private readonly active = new Map<string, AbortController>();
  private readonly stopping = new AbortController();
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly options: RunnerOptions) {}

  start(): void {
    this.loop = this.run();
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(100, this.options.leaseMs / 3));
    this.heartbeat.unref();
    this.sweeper = setInterval(() => void this.removeExpired(), this.options.expirySweepMs ?? 60_000);
    this.sweeper.unref();
  }

  /**
   * Removes the files of videos past expires_at (the content route already refuses them).
   * Idempotent, so runners in several processes may sweep alike.
   */
  private async removeExpired(): Promise<void> {
    const { store, storage, clock, log } = this.options;
    try {
      for (const { id } of await store.expiredVideos(clock.now(), 100)) {
        await storage.deletePrefix(`videos/${id}`);
        await store.forgetVideo(id, clock.now());
      }
    } catch (error) {
      log.warn({ err: error }, 'removing expired videos failed');
    }
  }

  /** A task was queued by this process: look now instead of at the next idle tick. */
  notify(): void {
    this.wake?.();
  }

  /** Stops work on a task that was cancelled or deleted, if this runner holds it. */
  abandon(id: string): void {
    this.active.get(id)?.abort(new Error('task cancelled'));
  }

  /** Stops claiming, stops the work in hand and hands those tasks back at once. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.sweeper) clearInterval(this.sweeper);
    for (const controller of this.active.values()) controller.abort();
    await this.loop;
    while (this.active.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private async run(): Promise<void> {
    const { store, clock, concurrency, leaseMs, log } = this.options;
    while (!this.stopping.signal.aborted) {
      const free = concurrency - this.active.size;
      if (free > 0) {
        try {
          const now = clock.now();
          for (const task of await store.claimDue(this.owner, now, now + leaseMs, free)) void this.drive(task);
        } catch (error) {
          log.error({ err: error }, 'claiming tasks failed');
        }
      }
      await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.idleMs ?? 500);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async renewLeases(): Promise<void> {
    const { store, clock, leaseMs, log } = this.options;
    for (const [id, controller] of this.active) {
      try {
        if (!(await store.renewLease(id, this.owner, clock.now() + leaseMs))) controller.abort(new Error('lease lost'));
      } catch (error) {
        log.warn({ err: error, task: id }, 'renewing a lease failed');
      }
    }
  }

  private async drive(task: TaskRow): Promise<void> {
    const { store, clock, log } = this.options;
    const controller = new AbortController();
    this.active.set(task.id, controller);
    const signal = controller.signal;
    try {
      const provider = this.options.providers.get(task.provider);
      if (!provider) throw new ProviderFailure('provider_unavailable', `No provider named ${task.provider} is configured`);
      const context = { taskId: task.id, job: JSON.parse(task.job) as VideoJob, signal };
      let operation = task.operation ? (JSON.parse(task.operation) as Operation) : null;
      if (!operation) {
        operation = await provider.start(context);
        signal.throwIfAborted();
        if (!(await store.markStarted(task.id, this.owner, JSON.stringify(operation), clock.now()))) return controller.abort();
      }
      let progress = task.progress;
      for (;;) {
        const asked = Date.now();
        const status = await provider.status(operation, context);
        if (signal.aborted) break;
        if (status.state === 'pending') {
          if (status.progress > progress) {
            progress = status.progress;
            if (!(await store.setProgress(task.id, this.owner, progress, clock.now()))) return controller.abort();
          }
          // A provider that answers at once must not be asked again at once.
          const wait = (this.options.pollIntervalMs ?? 500) - (Date.now() - asked);
          if (wait > 0) await delay(wait, undefined, { signal }).catch(() => undefined);
          continue;
        }
        if (status.state === 'failed') {
          await store.fail(task.id, this.owner, clock.now(), status.code, status.message);
          return;
        }
        await this.keep(task, status.file, status.seconds);
        return;
      }
      if (this.stopping.signal.aborted) await store.release(task.id, this.owner, clock.now());
    } catch (error) {
      if (signal.aborted) {
        if (this.stopping.signal.aborted) await store.release(task.id, this.owner, clock.now()).catch(() => undefined);
        return;
      }
      await this.handleError(task, error);
    } finally {
      this.active.delete(task.id);
      if (!signal.aborted) controller.abort();
      log.debug({ task: task.id }, 'runner let go of task');
    }
  }

  /** Moves the finished file into storage, then marks the task completed. */
  private async keep(task: TaskRow, file: string, outputSeconds: number): Promise<void> {
    const { store, storage, clock, videoTtlMs } = this.options;
    const key = `videos/${task.id}/video.mp4`;
    const { size } = await storage.putFile(key, file);
    const now = clock.now();
    // An edit asks for no length: it reports the one it made.
    const seconds = task.seconds ?? String(Math.round(outputSeconds));
    const kept = await store.complete(task.id, this.owner, { now, expiresAt: now + videoTtlMs, videoKey: key, videoSize: size, seconds });
    // Deleted (or taken over) while we rendered: the file has no task to belong to.
    if (!kept && !(await store.taskById(task.id))) await storage.deletePrefix(`videos/${task.id}`);
  }

  private async handleError(task: TaskRow, error: unknown): Promise<void> {
    const { store, clock, log, maxAttempts = 5 } = this.options;
    const now = clock.now();
    try {
      if (error instanceof ProviderFailure) {
        await store.fail(task.id, this.owner, now, error.code, error.message);
      } else if (task.attempts >= maxAttempts) {
        log.error({ err: error, task: task.id }, 'task failed after retries');
        await store.fail(task.id, this.owner, now, 'internal_error', 'The task failed repeatedly and was given up');
      } else {
        log.warn({ err: error, task: task.id, attempt: task.attempts }, 'task step failed; will retry');
        await store.release(task.id, this.owner, now + 1000 * 2 ** task.attempts);
      }
    } catch (storeError) {
      // The lease runs out and another runner retries.
      log.error({ err: storeError, task: task.id }, 'recording a task failure failed');
    }
  }
}
