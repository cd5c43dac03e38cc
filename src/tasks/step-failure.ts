import type { Logger } from 'pino';
import { Unavailable } from '../errors.ts';
import { reportedOutage } from '../outage-notice.ts';
import { ProviderFailure } from '../providers/interface.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { PassingFailure } from './passing-failure.ts';
import { nextCheckDelay, retryDelay } from './schedule.ts';

/**
 * How long a task waits for our own storage or database to come back (Unavailable) before it
 * fails with that code: an outage is not the task's fault, and costs it no attempt.
 */
export const OUTAGE_WAIT_MS = 30 * 60_000;

/**
 * What a failed step means for its task: a ProviderFailure ends it with its code; an outage
 * of our own (Unavailable) hands it back to be tried again later, up to OUTAGE_WAIT_MS;
 * anything else is tried again with backoff, counting a failed attempt, until `maxAttempts`,
 * when the task fails (with a PassingFailure's own code, else internal_error).
 */
export async function recordFailure(
  task: TaskRow,
  owner: string,
  error: unknown,
  deps: { store: Store; clock: Clock; log: Logger; maxAttempts: number },
): Promise<void> {
  const { store, clock, log, maxAttempts } = deps;
  const now = clock.now();
  try {
    if (error instanceof ProviderFailure) {
      log.info({ task: task.id, code: error.code, detail: error.detail ?? undefined }, 'task failed');
      await store.settle(task.id, { kind: 'failed', owner, now, code: error.code, message: error.message });
      return;
    }
    if (error instanceof Unavailable) {
      const age = now - task.created_at;
      if (age < OUTAGE_WAIT_MS) {
        // The database's and the bucket's outages are said once, by their own notices (outage-notice.ts).
        log[reportedOutage(error) ? 'debug' : 'warn']({ err: error, task: task.id, code: error.code }, 'task step waits for an outage to end; will retry');
        // Young tasks look again often, old ones less (2 to 30 s), as upstream checks do.
        await store.release(task.id, owner, now + nextCheckDelay(age));
        return;
      }
      log.error({ err: error, task: task.id, code: error.code }, 'task failed: an outage outlasted its wait');
      await store.settle(task.id, { kind: 'failed', owner, now, code: error.code, message: `The task waited ${OUTAGE_WAIT_MS / 60_000} minutes for an outage to end (${error.code}) and was given up` });
      return;
    }
    const failures = task.attempts + 1;
    if (failures >= maxAttempts) {
      const passing = error instanceof PassingFailure ? error : null;
      log.error({ err: error, task: task.id }, 'task failed after retries');
      const [code, message] = passing ? [passing.code, passing.message] : ['internal_error', 'The task failed repeatedly and was given up'];
      await store.settle(task.id, { kind: 'failed', owner, now, code, message });
      return;
    }
    log.warn({ err: error, task: task.id, attempt: failures }, 'task step failed; will retry');
    // A submission that began keeps its mark, also one that began after `task` was read: the
    // next try knows its outcome is unknown, and does not send it again.
    await store.retry(task.id, owner, now + retryDelay(failures));
  } catch (storeError) {
    // The lease runs out and another runner retries.
    log.error({ err: storeError, task: task.id }, 'recording a task failure failed');
  }
}
