import { NotFound, Conflict } from '../errors.ts';
import type { LedgerRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { UsageQuery } from './usage-query.ts';
import { usageReport } from './usage.ts';

/** A ledger entry as the API shows it: times in Unix seconds, money in micro-dollars. */
export function ledgerEntry(row: LedgerRow) {
  return {
    id: row.id,
    object: 'ledger.entry',
    kind: row.kind,
    task_id: row.task_id,
    amount: row.amount,
    balance: row.balance,
    created_at: Math.floor(row.created_at / 1000),
    note: row.note,
  };
}

/** Balances as the operator and the key's owner see them: read, topped up, and their ledger. */
export class Accounts {
  constructor(private readonly store: Store) {}

  /** A key's balance: null when the key is unmetered. */
  async balance(keyId: string): Promise<{ key_id: string; metered: boolean; balance: number | null }> {
    const key = await this.store.keyById(keyId);
    if (!key) throw new NotFound(`No key with id '${keyId}'`, 'key_not_found');
    return { key_id: key.id, metered: key.balance !== null, balance: key.balance };
  }

  /** Adds to a metered key's balance; an unmetered key has none to add to (create a metered key instead). */
  async topUp(keyId: string, amount: number, note: string | null, now = Date.now()): Promise<number> {
    const balance = await this.store.adjustBalance(keyId, { kind: 'topup', amount, now, note });
    if (balance !== undefined) return balance;
    if (!(await this.store.keyById(keyId))) throw new NotFound(`No key with id '${keyId}'`, 'key_not_found');
    throw new Conflict(`Key '${keyId}' is unmetered: it has no balance to top up`, 'key_unmetered', false);
  }

  /** The usage report (see usage.ts); `operator` adds the upstream cost and margin. */
  usage(query: UsageQuery, operator: boolean) {
    return usageReport(this.store, query, operator);
  }

  /** One page of a key's ledger, oldest first, after the entry `after`. */
  async ledger(keyId: string, after: number, limit: number) {
    if (!(await this.store.keyById(keyId))) throw new NotFound(`No key with id '${keyId}'`, 'key_not_found');
    const rows = await this.store.ledger(keyId, after, limit + 1);
    const page = rows.slice(0, limit);
    return { object: 'list', data: page.map(ledgerEntry), last_id: page.at(-1)?.id ?? null, has_more: rows.length > limit };
  }
}
