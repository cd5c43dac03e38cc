import { randomUUID } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { VideoProvider } from '../providers/interface.ts';
import { OutageNotice } from '../outage-notice.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Lane, Store } from '../store/store.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Clock } from './clock.ts';
import type { Keeper } from './keeper.ts';
import { renderStep } from './render-step.ts';
import { recordFailure } from './step-failure.ts';
import { Sweeper } from './sweeper.ts';
import { upstreamStep, type UpstreamStepDeps } from './upstream-step.ts';

export interface RunnerOptions {
  store: Store;
  storage: Storage;
  clock: Clock;
  log: Logger;
  keeper: Keeper;
  /** The preview renderer, for every model no channel serves. */
  renderer: VideoProvider;
  /** Channels and input links for upstream tasks; null when no channel is configured. */
  upstream: Pick<UpstreamStepDeps, 'channels' | 'inputs'> | null;
  /** Preview renders this runner holds at once (each waits for a render slot of the renderer). */
  concurrency: number;
  /** Upstream steps (a submit, a check) this runner runs at once. */
  upstreamConcurrency?: number;
  /** Finished upstream results (a download, a probe, a store) this runner copies at once. */
  copyConcurrency?: number;
  leaseMs: number;
  /** How often an idle runner looks for due tasks that another process queued. */
  idleMs?: number;
  /** How often the runner removes the files of expired videos, and inputs that no task owns. */
  expirySweepMs?: number;
  /** The least time between two status calls for one render, whatever the renderer answers. */
  pollIntervalMs?: number;
  /** Failed steps after which a task is given up. */
  maxAttempts?: number;
  /**
   * Times a task may be lost with its worker (killed, crashed, stalled past its lease)
   * while it ran; claimed again after that, it fails as worker_crashed instead of running.
   */
  maxLostClaims?: number;
  metrics?: Metrics;
}

/**
 * Why a step's signal fires once the step is over (what it started must stop): one Error for
 * every step: `abort()` with no reason makes a DOMException, stack and all, for each, which
 * was 7% of the CPU of a status check in a profile of the upstream fetch.
 */
const STEP_OVER = new Error('the step is over');

/**
 * Drives tasks to the end. A runner claims due tasks with a lease (owner + expiry) and
 * renews it while it works; every write names the lease, so a runner that crashed, or
 * stalled past its lease, cannot overwrite the one that took over. Two lanes: a preview
 * render is one long step held until it ends; an upstream task is a series of short steps
 * (submit, check, check, …, keep the result), each claimed when due and let go at once,
 * so thousands of upstream tasks are followed with a few dozen steps in flight.
 */
export class Runner {
  readonly owner = `runner-${randomUUID()}`;
  /** Every task this runner holds, and where: its lease is renewed until it is let go. */
  private readonly active = new Map<string, { controller: AbortController; lane: Lane | 'copy' }>();
  private readonly copies: LimitFunction;
  private readonly stopping = new AbortController();
  private readonly sweeper: Sweeper;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly claiming: OutageNotice;
  private readonly renewing: OutageNotice;
  private renewal: Promise<void> | null = null;

  constructor(private readonly options: RunnerOptions) {
    this.sweeper = new Sweeper(options);
    this.copies = pLimit(options.copyConcurrency ?? 32);
    this.claiming = new OutageNotice(options.log, 'claiming tasks');
    this.renewing = new OutageNotice(options.log, 'renewing leases');
  }

