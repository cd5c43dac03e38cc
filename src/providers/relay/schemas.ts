import { z } from 'zod';

/**
 * An OpenAI-style `/v1/videos` service (another vidgate, say) as we speak it
 * (upstream-apis.md §1). Answers are read tolerantly — fields we do not use are
 * ignored — but what we act on must be there and well formed.
 */

/**
 * A create body is written in the model's own dialect (catalog/dialects.ts), so its keys
 * are data, not a fixed shape: `model` and then one key per input the job carries, with
 * `extra_body` holding those the dialect nests there.
 */
export type CreateRequest = { model: string; extra_body?: Record<string, unknown> } & Record<string, unknown>;

/** The video object; the create answers one too. */
export const videoObject = z.object({
  id: z.string().min(1),
  // OpenAI's four, and vidgate's own `cancelled`.
  status: z.enum(['queued', 'in_progress', 'completed', 'failed', 'cancelled']),
  progress: z.number().nullish(),
  error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).nullish(),
});

export type VideoObject = z.infer<typeof videoObject>;

export const startAnswer = z.object({ id: z.string().min(1) });

/** `{error: {message, type, param, code}}`. */
export const errorBody = z.object({ error: z.object({ code: z.string().nullish(), message: z.string().nullish() }) });

/** The saved operation: the remote video id and the index of the key that made it (never the key). */
export const operation = z.object({ id: z.string().min(1), key: z.number().int().min(0) });
