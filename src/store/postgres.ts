import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { Unavailable } from '../errors.ts';
import { isUnreachable } from '../net/unreachable.ts';
import { migrations } from './migrations.ts';
import { driveAsync, type Plan, type Step } from './plan.ts';
import { ChangeListener } from './change-listener.ts';
import { ChangeNotices, GATEWAY_APPLICATION_NAME } from './change-notices.ts';
import { buildStatements, type Driver, type Isolation, type Statements } from './planned-store.ts';
import { type CachedTable, CachedStore, ReadCache } from './read-cache.ts';
import type { Database } from './schema.ts';
import type { Store } from './store.ts';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** The schema the tables live in (made if missing): one database may hold several gateways, or a test file each. */
  schema?: string;
  /** Connections this process keeps open at most. */
  poolSize?: number;
  /** How long a connection or a statement may wait for the server before it is given up as unreachable (DATABASE_TIMEOUT_SECONDS). */
  timeoutMs?: number;
  /**
   * Keep the poll reads in memory, told of changes by one more connection that listens for
   * them. A process that serves no polls (a worker, the CLI) reads the database instead, and
   * is spared every task's change notice.
   */
  readCache?: boolean;
  /** Called once if another process is migrating the schema, which this one waits for. */
  onWaiting?: () => void;
}

/** 64-bit integers (times in ms, money in micro-dollars, counts) and sums come back as numbers: they stay below 2^53. */
const INT8 = 20;
const NUMERIC = 1700;
export const types = {
  getTypeParser: ((oid: number, format?: string) =>
    (oid === INT8 || oid === NUMERIC) && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as never)) as typeof pg.types.getTypeParser,
};

/** A statement prepared on the connections, and which cached rows running it may change. */
interface Prepared {
  name: string;
  /**
   * The cached table whose rows it changes or deletes, and where their ids are read: the
   * rows it returns, or its `id` (or `keyId`) parameter. Only an UPDATE or DELETE of a key
   * or a task can change a row a cache holds: a new row is in none (a cache keeps only rows
   * it found), and no other table is cached.
   */
  announces: { table: CachedTable; idsFrom: 'rows' | 'params' } | null;
}

/**
 * A statement that sets a key's balance and nothing else (a debit or credit): no cached row
 * holds a balance (ActiveKey, store.ts), so it changes none, and a metered key is not read
 * again after every hold. Anything more in its SET list, and it is announced.
 */
const BALANCE_ONLY = /^\s*update\s+"api_keys"\s+set\s+"balance"\s*=\s*"balance"\s*[-+]\s*\$\d+\s+where\b/i;

