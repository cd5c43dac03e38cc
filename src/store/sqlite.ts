import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrations } from './migrations.ts';
import { driveSync, type Plan, type Step } from './plan.ts';
import { buildStatements, type Driver, type Isolation } from './planned-store.ts';
import { CachedStore, ReadCache } from './read-cache.ts';
import type { Database } from './schema.ts';
import type { Store } from './store.ts';

/** The embedded default: one SQLite file in WAL mode, shared safely by several processes. */
export async function openSqliteStore(file: string): Promise<Store> {
  mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // Another process (api, worker, CLI) may hold the write lock for a moment.
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  // Kysely's SQLite adapter takes no lock for migrations (kysely-org/kysely#729): processes
  // starting together on a new file would all migrate it, and all but one fail. One write
  // transaction around the whole run makes the others wait for it, then find nothing to do;
  // it also makes the run all or nothing.
  sqlite.exec('BEGIN IMMEDIATE');
  const { error, results } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  sqlite.exec(error ? 'ROLLBACK' : 'COMMIT');
  if (error) throw new Error(`database migration failed: ${String(results?.find((r) => r.status === 'Error')?.migrationName ?? error)}`);
  return new SqliteStore(sqlite, db);
}

/** A prepared statement and whether running it may change rows. */
interface Compiled {
  statement: BetterSqlite3.Statement;
  writes: boolean;
}

/**
 * Runs plans on one better-sqlite3 connection: every step is answered at once, so a plan
 * runs whole inside one synchronous transaction (`write`: BEGIN IMMEDIATE). Statements are
 * prepared once per SQL text. After every statement that may write (SQLite's own answer,
 * Statement.readonly) `onWrite` is told, also when it throws: a statement that failed
 * part-way through a transaction may still have changed rows.
 */
class SqliteDriver implements Driver {
  readonly #statements = new Map<string, Compiled>();
  /** One group of creates at a time: SQLite has one writer, and a group waits on no round trip. */
  readonly groups = 1;
  onWrite = () => {};

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly db: Kysely<Database>,
  ) {
    this.#inTransaction = sqlite.transaction((plan: Plan<unknown>) => this.#drive(plan));
  }

  #execute(step: Step): unknown {
    let compiled = this.#statements.get(step.query.sql);
    if (!compiled) {
      const statement = this.sqlite.prepare(step.query.sql);
      compiled = { statement, writes: !statement.readonly };
      this.#statements.set(step.query.sql, compiled);
    }
    const values = step.query.bind(step.params as never);
    try {
      if (step.mode === 'all') return compiled.statement.all(...values);
      if (step.mode === 'get') return compiled.statement.get(...values);
      return compiled.statement.run(...values).changes;
    } finally {
      if (compiled.writes) this.onWrite();
    }
  }

  readonly #inTransaction: BetterSqlite3.Transaction<(plan: Plan<unknown>) => unknown>;

  #drive<T>(plan: Plan<T>): T {
    return driveSync(plan, (step) => this.#execute(step));
  }

  /** Runs a plan now. */
  run<T>(plan: Plan<T>, isolation: Isolation): T {
    if (isolation === 'statement') return this.#drive(plan);
    return (isolation === 'write' ? this.#inTransaction.immediate(plan) : this.#inTransaction.deferred(plan)) as T;
  }

  async transact<T>(make: () => Plan<T>, isolation: Isolation): Promise<T> {
    // SQLite takes its write lock at BEGIN IMMEDIATE: a transaction is never given up half-way.
    return this.run(make(), isolation);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/**
 * Polls dominate a gateway's traffic and read the same two rows (the key, the task) again
 * and again, so the SQLite store keeps a cache of them (read-cache.ts) that is never stale:
 * it is dropped after every statement that writes through this connection (the driver tells
 * it, from the one place statements run, so no method can forget), and whenever PRAGMA
 * data_version says another process committed (checked at most once a millisecond). Task
 * inserts that arrive together are committed together.
 *
 * Its own members are #private so that the object's methods are exactly the Store's
 * (test/store.test.ts holds every writing method to the rule above).
 */
class SqliteStore extends CachedStore {
  constructor(sqlite: BetterSqlite3.Database, db: Kysely<Database>) {
    const driver = new SqliteDriver(sqlite, db);
    const dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
    let seenVersion = -1;
    let checkedAt = 0;
    const cache = new ReadCache(() => {
      // Another connection committed since we last looked: what we hold may be old.
      const now = Date.now();
      if (now !== checkedAt) {
        checkedAt = now;
        const version = dataVersion.get() as number;
        if (version !== seenVersion) {
          seenVersion = version;
          cache.forgetAll();
        }
      }
      return true;
    });
    driver.onWrite = () => cache.forgetAll();
    super(driver, buildStatements(db), cache);
  }

}
