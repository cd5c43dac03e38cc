import { z } from 'zod';

/**
 * Vidu's task API as we speak it (upstream-apis.md §3). Answers are read tolerantly —
 * fields we do not use are ignored — but what we act on must be there and well formed.
 */

/** The body of every submit (`/text2video`, `/img2video`, `/start-end2video`, `/reference2video`). */
export const submitRequest = z.object({
  model: z.string(),
  prompt: z.string(),
  duration: z.number().int().optional(),
  seed: z.number().int().optional(),
  /** text2video and reference2video only: with a first frame the image sets the shape. */
  aspect_ratio: z.string().optional(),
  resolution: z.string(),
  audio: z.boolean().optional(),
  off_peak: z.boolean().optional(),
  callback_url: z.string().optional(),
  /** One start frame, a start and an end frame, or the reference set; URLs or data URIs. */
  images: z.array(z.string()).optional(),
});

export type SubmitRequest = z.infer<typeof submitRequest>;

/**
 * A submit answers the task, `{task_id, state, …}`. The id is a string of digits too long
 * for a JSON number to hold exactly, so a number is taken only while it is exact.
 */
export const startAnswer = z.object({
  task_id: z.union([z.string().min(1), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).transform(String)]),
});

const creation = z.object({ url: z.string().nullish(), cover_url: z.string().nullish() });

/** GET /tasks/{id}/creations. */
export const checkAnswer = z.object({
  state: z.enum(['created', 'queueing', 'processing', 'success', 'failed']),
  err_code: z.string().nullish(),
  /** Not documented; read when present. */
  progress: z.number().nullish(),
  credits: z.number().nullish(),
  creations: z.array(creation).nullish(),
});

export type CheckAnswer = z.infer<typeof checkAnswer>;

const text = z.union([z.string(), z.number()]).transform(String).nullish().catch(undefined);

/** Error bodies: the field names are unverified, so every likely one is read. */
export const errorBody = z.object({
  code: text,
  err_code: text,
  reason: text,
  message: text,
  msg: text,
  error: text,
});

/** The saved operation: Vidu's task id and the index of the key that made it (never the key). */
export const operation = z.object({ task_id: z.string().min(1), key: z.number().int().min(0) });