  start(): void {
    this.loop = this.run();
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(100, this.options.leaseMs / 3));
    this.heartbeat.unref();
    // At once too: a crash before this start may have left files behind.
    void this.sweeper.sweep();
    this.sweepTimer = setInterval(() => void this.sweeper.sweep(), this.options.expirySweepMs ?? 60_000);
    this.sweepTimer.unref();
  }

  /** A task was queued (or called back on) in this process: look now instead of at the next idle tick. */
  notify(): void {
    this.wake?.();
  }

  /** Stops work on a task that was cancelled or deleted, if this runner holds it. */
  abandon(id: string): void {
    this.active.get(id)?.controller.abort(new Error('task cancelled'));
  }

  /** Stops claiming, stops the work in hand and hands those tasks back at once. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const { controller } of this.active.values()) controller.abort();
    await this.loop;
    while (this.active.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    // The store closes after us.
    await this.sweeper.idle();
  }

  private capacity(lane: Lane): number {
    if (lane === 'local') return this.options.concurrency;
    if (!this.options.upstream) return 0;
    const steps = this.options.upstreamConcurrency ?? 64;
    // Copies waiting for their pool hold their tasks' leases: past a bound, leave the next
    // checks to other runners (or to later) rather than hoard finished tasks.
    return this.copies.pendingCount >= steps * 4 ? 0 : steps;
  }

  private running(lane: Lane | 'copy'): number {
    let count = 0;
    for (const entry of this.active.values()) if (entry.lane === lane) count++;
    return count;
  }

  private async run(): Promise<void> {
    const { store, clock, leaseMs } = this.options;
    while (!this.stopping.signal.aborted) {
      for (const lane of ['local', 'upstream'] as const) {
        const free = this.capacity(lane) - this.running(lane);
        if (free <= 0) continue;
        try {
          const now = clock.now();
          for (const task of await store.claimDue(lane, this.owner, now, now + leaseMs, free)) {
            // Our own lease ran out before the heartbeat renewed it: the claim renewed it, and the work goes on as it was.
            if (!this.active.has(task.id)) void this.drive(task, lane);
          }
          this.claiming.worked();
        } catch (error) {
          this.claiming.failed(error, { lane });
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

  /**
   * Every lease this runner holds, renewed in one go: renewed one by one, a runner holding
   * hundreds of tasks on a loaded machine fell behind its leases, and others took over
   * tasks it was still running (the soak on PostgreSQL). One heartbeat at a time.
   */
  private async renewLeases(): Promise<void> {
    if (this.renewal) return;
    const { store, clock, leaseMs } = this.options;
    const held = [...this.active];
    this.renewal = store.renewLeases(held.map(([id]) => id), this.owner, clock.now() + leaseMs).then(
      (renewed) => {
        for (const [id, { controller }] of held) if (!renewed.has(id)) controller.abort(new Error('lease lost'));
        this.renewing.worked();
      },
      (error: unknown) => this.renewing.failed(error, { tasks: held.length }),
    );
    await this.renewal;
    this.renewal = null;
  }

  private async drive(task: TaskRow, lane: Lane): Promise<void> {
    const { store, clock, keeper, renderer, upstream, maxAttempts = 5, metrics } = this.options;
    // Every line about the task carries the id of the request that created it.
    const log = task.request_id === null ? this.options.log : this.options.log.child({ request: task.request_id });
    const controller = new AbortController();
    this.active.set(task.id, { controller, lane });
    const signal = controller.signal;
    const deps = { store, clock, log, keeper, maxAttempts, metrics };
    try {
      if (await this.giveUpLost(task)) return;
      if (lane === 'upstream' && upstream) {
        metrics?.trackingLag.observe(Math.max(0, clock.now() - task.run_after) / 1000);
        const copy = await upstreamStep(task, this.owner, signal, { ...deps, ...upstream });
        if (copy) {
          this.active.set(task.id, { controller, lane: 'copy' });
          this.wakeForSteps();
          await this.copies(copy);
        }
      } else {
        const outcome = await renderStep(task, this.owner, signal, { ...deps, renderer, pollIntervalMs: this.options.pollIntervalMs ?? 500 });
        if (outcome === 'stopped' && this.stopping.signal.aborted) await store.release(task.id, this.owner, clock.now());
      }
    } catch (error) {
      if (signal.aborted) {
        if (this.stopping.signal.aborted) await store.release(task.id, this.owner, clock.now()).catch(() => undefined);
        return;
      }
      await recordFailure(task, this.owner, error, deps);
    } finally {
      this.active.delete(task.id);
      if (!signal.aborted) controller.abort(STEP_OVER);
      log.debug({ task: task.id }, 'runner let go of task');
      if (lane === 'upstream') this.wakeForSteps();
    }
  }

  /** Upstream steps are short: once half their lane is free, claim the next due ones without waiting for the idle tick. */
  private wakeForSteps(): void {
    if (this.running('upstream') <= this.capacity('upstream') / 2) this.wake?.();
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
    await store.settle(task.id, { kind: 'failed', owner: this.owner, now: clock.now(), code: 'worker_crashed', message });
    return true;
  }
}
