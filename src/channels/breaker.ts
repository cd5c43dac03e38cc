import type { Clock } from '../tasks/clock.ts';

/** How many of the last errors a breaker keeps for the operator. */
const KEPT_ERRORS = 5;

/**
 * A channel that keeps failing rests for a while instead of taking every task that comes:
 * after `threshold` failures in a row it opens for `restMs`; then one call is let through,
 * and its outcome closes the breaker or opens it again. It also keeps the record an
 * operator reads (GET /admin/channels): calls, failures and the last few reasons.
 */
export class Breaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;
  private calls = 0;
  private failedCalls = 0;
  private readonly lastErrors: { at: number; message: string }[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly threshold = 5,
    private readonly restMs = 30_000,
  ) {}

  /** Could a call go to this channel now? Asks only: routing a task must not spend the trial call of a channel it may not call. */
  available(): boolean {
    return this.failures < this.threshold || (this.clock.now() >= this.openUntil && !this.trial);
  }

  /** Just before a call: may it go? A resting channel lets one trial call through once its rest is over. */
  acquire(): boolean {
    if (!this.available()) return false;
    if (this.failures >= this.threshold) this.trial = true;
    return true;
  }

  get open(): boolean {
    return this.failures >= this.threshold && this.clock.now() < this.openUntil;
  }

  succeeded(): void {
    this.calls++;
    this.failures = 0;
    this.trial = false;
  }

  failed(reason: string): void {
    this.calls++;
    this.failedCalls++;
    this.lastErrors.unshift({ at: this.clock.now(), message: reason });
    this.lastErrors.length = Math.min(this.lastErrors.length, KEPT_ERRORS);
    this.failures++;
    this.trial = false;
    if (this.failures >= this.threshold) this.openUntil = this.clock.now() + this.restMs;
  }

  /** `half-open`: rested, and the next call is its trial. */
  record() {
    const state = this.failures < this.threshold ? 'closed' : this.open ? 'open' : 'half-open';
    return { state, calls: this.calls, failures: this.failedCalls, lastErrors: [...this.lastErrors] } as const;
  }
}
