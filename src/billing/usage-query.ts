import { z } from 'zod';
import { InvalidInput } from '../errors.ts';

const DAY_MS = 24 * 3600 * 1000;
/** A report covers at most this span: every query it makes stays bounded. */
const MAX_SPAN_MS = 366 * DAY_MS;

/** A time as a UTC date (2026-11-01, its midnight) or Unix seconds. */
const instant = z.union([z.string().regex(/^\d{4}-\d{2}-\d{2}$/).transform((day) => Date.parse(`${day}T00:00:00Z`)), z.coerce.number().int().min(0).transform((seconds) => seconds * 1000)]);

export type UsageGroup = 'key' | 'model' | 'day';

export interface UsageQuery {
  from: number;
  to: number;
  groupBy: UsageGroup;
  keyId: string | null;
}

/**
 * A usage report's query as the API and the CLI take it (`from`, `to`, `group_by`,
 * `key_id`), with the groups the asker may use; by default the 30 days before `to`.
 */
export function readUsageQuery(raw: unknown, groups: readonly UsageGroup[], now: number): UsageQuery {
  const schema = z.object({
    from: instant.optional(),
    to: instant.optional(),
    group_by: z.enum(groups as [UsageGroup, ...UsageGroup[]]).default('model'),
    key_id: z.string().max(100).optional(),
  });
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const param = String(parsed.error.issues[0]?.path[0] ?? 'from');
    const messages: Record<string, string> = {
      group_by: `group_by is one of ${groups.join(', ')}`,
      key_id: 'key_id is a key id',
    };
    throw new InvalidInput(messages[param] ?? `${param} is a UTC date (YYYY-MM-DD) or Unix seconds`, param);
  }
  const to = parsed.data.to ?? now;
  const from = parsed.data.from ?? to - 30 * DAY_MS;
  if (!(Number.isFinite(from) && Number.isFinite(to)) || from >= to) throw new InvalidInput('from must come before to', 'from');
  if (to - from > MAX_SPAN_MS) throw new InvalidInput('A report covers at most 366 days', 'from');
  return { from, to, groupBy: parsed.data.group_by, keyId: parsed.data.key_id ?? null };
}
