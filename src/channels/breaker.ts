import type { Clock } from '../tasks/clock.ts';

/**
 * A channel that keeps failing rests for a while instead of taking every task that comes:
 * after `threshold` failures in a row it opens for `restMs`; then one call is let through,
 * and its outcome closes the breaker or opens it again.
 */
export class Breaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;

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
    this.failures = 0;
    this.trial = false;
  }

  failed(): void {
    this.failures++;
    this.trial = false;
    if (this.failures >= this.threshold) this.openUntil = this.clock.now() + this.restMs;
  }
}
