import path from 'node:path';
import type { DatabaseSettings } from '../config.ts';
import { openPostgresStore } from './postgres.ts';
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
