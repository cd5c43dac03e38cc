import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseSettings } from '../config.ts';
import { openPostgresStore, postgresStoreMade } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

/**
 * The store the settings name: PostgreSQL when DATABASE_URL is set, else the SQLite file in
 * DATA_DIR. `readCache`: whether this process serves polls (PostgreSQL then listens for changes);
 * `onWaiting`: told when the start waits for another process's migration.
 */
export function openStore(database: DatabaseSettings, dataDir: string, { readCache = true, onWaiting }: { readCache?: boolean; onWaiting?: () => void } = {}): Promise<Store> {
  if (database.url !== null) {
    return openPostgresStore({ url: database.url, schema: database.schema, poolSize: database.poolSize, timeoutMs: database.timeoutMs, readCache, onWaiting });
  }
  return openSqliteStore(sqliteFile(dataDir));
}

export const sqliteFile = (dataDir: string): string => path.join(dataDir, 'vidgate.db');

/** The settings point where the server has made no database: a typo in DATA_DIR or DATABASE_SCHEMA. */
export class NoDatabase extends Error {}

/**
 * The store the settings name, only if the server has made it: opening migrates, so an
 * operator's command on a mistyped DATA_DIR or DATABASE_SCHEMA would make an empty database
 * (in PostgreSQL, in whatever schema was named) and read it as empty books ("ledger ok").
 */
export async function openMadeStore(database: DatabaseSettings, dataDir: string): Promise<Store> {
  if (database.url === null) {
    const file = sqliteFile(dataDir);
    if (!existsSync(file)) throw new NoDatabase(`no database at ${path.resolve(file)}: is DATA_DIR right? (the server makes it when it first starts)`);
  } else if (!(await postgresStoreMade(database.url, database.schema, database.timeoutMs))) {
    // Host and database only: the URL may hold a password.
    const { host, pathname } = new URL(database.url);
    throw new NoDatabase(`no vidgate database in schema ${database.schema} of ${host}${pathname}: is DATABASE_SCHEMA right? (the server makes it when it first starts)`);
  }
  return openStore(database, dataDir, { readCache: false });
}
