import { constants } from 'node:os';
import { parseArgs } from 'node:util';

export type BenchStore = 'sqlite' | 'postgres';

/**
 * The benchmarks' command line: --store sqlite|postgres (default sqlite) and, for a
 * benchmark that takes it, --workers N (default 0). The store reaches the gateways
 * through test/support/database.ts, which reads VIDGATE_TEST_STORE once, as it loads:
 * so this sets it, and the benchmark imports test/support only after calling this.
 *
 * Ctrl-C and SIGTERM are turned into process.exit, so that the benchmark's 'exit'
 * handlers run: no gateway, data dir or PostgreSQL schema is left behind by a stopped run.
 */
export function benchOptions(usage: string, takesWorkers = false): { store: BenchStore; workers: number } {
  const fail = (problem: string): never => {
    throw new Error(`${problem}\nusage: ${usage}`);
  };
  let values: { store: string; workers: string };
  try {
    ({ values } = parseArgs({ options: { store: { type: 'string', default: 'sqlite' }, workers: { type: 'string', default: '0' } } }));
  } catch (error) {
    return fail((error as Error).message);
  }
  const store = values.store === 'sqlite' || values.store === 'postgres' ? values.store : fail(`--store ${values.store}: sqlite or postgres`);
  const workers = Number(values.workers);
  if (!takesWorkers && values.workers !== '0') fail('--workers: not taken by this benchmark');
  if (!Number.isInteger(workers) || workers < 0) fail(`--workers ${values.workers}: a whole number, 0 or more`);
  process.env.VIDGATE_TEST_STORE = store;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(128 + constants.signals[signal]));
  return { store, workers };
}
