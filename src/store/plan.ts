import type { PreparedQuery } from './prepared.ts';

/**
 * A store operation written once for every database: a generator that yields the
 * statements it needs, one at a time, and receives each one's answer. A driver runs it:
 * SQLite answers each step at once inside a synchronous transaction (better-sqlite3),
 * PostgreSQL awaits each on one connection between BEGIN and COMMIT. The logic (what to
 * read, what to write, when to refuse) is the plan's; how a statement runs is the driver's.
 */
export interface Step {
  /** `all`: every row; `get`: the first row, or undefined; `run`: how many rows changed. */
  mode: 'all' | 'get' | 'run';
  query: PreparedQuery<never>;
  params: unknown;
}

export type Plan<T> = Generator<Step, T, unknown>;

const step = <P>(mode: Step['mode'], query: PreparedQuery<P>, params: P): Step => ({ mode, query: query as PreparedQuery<never>, params });

export function* all<P, R>(query: PreparedQuery<P>, params: P): Plan<R[]> {
  return (yield step('all', query, params)) as R[];
}

export function* get<P, R>(query: PreparedQuery<P>, params: P): Plan<R | undefined> {
  return (yield step('get', query, params)) as R | undefined;
}

export function* run<P>(query: PreparedQuery<P>, params: P): Plan<number> {
  return (yield step('run', query, params)) as number;
}

/** Runs a plan whose steps are answered at once. */
export function driveSync<T>(plan: Plan<T>, execute: (step: Step) => unknown): T {
  let next = plan.next();
  while (!next.done) next = plan.next(execute(next.value));
  return next.value;
}

/** Runs a plan whose steps are answered later; a step that throws is thrown into the plan, as a synchronous one would be. */
export async function driveAsync<T>(plan: Plan<T>, execute: (step: Step) => Promise<unknown>): Promise<T> {
  let next = plan.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = await execute(next.value);
    } catch (error) {
      next = plan.throw(error);
      continue;
    }
    next = plan.next(answer);
  }
  return next.value;
}
