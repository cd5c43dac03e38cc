import type { Logger } from 'pino';
import { Unavailable } from './errors.ts';

/**
 * What a loop that works every few hundred milliseconds (claiming tasks, webhook deliveries,
 * renewing leases) says while the database or the bucket is out: once when its calls begin
 * to fail, once when they work again, and nothing in between, where it said so twice a
 * second. Any other error is logged every time.
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
