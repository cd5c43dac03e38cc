import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrations } from './migrations.ts';
import type { PreparedQuery } from './prepared.ts';
import { buildQueries } from './queries.ts';
import type { ApiKeyRow, Database, IdempotencyRow, TaskRow } from './schema.ts';
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
  const { error, results } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  if (error) throw new Error(`database migration failed: ${String(results?.find((r) => r.status === 'Error')?.migrationName ?? error)}`);
  return new SqliteStore(sqlite, db);
}

/** Rows the cache keeps at most; past that it starts over. */
const CACHE_LIMIT = 10_000;

/**
 * Polls dominate a gateway's traffic and read the same two rows (the key, the task) again
 * and again, so the store keeps a cache of them that is never stale: it is dropped on
 * every write through this connection, and whenever PRAGMA data_version says another
 * process committed (checked at most once a millisecond). Task inserts that arrive
 * together are committed together, one WAL commit for many creates.
 */
class SqliteStore implements Store {
  private readonly q;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private readonly keys = new Map<string, ApiKeyRow>();
  private readonly tasks = new Map<string, TaskRow>();
  private readonly dataVersion: BetterSqlite3.Statement;
  private seenVersion = -1;
  private checkedAt = 0;
  private pendingInserts: { task: TaskRow; resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly db: Kysely<Database>,
  ) {
    this.q = buildQueries(db);
    this.dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
  }

  private forget(): void {
    this.keys.clear();
    this.tasks.clear();
  }

  /** Drops the cache if another connection has committed since we last looked. */
  private fresh(): void {
    const now = Date.now();
    if (now === this.checkedAt) return;
    this.checkedAt = now;
    const version = this.dataVersion.get() as number;
    if (version !== this.seenVersion) {
      this.seenVersion = version;
      this.forget();
    }
  }

