import type { Store } from '../store/store.ts';

const ENDED = new Set(['completed', 'failed', 'cancelled']);

/**
 * The books' invariants (`vidgate ledger check`): each metered balance is the sum of its
 * entries and never below zero; each task that holds an amount has its hold entry; each
 * hold ends exactly once (captured or released) when its task has ended or is gone, and
 * not before; a capture never gives back more than was held. Answers each broken one in a line.
 */
export async function checkLedger(store: Store): Promise<string[]> {
  const audit = await store.ledgerAudit();
  const problems: string[] = [];
  for (const { key_id, balance, total } of audit.balanceMismatches) {
    problems.push(balance < 0 ? `key ${key_id}: balance ${balance} is below zero` : `key ${key_id}: balance ${balance} is not the sum of its ledger entries (${total})`);
  }
  for (const { id, key_id, balance } of audit.negativeEntries) problems.push(`key ${key_id}: ledger entry ${id} left the balance at ${balance}`);
  for (const { id, hold } of audit.holdsMissing) problems.push(`task ${id}: holds ${hold} with no hold entry in the ledger`);
  for (const { task_id, held, status, task_hold, ends, given_back } of audit.holdsAndEnds) {
    const ended = status === null || ENDED.has(status);
    if (task_hold !== null && -held !== task_hold) problems.push(`task ${task_id}: its hold entry is ${-held}, the task says ${task_hold}`);
    if (ended && ends !== 1) problems.push(`task ${task_id} (${status ?? 'deleted'}): ${ends} captures or releases for its hold, not 1`);
    if (!ended && ends !== 0) problems.push(`task ${task_id} (${status}): its hold was settled while it still runs`);
    if (given_back > -held || given_back < 0) problems.push(`task ${task_id}: ${given_back} given back for a hold of ${-held}`);
  }
  return problems;
}
