import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { VideoJob } from '../catalog/types.ts';
import { ProviderFailure, type Operation, type VideoProvider } from '../providers/interface.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import { type MediaInfo, probeMedia } from '../media/ffmpeg.ts';
import type { Clock } from './clock.ts';
import { taskIdTime } from './service.ts';

/**
 * How old an input folder with no task must be before it is removed: a create stores its
 * inputs before it saves the task, in this process or another, and takes well under this.
 */
const ORPHAN_INPUTS_AGE_MS = 10 * 60_000;

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
  /** How often the runner removes the files of expired videos, and inputs that no task owns. */
  expirySweepMs?: number;
  /** The least time between two status calls for one task, whatever the provider answers. */
  pollIntervalMs?: number;
  /** Failed steps after which a task is given up. */
  maxAttempts?: number;
  /**
   * Times a task may be lost with its worker (killed, crashed, stalled past its lease)
   * while it ran; claimed again after that, it fails as worker_crashed instead of running.
   */
  maxLostClaims?: number;
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
  private sweeping: Promise<void> | null = null;
  /** Input folders of tasks created up to this time have been looked at once: no new orphan can appear among them. */
  private orphansCheckedTo = -Infinity;

  constructor(private readonly options: RunnerOptions) {}

  start(): void {
    this.loop = this.run();
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(100, this.options.leaseMs / 3));
    this.heartbeat.unref();
    // At once too: a crash before this start may have left inputs behind.
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), this.options.expirySweepMs ?? 60_000);
    this.sweeper.unref();
  }

  /** One sweep at a time: a slow one is not overtaken by the next tick. */
  private sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      await this.removeExpired();
      await this.removeOrphanInputs();
    })().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  /**
   * Removes the files of videos past expires_at (the content route already refuses them),
   * and their inputs (`inputs/<task>/`, where MediaResolver keeps them: src/net/media.ts).
   * Idempotent, so runners in several processes may sweep alike.
   */
  private async removeExpired(): Promise<void> {
    const { store, storage, clock, log } = this.options;
    try {
      for (const { id } of await store.expiredVideos(clock.now(), 100)) {
        await storage.deletePrefix(`videos/${id}`);
        await storage.deletePrefix(`inputs/${id}`);
        await store.forgetVideo(id, clock.now());
      }
    } catch (error) {
      log.warn({ err: error }, 'removing expired videos failed');
    }
  }

  /**
   * Removes input folders whose task does not exist: a create stores its inputs, then saves
   * the task, and a crash in between leaves the inputs to no one. A folder is looked at only
   * once its task id (which leads with the creation time) is old enough that no create can
   * still be saving it, here or in another process.
   */
  private async removeOrphanInputs(): Promise<void> {
    const { store, storage, clock, log } = this.options;
    const cutoff = clock.now() - ORPHAN_INPUTS_AGE_MS;
    try {
      for (const name of await storage.children('inputs')) {
        const created = taskIdTime(name);
        if (created === null || created > cutoff || created <= this.orphansCheckedTo) continue;
        if (await store.taskById(name)) continue;
        await storage.deletePrefix(`inputs/${name}`);
        log.info({ task: name }, 'removed inputs that no task owns');
      }
      this.orphansCheckedTo = cutoff;
    } catch (error) {
      log.warn({ err: error }, 'removing orphaned inputs failed');
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
    // The store closes after us.
    await this.sweeping;
  }

  private async run(): Promise<void> {
    const { store, clock, concurrency, leaseMs, log } = this.options;
    while (!this.stopping.signal.aborted) {
      const free = concurrency - this.active.size;
      if (free > 0) {
        try {
          const now = clock.now();
          for (const task of await store.claimDue(this.owner, now, now + leaseMs, free)) {
            // Our own lease ran out before the heartbeat renewed it: the claim renewed it, and the work goes on as it was.
            if (!this.active.has(task.id)) void this.drive(task);
          }
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
      if (await this.giveUpLost(task)) return;
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
        if (signal.aborted) {
          // Cancelled, deleted or stopping just as it finished: the file goes nowhere (a later runner makes it again).
          if (status.state === 'completed') await rm(status.file, { force: true });
          break;
        }
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
        await this.keep(task, status.file);
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

  /**
   * Measures the finished file, moves it into storage, then marks the task completed. The
   * task reports what it serves: `seconds` is the file's own length (an edit asks for
   * none, an extension's is the input plus the new part), and `size` the frame when the
   * client named none.
   */
  private async keep(task: TaskRow, file: string): Promise<void> {
    const { store, storage, clock, videoTtlMs } = this.options;
    const key = `videos/${task.id}/video.mp4`;
    let size: number;
    let output: { seconds: string; size: string };
    try {
      output = await measure(file);
      ({ size } = await storage.putFile(key, file));
    } finally {
      // Moved, or failed to be: either way no one else will take the local file.
      await rm(file, { force: true });
    }
    const now = clock.now();
    const result = { now, expiresAt: now + videoTtlMs, videoKey: key, videoSize: size, seconds: output.seconds, size: task.size ?? output.size };
    if (await store.complete(task.id, this.owner, result)) return;
    // Deleted, cancelled or failed while we stored it: the file belongs to no video. A runner
    // that took the task over (still running, or completed) writes this same key: leave it.
    const current = await store.taskById(task.id);
    if (!current || current.status === 'cancelled' || current.status === 'failed') await storage.deletePrefix(`videos/${task.id}`);
  }

  /**
   * A task that was running each time its worker went away may be what takes the worker
   * down (an input that crashes the process): claimed once more after the bound, it fails
   * instead of bringing down this worker too.
   */
  private async giveUpLost(task: TaskRow): Promise<boolean> {
    const { store, clock, log, maxLostClaims = 3 } = this.options;
    // While running, `claims` counts ours too.
    const lost = task.status === 'in_progress' ? task.claims - 1 : 0;
    if (lost < maxLostClaims) {
      if (lost > 0) log.warn({ task: task.id, lost }, 'task was running when its worker went away; running it again');
      return false;
    }
    log.error({ task: task.id, lost, code: 'worker_crashed' }, 'task lost its worker too often; failed instead of run again');
    const message = `The worker running this task stopped without finishing it ${lost} times (crashed, killed or stalled); it is not run again`;
    await store.fail(task.id, this.owner, clock.now(), 'worker_crashed', message);
    return true;
  }

  private async handleError(task: TaskRow, error: unknown): Promise<void> {
    const { store, clock, log, maxAttempts = 5 } = this.options;
    const now = clock.now();
    const failures = task.attempts + 1;
    try {
      if (error instanceof ProviderFailure) {
        await store.fail(task.id, this.owner, now, error.code, error.message);
      } else if (failures >= maxAttempts) {
        log.error({ err: error, task: task.id }, 'task failed after retries');
        await store.fail(task.id, this.owner, now, 'internal_error', 'The task failed repeatedly and was given up');
      } else {
        log.warn({ err: error, task: task.id, attempt: failures }, 'task step failed; will retry');
        await store.retry(task.id, this.owner, now + 1000 * 2 ** failures);
      }
    } catch (storeError) {
      // The lease runs out and another runner retries.
      log.error({ err: storeError, task: task.id }, 'recording a task failure failed');
    }
  }
}

/** What a finished file is, as the task reports it: whole seconds (at least 1) and WIDTHxHEIGHT. */
async function measure(file: string): Promise<{ seconds: string; size: string }> {
  let info: MediaInfo;
  try {
    info = await probeMedia(file);
  } catch {
    throw new ProviderFailure('invalid_output', 'The finished video could not be read back');
  }
  if (!(info.duration > 0)) throw new ProviderFailure('invalid_output', 'The finished video has no length');
  return { seconds: String(Math.max(1, Math.round(info.duration))), size: `${info.width}x${info.height}` };
}
