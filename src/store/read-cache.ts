import { type Driver, PlannedStore, type Statements } from './planned-store.ts';
import type { TaskRow } from './schema.ts';
import type { ActiveKey } from './store.ts';

/** Rows a cache keeps at most; past that it starts over. */
const CACHE_LIMIT = 10_000;

interface Kept<T> {
  row: T;
  /** When its load began (0 where rows do not age). */
  at: number;
}

/** The tables whose rows are cached: what a change notice names. */
export type CachedTable = 'api_keys' | 'tasks';

/**
 * The rows polls read again and again (the key by its hash or id, the task by id), kept in
 * memory. The database tells it what changed (each store in its own way: SQLite's
 * data_version, PostgreSQL's change notices, and every write this process makes), and
 * `usable` says whether those tidings can be trusted right now; when not, every read goes to
 * the database. A row loaded while a change was told is not kept: it may be the old one.
 */
export class ReadCache {
  readonly #keysByHash = new Map<string, Kept<ActiveKey>>();
  readonly #keysById = new Map<string, Kept<ActiveKey>>();
  readonly #tasks = new Map<string, Kept<TaskRow>>();
  /** Bumped at every change told: a load that saw it change keeps nothing. */
  #epoch = 0;

  constructor(
    private readonly usable: () => boolean,
    /** How long a row is answered from memory at most, whatever was told: a bound on what a tiding lost unnoticed can cost. */
    private readonly maxAgeMs = Infinity,
  ) {}

  forgetAll(): void {
    this.#epoch++;
    this.#keysByHash.clear();
    this.#keysById.clear();
    this.#tasks.clear();
  }

  forget(table: CachedTable, id: string): void {
    this.#epoch++;
    if (table === 'tasks') {
      this.#tasks.delete(id);
      return;
    }
    this.#keysById.delete(id);
    // Keys are few: finding the hash of the one that changed is a short walk.
    for (const [hash, key] of this.#keysByHash) if (key.row.id === id) this.#keysByHash.delete(hash);
  }

  keyByHash(hash: string, load: () => Promise<ActiveKey | undefined>) {
    return this.#through(this.#keysByHash, hash, load);
  }
  keyById(id: string, load: () => Promise<ActiveKey | undefined>) {
    return this.#through(this.#keysById, id, load);
  }
  task(id: string, load: () => Promise<TaskRow | undefined>) {
    return this.#through(this.#tasks, id, load);
  }

  async #through<T>(cache: Map<string, Kept<T>>, key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.usable()) return load();
    const hit = cache.get(key);
    if (hit && (this.maxAgeMs === Infinity || Date.now() - hit.at < this.maxAgeMs)) return hit.row;
    const epoch = this.#epoch;
    const at = this.maxAgeMs === Infinity ? 0 : Date.now();
    const row = await load();
    if (row && epoch === this.#epoch) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, { row, at });
    }
    return row;
  }
}

/**
 * A PlannedStore whose three poll reads go through a ReadCache. Its own members are
 * #private so that the object's methods are exactly the Store's (test/store.test.ts).
 */
export class CachedStore extends PlannedStore {
  readonly #cache: ReadCache;

  constructor(driver: Driver, statements: Statements, cache: ReadCache) {
    super(driver, statements);
    this.#cache = cache;
  }

  override activeKeyByHash(hash: string) {
    return this.#cache.keyByHash(hash, () => super.activeKeyByHash(hash));
  }
  override activeKeyById(id: string) {
    return this.#cache.keyById(id, () => super.activeKeyById(id));
  }
  override async taskForKey(id: string, keyId: string) {
    const task = await this.#cache.task(id, () => super.taskById(id));
    return task?.key_id === keyId ? task : undefined;
  }
}
