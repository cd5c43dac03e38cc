import type { Logger } from 'pino';
import { reportedOutage } from '../outage-notice.ts';
import type { Storage } from '../storage/storage.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { taskIdTime } from './task-id.ts';

/**
 * How old an input folder with no task must be before it is removed: a create stores its
 * inputs before it saves the task, in this process or another, and takes well under this.
 */
const ORPHAN_INPUTS_AGE_MS = 10 * 60_000;

/**
 * Removes what no task needs any more: the files of videos past expires_at (the content
 * route already refuses them) with their inputs, and input folders that no task owns.
 * Idempotent, so workers in several processes may sweep alike.
 */
export class Sweeper {
  private sweeping: Promise<void> | null = null;
  /** Input folders of tasks created up to this time have been looked at once: no new orphan can appear among them. */
  private orphansCheckedTo = -Infinity;

  constructor(private readonly options: { store: Store; storage: Storage; clock: Clock; log: Logger }) {}

  /** Settles when the sweep under way (if any) is over. */
  async idle(): Promise<void> {
    await this.sweeping;
  }

  /** One sweep at a time: a slow one is not overtaken by the next tick. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      await this.removeExpired();
      await this.removeOrphanInputs();
    })().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  /** Settles expired videos, then removes their files and inputs (`inputs/<task>/`, where MediaResolver keeps them). */
  private async removeExpired(): Promise<void> {
    const { store, storage, clock, log } = this.options;
    try {
      for (const { id } of await store.expiredVideos(clock.now(), 100)) {
        // Files first: a crash between the two leaves the task listed as expired, and the next sweep finishes it.
        await storage.deletePrefix(`videos/${id}`);
        await storage.deletePrefix(`inputs/${id}`);
        await store.settle(id, { kind: 'expired', now: clock.now() });
      }
    } catch (error) {
      log[reportedOutage(error) ? 'debug' : 'warn']({ err: error }, 'removing expired videos failed');
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
      log[reportedOutage(error) ? 'debug' : 'warn']({ err: error }, 'removing orphaned inputs failed');
    }
  }
}
