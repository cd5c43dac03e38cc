import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { VideoJob } from '../catalog/types.ts';
import { type Operation, type VideoProvider } from '../providers/interface.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Clock } from './clock.ts';
import type { Keeper } from './keeper.ts';

/**
 * The preview renderer's task is one long step: the runner keeps its lease while ffmpeg
 * runs, asks for progress until the render ends, then keeps the file. Upstream tasks take
 * short steps instead (upstream-step.ts).
 */
export async function renderStep(
  task: TaskRow,
  owner: string,
  signal: AbortSignal,
  deps: { store: Store; clock: Clock; log?: Logger; keeper: Keeper; renderer: VideoProvider; pollIntervalMs: number; metrics?: Metrics },
): Promise<'done' | 'stopped'> {
  const { store, clock, keeper, renderer, pollIntervalMs } = deps;
  const began = clock.now();
  const context = { taskId: task.id, job: JSON.parse(task.job) as VideoJob, signal, log: deps.log };
  let operation = task.operation ? (JSON.parse(task.operation) as Operation) : null;
  if (!operation) {
    operation = await renderer.start(context);
    signal.throwIfAborted();
    if (!(await store.markStarted(task.id, owner, JSON.stringify(operation), clock.now()))) return 'stopped';
  }
  let progress = task.progress;
  for (;;) {
    const asked = Date.now();
    const status = await renderer.status(operation, context);
    if (signal.aborted) {
      // Cancelled, deleted or stopping just as it finished: the file goes nowhere (a later runner makes it again).
      if (status.state === 'completed') await rm(status.file, { force: true });
      return 'stopped';
    }
    if (status.state === 'failed') {
      await store.settle(task.id, { kind: 'failed', owner, now: clock.now(), code: status.code, message: status.message });
      return 'done';
    }
    if (status.state === 'completed') {
      // This step's time: a render resumed after a restart started over.
      deps.metrics?.renderDuration.observe({ model: task.model }, (clock.now() - began) / 1000);
      await keeper.keepFile(task, owner, status.file);
      return 'done';
    }
    if (status.progress > progress) {
      progress = status.progress;
      if (!(await store.setProgress(task.id, owner, progress, clock.now()))) return 'stopped';
    }
    // A renderer that answers at once must not be asked again at once.
    const wait = pollIntervalMs - (Date.now() - asked);
    if (wait > 0) await delay(wait, undefined, { signal }).catch(() => undefined);
  }
}
