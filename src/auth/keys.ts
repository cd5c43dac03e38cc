import { createHash, randomBytes } from 'node:crypto';
import type { KeyLimits, KeyMode } from '../store/schema.ts';
import type { Store } from '../store/store.ts';

/** API keys: shown once at creation, stored only as a SHA-256 hash. */
export interface CreatedKey {
  id: string;
  name: string;
  key: string;
  created_at: number;
  /** Micro-dollars; null: unmetered. */
  balance: number | null;
  mode: KeyMode;
  limits: ReturnType<typeof shownLimits>;
}

const NO_LIMITS: KeyLimits = { limit_rpm: null, limit_in_flight: null, limit_daily_spend: null };

/** A key's limits as the API names them; null: none of that kind. */
export function shownLimits(limits: KeyLimits) {
  return { requests_per_minute: limits.limit_rpm, tasks_in_flight: limits.limit_in_flight, spend_per_day: limits.limit_daily_spend };
}

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** Hashes of recently seen tokens, so that a poll does not pay for SHA-256 each time. */
const HASH_MEMORY = 10_000;

export class KeyService {
  private readonly hashes = new Map<string, string>();

  constructor(private readonly store: Store) {}

  /**
   * `balance` (micro-dollars) makes a metered key; without one the key is unmetered. A
   * `test` key (`sk-test-…`) runs every task on the preview renderer and is never charged.
   */
  async create(
    name: string,
    { balance = null, mode = 'live', limits = NO_LIMITS, now = Date.now() }: { balance?: number | null; mode?: KeyMode; limits?: KeyLimits; now?: number } = {},
  ): Promise<CreatedKey> {
    const id = `key_${randomBytes(8).toString('hex')}`;
    const key = `sk-${mode === 'test' ? 'test-' : ''}${randomBytes(24).toString('base64url')}`;
    await this.store.insertKey({ id, name, hash: hashKey(key), prefix: key.slice(0, mode === 'test' ? 12 : 7), now, balance, mode, ...limits });
    return { id, name, key, created_at: Math.floor(now / 1000), balance, mode, limits: shownLimits(limits) };
  }

  /** Task creations a minute this key may make, or null for the gateway's default. */
  async requestsPerMinute(keyId: string): Promise<number | null> {
    return (await this.store.activeKeyById(keyId))?.limit_rpm ?? null;
  }

  async list() {
    const rows = await this.store.listKeys();
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      prefix: row.key_prefix,
      created_at: Math.floor(row.created_at / 1000),
      balance: row.balance,
      mode: row.mode,
      limits: shownLimits(row),
      revoked_at: row.revoked_at === null ? null : Math.floor(row.revoked_at / 1000),
    }));
  }

  revoke(id: string, now = Date.now()): Promise<boolean> {
    return this.store.revokeKey(id, now);
  }

  /**
   * Whether the key may still act: a signed link proves access for its owner key, and must
   * stop working the moment that key is revoked. Answered by the store's cache, which a
   * revoke (here or in another process) drops.
   */
  async isActive(keyId: string): Promise<boolean> {
    return (await this.store.activeKeyById(keyId)) !== undefined;
  }

  /**
   * The key id behind a bearer token, or null. Only the hashing is remembered: whether
   * the key is still active is the store's answer on every request, so a revoked key
   * fails on its next one.
   */
  async authenticate(token: string): Promise<string | null> {
    if (!token.startsWith('sk-')) return null;
    let hash = this.hashes.get(token);
    if (hash === undefined) {
      hash = hashKey(token);
      if (this.hashes.size >= HASH_MEMORY) this.hashes.clear();
      this.hashes.set(token, hash);
    }
    const row = await this.store.activeKeyByHash(hash);
    return row?.id ?? null;
  }
}
