import { z } from 'zod';

/**
 * xAI's video API as we speak it (upstream-apis.md §2). Answers are read tolerantly —
 * fields we do not use are ignored — but what we act on must be there and well formed.
 */

const media = z.object({ url: z.string() });

/** POST /videos/generations: text, a first frame, or reference images. */
export const generationRequest = z.object({
  model: z.string(),
  prompt: z.string(),
  duration: z.number().int().optional(),
  /** Only without `image`: xAI follows the image's shape. */
  aspect_ratio: z.string().optional(),
  resolution: z.string().optional(),
  image: media.optional(),
  reference_images: z.array(media).optional(),
});

/** POST /videos/edits: the output follows the input video, so it takes no duration, shape or resolution. */
export const editRequest = z.object({ model: z.string(), prompt: z.string(), video: media });

/** POST /videos/extensions: `duration` is the appended part. */
export const extensionRequest = z.object({ model: z.string(), prompt: z.string(), video: media, duration: z.number().int() });

export type GenerationRequest = z.infer<typeof generationRequest>;
export type EditRequest = z.infer<typeof editRequest>;
export type ExtensionRequest = z.infer<typeof extensionRequest>;

/** All three submits answer `{request_id}`. */
export const startAnswer = z.object({ request_id: z.string().min(1) });

const code = z.union([z.string(), z.number()]).transform(String);

/**
 * GET /videos/{request_id} answered 200: the outcome (a 202, "not yet", may come with no
 * body at all, only `{request_id}`, or a progress).
 */
export const checkAnswer = z
  .object({
    status: z.enum(['pending', 'done', 'failed', 'expired']).nullish(),
    progress: z.number().nullish(),
    video: z
      .object({
        url: z.string().nullish(),
        respect_moderation: z.boolean().nullish(),
      })
      .nullish(),
    usage: z.object({ cost_in_usd_ticks: z.number().nullish() }).nullish(),
    error: z.object({ code: code.nullish(), message: z.string().nullish() }).nullish(),
  })
  .nullable();

/** What a 202 may tell besides "not yet". */
export const pendingAnswer = z.object({ progress: z.number().nullish() });

export type CheckAnswer = NonNullable<z.infer<typeof checkAnswer>>;

/** Error bodies come as `{error: {message, type, param, code}}` or as `{code, error: "…"}`. */
export const errorBody = z.union([
  z.object({ error: z.object({ message: z.string().nullish(), type: z.string().nullish(), code: code.nullish() }) }),
  z.object({ code: code.nullish(), error: z.string().nullish() }),
]);

/** The saved operation: xAI's id and the index of the key that made it (never the key). */
export const operation = z.object({ request_id: z.string().min(1), key: z.number().int().min(0) });
