import type { Logger } from 'pino';
import { Unavailable } from './errors.ts';

/**
 * What a loop that works every few hundred milliseconds (claiming tasks, webhook deliveries,
 * renewing leases), or a client of the bucket, says while the database or the bucket is out:
 * once when its calls begin to fail, once when they work again, and nothing in between, where
 * it said so twice a second. Any other error is logged every time.
 */
export class OutageNotice {
  #out = false;

  constructor(
    private readonly log: Logger,
    /** What the loop does, as the log says it: "claiming tasks". */
    private readonly doing: string,
  ) {}

  failed(error: unknown, fields: Record<string, unknown> = {}): void {
    if (!(error instanceof Unavailable)) {
      this.log.error({ err: error, ...fields }, `${this.doing} failed`);
      return;
    }
    if (this.#out) return;
    this.#out = true;
    this.log.error({ err: error, code: error.code, ...fields }, `${this.doing} failed: ${error.code}; trying on, quietly until it works again`);
  }

  worked(): void {
    if (!this.#out) return;
    this.#out = false;
    this.log.info(`${this.doing} works again`);
  }
}

/**
 * An outage that its own notice reports, once (a worker's claims for the database, the bucket's
 * client for the bucket): a task step or a sweep that meets it need not say it again each time.
 */
export function reportedOutage(error: unknown): boolean {
  return error instanceof Unavailable && (error.code === 'database_unavailable' || error.code === 'storage_unavailable');
}