function prepared(sql: string): Prepared {
  const name = `q${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
  const table = BALANCE_ONLY.test(sql) ? undefined : (/^\s*(?:update|delete\s+from)\s+"(tasks|api_keys)"/i.exec(sql)?.[1] as CachedTable | undefined);
  const idsFrom = /\breturning\s+(?:\*|(?:"\w+"\.)?"id")/i.test(sql) ? 'rows' : 'params';
  return { name, announces: table ? { table, idsFrom } : null };
}

/** The ids of the rows a statement changed (see Prepared). */
function changedIds(step: Step, rows: { id?: unknown }[], idsFrom: 'rows' | 'params'): string[] {
  if (idsFrom === 'rows') return rows.map((row) => String(row.id));
  return [paramId(step)];
}

/** The row a statement names by its parameters; a statement that names none cannot be announced, and must not run. */
function paramId(step: Step): string {
  const params = step.params as { id?: unknown; keyId?: unknown };
  const id = params.id ?? params.keyId;
  if (typeof id !== 'string') throw new Error(`a change to a cached table must name its row (an id parameter, or RETURNING *): ${step.query.sql}`);
  return id;
}

/** A write transaction PostgreSQL gave up (serialization failure, deadlock) is run again from the start, this many times at most. */
const MAX_TRIES = 8;
const RETRYABLE = new Set(['40001', '40P01']);

/** SQLSTATEs of a server that cannot take the connection or is going away (class 08: connection exceptions). */
const GONE_STATE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;
/** What node-postgres and its pool say of a connection that ended or could not be made (they give no code). */
const GONE_MESSAGE = /^(Connection terminated|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect|timeout expired|Query read timeout)/;

/**
 * The database cannot be reached (restarting, down, the network): the client is told 503 and
 * to try again, not a 500. Whether a write whose connection broke off was committed is not
 * known: a create says so (TaskService.commit).
 */
function unreachable(error: unknown): Unavailable | null {
  const code = (error as { code?: unknown } | null)?.code;
  const gone = isUnreachable(error) || (typeof code === 'string' ? GONE_STATE.test(code) : error instanceof Error && GONE_MESSAGE.test(error.message));
  if (!gone) return null;
  return new Unavailable('The database cannot be reached now; try again', 'database_unavailable', { cause: error });
}

/**
 * Runs plans on a pool of connections. A single statement runs on any connection; a
 * snapshot in a REPEATABLE READ READ ONLY transaction; a write in a SERIALIZABLE one, so
 * that each plan sees the database as if it ran alone (what SQLite's single writer gives
 * by construction); when PostgreSQL gives one up for a conflict, the plan is made and run
 * again. Statements are prepared once per connection, named by their text. `onChanged` is
 * told of each key and task row a statement changed, at once and again when its
 * transaction commits (a read between the two may have kept the row as it was); the other
 * processes are told by ChangeNotices once it is committed.
 */
class PostgresDriver implements Driver {
  readonly #prepared = new Map<string, Prepared>();
  /** Groups of checks written at once: each waits on round trips, not on the CPU. */
  readonly groups = 2;
  onChanged: (table: CachedTable, id: string) => void = () => {};

  constructor(
    private readonly pool: pg.Pool,
    private readonly notices: ChangeNotices,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Runs one step; `changed` is told of each key and task row it changed (a failed statement
   * changed nothing: PostgreSQL undoes it, and its transaction with it).
   */
  async #execute(on: pg.Pool | pg.PoolClient, step: Step, changed: (table: CachedTable, id: string) => Promise<void> | void): Promise<unknown> {
    let statement = this.#prepared.get(step.query.sql);
    if (statement === undefined) this.#prepared.set(step.query.sql, (statement = prepared(step.query.sql)));
    if (statement.announces?.idsFrom === 'params') paramId(step);
    const result = await on.query({ name: statement.name, text: step.query.sql, values: step.query.bind(step.params as never) });
    if (statement.announces && result.rowCount) {
      const told: (Promise<void> | void)[] = [];
      for (const id of changedIds(step, result.rows, statement.announces.idsFrom)) {
        this.onChanged(statement.announces.table, id);
        told.push(changed(statement.announces.table, id));
      }
      // A statement that commits as it runs answers once its notices are sent (change-notices.ts).
      await Promise.all(told);
    }
    if (step.mode === 'all') return result.rows;
    if (step.mode === 'get') return result.rows[0];
    return result.rowCount ?? 0;
  }

  async transact<T>(make: () => Plan<T>, isolation: Isolation): Promise<T> {
    try {
      return await this.#transact(make, isolation);
    } catch (error) {
      throw unreachable(error) ?? error;
    }
  }

  async #transact<T>(make: () => Plan<T>, isolation: Isolation): Promise<T> {
    // One statement commits as it runs: its changes are announced at once.
    const announceNow = (table: CachedTable, id: string) => this.notices.changed(table, id);
    if (isolation === 'statement') return driveAsync(make(), (step) => this.#execute(this.pool, step, announceNow));
    const begin = isolation === 'write' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
    for (let tries = 1; ; tries++) {
      const client = await this.pool.connect();
      const changed: [CachedTable, string][] = [];
      let result: T;
      try {
        await client.query(begin);
        result = await driveAsync(make(), (step) =>
          this.#execute(client, step, (table, id) => {
            changed.push([table, id]);
          }),
        );
        await client.query('COMMIT');
      } catch (error) {
        // A connection that went silent is dropped, not lent again halfway through this
        // transaction: a ROLLBACK would wait as long again, and PostgreSQL rolls back the
        // transaction of a connection that ends.
        if (unreachable(error)) {
          client.release(error as Error);
          throw error;
        }
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
        const code = (error as { code?: string }).code;
        if (code === undefined || !RETRYABLE.has(code)) throw error;
        // Nothing was written: the caller may ask again, and should be told so, not given a 500.
        if (tries >= MAX_TRIES) throw new Unavailable(`The database gave up this write ${MAX_TRIES} times for conflicting ones; try again`, 'database_busy', { cause: error });
        // Both sides of a conflict retry: a random wait keeps them from meeting again.
        await delay(Math.random() * 5 * tries);
        continue;
      }
      client.release();
      // What was read between the change and this commit may have been kept as it was before it;
      // the transaction answers once its notices are sent (change-notices.ts).
      await Promise.all(
        changed.map(([table, id]) => {
          this.onChanged(table, id);
          return this.notices.changed(table, id);
        }),
      );
      return result;
    }
  }

  async close(): Promise<void> {
    await this.notices.flush();
    // The pool, not Kysely's destroy(): Kysely ends a pool only once it has run a query on it
    // itself, and here it only compiles the statements; the driver runs them on the pool.
    // An idle connection says goodbye and waits for the server's: a silent server would hold
    // a stopping process for ever.
    await Promise.race([this.pool.end(), delay(this.timeoutMs, undefined, { ref: false })]);
  }
}

/** A store on PostgreSQL: the same plans and queries as SQLite's, compiled in PostgreSQL's SQL. */
export async function openPostgresStore({ url, schema = 'public', poolSize = 10, timeoutMs = 30_000, readCache = true, onWaiting }: PostgresOptions): Promise<Store> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`DATABASE_SCHEMA must be a plain lower-case name, not ${JSON.stringify(schema)}`);
  // A server that takes the connection and then says nothing (a stopped process, a network
  // that drops packets) would hold a request, and its connection, for ever.
  const connection = { connectionString: url, connectionTimeoutMillis: timeoutMs, options: `-c search_path=${schema}` };
  const connect = { ...connection, query_timeout: timeoutMs };
  // On connections of their own, without the statements' time limit: a migration may rewrite a large table.
  await migrateInTurn(connection, timeoutMs, schema, onWaiting).catch((error: unknown) => {
    throw cannotStart(error, timeoutMs);
  });
  // Named, so that the change trigger leaves this process's own changes to ChangeNotices (migration 0013).
  const pool = new pg.Pool({ ...connect, max: poolSize, types, application_name: GATEWAY_APPLICATION_NAME });
  // An idle connection that breaks (the server restarts) must not take the process down.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const driver = new PostgresDriver(pool, new ChangeNotices(pool, schema), timeoutMs);
  const listener = readCache ? new ChangeListener(connect, timeoutMs, schema, { changed: (table, id) => cache.forget(table, id), missed: () => cache.forgetAll() }) : null;
  // Rows are kept only while change notices are heard: without them, every read asks the database.
  // A connection can die without a word (a network fault): then a row is at most a second old.
  const cache = new ReadCache(() => listener?.listening ?? false, 1000);
  driver.onChanged = (table, id) => cache.forget(table, id);
  await listener?.start();
  return new PostgresStore(driver, buildStatements(db), cache, listener);
}

/** Whether the gateway has made its tables in `schema` (its migrations' own table is there): asked without making anything. */
export async function postgresStoreMade(url: string, schema: string, timeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ made: boolean }>('select to_regclass(format(\'%I.kysely_migration\', $1::text)) is not null as made', [schema]);
    return rows[0]!.made;
  } catch (error) {
    throw cannotStart(error, timeoutMs);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The PostgreSQL store, with the poll reads cached (read-cache.ts): a row is dropped when
 * another process changes it (a change notice: change-notices.ts, migration 0013), and at
 * once when this one does (the driver's onChanged). Its own members are #private, as the
 * Store's rule asks (test/store.test.ts).
 */
class PostgresStore extends CachedStore {
  readonly #listener: ChangeListener | null;

  constructor(driver: Driver, statements: Statements, cache: ReadCache, listener: ChangeListener | null) {
    super(driver, statements, cache);
    this.#listener = listener;
  }

  override async close(): Promise<void> {
    await this.#listener?.close();
    await super.close();
  }
}

/**
 * Migrates the schema to the latest, holding an advisory lock of the schema's on a connection
 * of its own: processes starting together on a new schema take turns. Kysely's migrator takes
 * its lock only after it has made its own tables (kysely migrator.js, #migrate: the schema,
 * kysely_migration and its lock table first), and there they raced: CI saw a run find the
 * schema missing (3F000) and, after a retry for that, a table (42P01).
 */
async function migrateInTurn(connection: pg.ClientConfig, timeoutMs: number, schema: string, onWaiting = () => {}): Promise<void> {
  // The lock is asked for, not waited on: each ask is bounded, so a server gone silent fails
  // the start after DATABASE_TIMEOUT_SECONDS, and the operator is told why a start waits.
  const client = new pg.Client({ ...connection, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  const pool = new pg.Pool({ ...connection, max: 1 });
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await client.connect();
    for (let asked = 0; ; asked++) {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [`vidgate migrations ${schema}`]);
      if (rows[0]!.locked) break;
      if (asked === 0) onWaiting();
      await delay(LOCK_RETRY_MS);
    }
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema: schema });
    for (let tries = 1; ; tries++) {
      await ensureSchema(pool, schema);
      const { error, results } = await migrator.migrateToLatest();
      if (!error) return;
      // CI has seen a run on a schema just made find it, or its migration table, missing
      // (3F000, 42P01), a single process too (the store tests): made again, it is run again.
      const code = (error as { code?: string }).code;
      if ((code === '3F000' || code === '42P01') && tries < 5) {
        await delay(50 * tries);
        continue;
      }
      throw new Error(`database migration failed: ${String(results?.find((r) => r.status === 'Error')?.migrationName ?? error)}`);
    }
  } finally {
    // The pool itself (see PostgresDriver.close): a failure before Kysely ran a query would leave it open.
    await pool.end().catch(() => undefined);
    // Ending the session lets the lock go, whatever happened.
    await client.end().catch(() => undefined);
  }
}

/**
 * A start that cannot reach the database says so in the operator's words (main.ts prints the
 * message). No `cause`: the log would say the driver's words twice, and its stack says nothing.
 */
function cannotStart(error: unknown, timeoutMs: number): unknown {
  if (!unreachable(error)) return error;
  const silent = error instanceof Error && /timeout/i.test(error.message);
  const what = silent ? `did not answer within ${timeoutMs / 1000} s (DATABASE_TIMEOUT_SECONDS)` : 'cannot be reached';
  return new Error(`the database ${what}: ${(error as Error).message}`);
}

/** How often a start waiting for another process's migration asks for the lock again. */
const LOCK_RETRY_MS = 250;

/** Makes the schema unless it is there, and returns once it is seen there. */
async function ensureSchema(pool: pg.Pool, schema: string): Promise<void> {
  for (let tries = 1; tries <= 5; tries++) {
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } catch (error) {
      // Processes starting together race on it (PostgreSQL reports the loser as a duplicate).
      if (!['23505', '42P06'].includes((error as { code?: string }).code ?? '')) throw error;
    }
    if ((await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount) return;
    await delay(50 * tries);
  }
  throw new Error(`the schema ${schema} could not be made`);
}
