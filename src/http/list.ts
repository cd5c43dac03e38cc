import { z } from 'zod';
import { invalidRequest } from './errors.ts';

/** A page's size, as every paged list takes it. */
export const pageLimit = z.coerce.number().int().min(1).max(100).default(20);
const LIMIT_RULE = 'limit is a whole number from 1 to 100';

/**
 * A list route's query read by its schema; the first thing wrong is a 400 naming its
 * parameter: the page size in one sentence on every list, the rest in the schema's words.
 */
export function readListQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = String(issue?.path[0] ?? 'query');
  throw invalidRequest(param === 'limit' ? LIMIT_RULE : `${param}: ${issue?.message ?? 'invalid'}`, param);
}

/** One page of a list, in the OpenAI shape: its items, the first and last ids (cursors), and whether more follow. */
export function listPage<Item extends { id: string }>(items: Item[], hasMore: boolean, present: (item: Item) => unknown) {
  return { object: 'list', data: items.map(present), first_id: items[0]?.id ?? null, last_id: items.at(-1)?.id ?? null, has_more: hasMore };
}
