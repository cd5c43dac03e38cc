import type { Store, UsageRow } from '../store/store.ts';
import type { UsageQuery } from './usage-query.ts';

/**
 * The usage report: per key, model or UTC day, the live tasks that ended in [from, to),
 * how many completed, what they were billed (revenue) and, for the operator, what the
 * upstreams reported charging and the margin between the two. Micro-dollars throughout.
 */
export async function usageReport(store: Store, query: UsageQuery, operator: boolean) {
  const rows = await store.usage(query);
  return {
    object: 'usage',
    from: Math.floor(query.from / 1000),
    to: Math.floor(query.to / 1000),
    group_by: query.groupBy,
    currency: 'USD',
    unit: 'micro',
    data: rows.map((row) => line(row, operator)),
  };
}

/** A key sees what it spent; the operator sees it as revenue, beside the upstream's cost. */
function line({ group, tasks, completed, revenue, upstream_cost }: UsageRow, operator: boolean) {
  if (!operator) return { group, tasks, completed, spend: revenue };
  return { group, tasks, completed, revenue, upstream_cost, margin: upstream_cost === null ? null : revenue - upstream_cost };
}
