import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { openPostgresStore, types } from '../../src/store/postgres.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Database } from '../../src/store/schema.ts';
import type { Store } from '../../src/store/store.ts';

/**
 * Which database the tests run on: SQLite (npm test) or PostgreSQL (npm run
 * test:postgres), the server every machine runs at 127.0.0.1:5432, database `test`.
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.VIDGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const schemas: string[] = [];

/** A schema of its own, so that test files and stores running at once never meet. */
export function newSchema(): string {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** A new, empty store: a SQLite file in `dir`, or a PostgreSQL schema of its own. */
export async function openTestStore(dir: string): Promise<Store> {
  if (TEST_STORE === 'postgres') return openPostgresStore({ url: TEST_DATABASE_URL, schema: newSchema(), poolSize: 4 });
  return openSqliteStore(path.join(dir, 'vidgate.db'));
}

/** Stores on one new database, as processes sharing it have (each with its own connections and cache). */
export async function openTestStores(dir: string, count: number): Promise<Store[]> {
  const schema = newSchema();
  const open = () => (TEST_STORE === 'postgres' ? openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4 }) : openSqliteStore(path.join(dir, 'vidgate.db')));
  const stores: Store[] = [];
  for (let i = 0; i < count; i++) stores.push(await open());
  return stores;
}

/** Drops the schemas this process made. */
export async function dropTestSchemas(): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (const schema of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** A gateway's schema, named by its data folder: a restart on the same folder finds its tables. */
export function schemaOf(dataDir: string): string {
  return `g_${createHash('sha1').update(path.resolve(dataDir)).digest('hex').slice(0, 16)}`;
}

/** What a gateway's environment needs to run on the test database, if the tests run on PostgreSQL. */
export function databaseEnv(dataDir: string): Record<string, string> {
  return TEST_STORE === 'postgres' ? { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schemaOf(dataDir) } : {};
}

/** Drops a gateway's schema with its data folder (synchronously, as the folder goes). */
export function dropSchemaOf(dataDir: string): void {
  if (TEST_STORE !== 'postgres') return;
  execFileSync('psql', [TEST_DATABASE_URL, '-q', '-c', `DROP SCHEMA IF EXISTS ${schemaOf(dataDir)} CASCADE`], { stdio: 'ignore' });
}

/**
 * Runs statements on a gateway's own database behind its back (a test that breaks the
 * books on purpose). Placeholders are written `$1`, `$2`, … in order.
 */
export async function tamper(dataDir: string, statements: [string, unknown[]][]): Promise<void> {
  if (TEST_STORE === 'postgres') {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schemaOf(dataDir)}` });
    await client.connect();
    try {
      for (const [text, values] of statements) await client.query(text, values);
    } finally {
      await client.end();
    }
    return;
  }
  const db = new BetterSqlite3(path.join(dataDir, 'vidgate.db'));
  try {
    for (const [text, values] of statements) db.prepare(text.replace(/\$\d+/g, '?')).run(...values);
  } finally {
    db.close();
  }
}

/**
 * A query builder on a gateway's own database (SQLite file or PostgreSQL schema), to read or
 * change it behind the gateway's back: numbers read as the gateway reads them (64-bit
 * integers and sums too), and a running gateway's write is waited for, not failed on.
 */
export function gatewayDatabase(dataDir: string): Kysely<Database> {
  if (TEST_STORE === 'postgres') {
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, options: `-c search_path=${schemaOf(dataDir)}`, types });
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  const database = new BetterSqlite3(path.join(dataDir, 'vidgate.db'));
  database.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}