  private cached<T>(cache: Map<string, T>, key: string, load: () => T | undefined): T | undefined {
    this.fresh();
    const hit = cache.get(key);
    if (hit) return hit;
    const row = load();
    if (row) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, row);
    }
    return row;
  }

  private statement(query: PreparedQuery<never>): BetterSqlite3.Statement {
    let statement = this.statements.get(query.sql);
    if (!statement) {
      statement = this.sqlite.prepare(query.sql);
      this.statements.set(query.sql, statement);
    }
    return statement;
  }

  private all<P, R>(query: PreparedQuery<P>, params: P): R[] {
    return this.statement(query as PreparedQuery<never>).all(...query.bind(params)) as R[];
  }

  private get<P, R>(query: PreparedQuery<P>, params: P): R | undefined {
    return this.statement(query as PreparedQuery<never>).get(...query.bind(params)) as R | undefined;
  }

  private run<P>(query: PreparedQuery<P>, params: P): number {
    this.forget();
    return this.statement(query as PreparedQuery<never>).run(...query.bind(params)).changes;
  }

  async insertKey(key: { id: string; name: string; hash: string; prefix: string; now: number }) {
    this.run(this.q.insertKey, key);
  }
  async activeKeyByHash(hash: string) {
    return this.cached(this.keys, hash, () => this.get<{ hash: string }, ApiKeyRow>(this.q.activeKeyByHash, { hash }));
  }
  async listKeys() {
    return this.all<object, ApiKeyRow>(this.q.listKeys, {});
  }
  async revokeKey(id: string, now: number) {
    return this.run(this.q.revokeKey, { id, now }) > 0;
  }

  insertTask(task: TaskRow) {
    return new Promise<void>((resolve, reject) => {
      if (this.pendingInserts.length === 0) setImmediate(() => this.flushInserts());
      this.pendingInserts.push({ task, resolve, reject });
    });
  }

  private flushInserts(): void {
    const batch = this.pendingInserts;
    this.pendingInserts = [];
    const insertAll = this.sqlite.transaction(() => {
      for (const { task } of batch) this.run(this.q.insertTask, task);
    });
    try {
      insertAll();
    } catch {
      // One bad row must not fail its neighbours: retry them one by one.
      for (const { task, resolve, reject } of batch) {
        try {
          this.run(this.q.insertTask, task);
          resolve();
        } catch (error) {
          reject(error);
        }
      }
      return;
    }
    for (const { resolve } of batch) resolve();
  }
  async taskById(id: string) {
    return this.get<{ id: string }, TaskRow>(this.q.taskById, { id });
  }
  async taskForKey(id: string, keyId: string) {
    const task = this.cached(this.tasks, id, () => this.get<{ id: string }, TaskRow>(this.q.taskById, { id }));
    return task?.key_id === keyId ? task : undefined;
  }
  async listTasks({ keyId, order, after, limit }: Parameters<Store['listTasks']>[0]) {
    const query = after
      ? order === 'desc' ? this.q.newestFirstAfter : this.q.oldestFirstAfter
      : order === 'desc' ? this.q.newestFirst : this.q.oldestFirst;
    // Without a cursor the query ignores createdAt and id.
    return this.all<Parameters<typeof query.bind>[0], TaskRow>(query, { keyId, limit, createdAt: after?.createdAt ?? 0, id: after?.id ?? '' });
  }
  async cancelTaskForKey(id: string, keyId: string, now: number) {
    return this.run(this.q.cancelForKey, { id, keyId, now }) > 0;
  }
  async deleteTaskForKey(id: string, keyId: string) {
    return this.get<{ id: string; keyId: string }, { id: string; video_key: string | null }>(this.q.deleteForKey, { id, keyId });
  }

  async claimDue(owner: string, now: number, leaseUntil: number, limit: number) {
    return this.all<Parameters<typeof this.q.claimDue.bind>[0], TaskRow>(this.q.claimDue, { owner, now, leaseUntil, limit });
  }
  async renewLease(id: string, owner: string, leaseUntil: number) {
    return this.run(this.q.renewLease, { id, owner, leaseUntil }) > 0;
  }
  async markStarted(id: string, owner: string, operation: string, now: number) {
    return this.run(this.q.markStarted, { id, owner, operation, now }) > 0;
  }
  async setProgress(id: string, owner: string, progress: number, now: number) {
    return this.run(this.q.setProgress, { id, owner, progress, now }) > 0;
  }
  async complete(id: string, owner: string, result: Parameters<Store['complete']>[2]) {
    return this.run(this.q.complete, { id, owner, ...result }) > 0;
  }
  async fail(id: string, owner: string, now: number, code: string, message: string) {
    return this.run(this.q.fail, { id, owner, now, code, message }) > 0;
  }
  async release(id: string, owner: string, runAfter: number) {
    return this.run(this.q.release, { id, owner, runAfter }) > 0;
  }

  async expiredVideos(now: number, limit: number) {
    return this.all<{ now: number; limit: number }, { id: string; video_key: string | null }>(this.q.expiredVideos, { now, limit });
  }
  async forgetVideo(id: string, now: number) {
    this.run(this.q.forgetVideo, { id, now });
  }

  async claimIdempotencyKey(claim: Parameters<Store['claimIdempotencyKey']>[0]) {
    if (this.run(this.q.claimIdempotencyKey, claim) > 0) return null;
    return this.get<{ keyId: string; key: string }, IdempotencyRow>(this.q.idempotencyKey, claim) ?? null;
  }
  async releaseIdempotencyKey(keyId: string, key: string, taskId: string) {
    this.run(this.q.releaseIdempotencyKey, { keyId, key, taskId });
  }

  async sharedSetting(name: string, create: () => string) {
    const existing = this.get<{ name: string }, { value: string }>(this.q.setting, { name });
    if (existing) return existing.value;
    this.run(this.q.insertSettingIfAbsent, { name, value: create() });
    // Another process may have won the race: read back whatever was stored first.
    return this.get<{ name: string }, { value: string }>(this.q.setting, { name })!.value;
  }

  async close() {
    await this.db.destroy();
  }
}
