import type { Plan } from './plan.ts';

interface Waiting {
  make: () => Plan<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** All the plans in one write transaction, in order: their answers, in the same order. */
export function* inOrder(makes: (() => Plan<unknown>)[]): Plan<unknown[]> {
  const answers: unknown[] = [];
  for (const make of makes) answers.push(yield* make());
  return answers;
}

/**
 * Group commit for task creates: write plans that arrive while the previous group is being
 * written go together in the next one, one commit for many. When a group fails (one plan
 * throws: a balance short of its hold, a limit reached), the others must not fail with it:
 * each is run again on its own, made afresh. At most `groups` groups are written at once.
 */
export class WriteBatcher {
  #waiting: Waiting[] = [];
  #writing = 0;
  #scheduled = false;

  constructor(
    /** Runs the plans in one write transaction. */
    private readonly together: (makes: (() => Plan<unknown>)[]) => Promise<unknown[]>,
    /** Runs one plan in a write transaction of its own. */
    private readonly alone: (make: () => Plan<unknown>) => Promise<unknown>,
    private readonly groups = 1,
  ) {}

  add<T>(make: () => Plan<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ make, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** The next group starts on the next turn of the event loop: what arrives until then joins it. */
  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0 || this.#writing >= this.groups) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    const group = this.#waiting;
    this.#waiting = [];
    this.#writing++;
    try {
      const answers = group.length === 1 ? null : await this.together(group.map(({ make }) => make)).catch(() => null);
      if (answers) group.forEach(({ resolve }, index) => resolve(answers[index]));
      else await Promise.all(group.map(({ make, resolve, reject }) => this.alone(make).then(resolve, reject)));
    } finally {
      this.#writing--;
      this.#schedule();
    }
  }
}
