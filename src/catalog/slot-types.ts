import { z } from 'zod';
import type { Slot } from './dialects.ts';
import { UploadedFile } from './types.ts';

const OPERATIONS = ['text_to_video', 'image_to_video', 'reference_to_video', 'edit_video', 'video_extend'] as const;

// Multipart forms carry every value as text, so numbers and booleans may come as strings.
const integerLike = z.union([z.number().int(), z.string().trim().regex(/^[-+]?\d+$/).transform(Number)]);
const booleanLike = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** One image or video in any shape a client may send it; media-ref.ts turns it into a MediaRef. */
export const mediaLike = z.union([
  z.string().describe('an http(s) URL or a base64 data URI'),
  // Strict: a key beside the one that names the media would be dropped (media-ref.ts names it).
  z.strictObject({ url: z.string() }),
  // The OpenAI shapes: input_reference: {image_url}; video: {id} of a finished video.
  z.strictObject({ image_url: z.string() }),
  z.strictObject({ id: z.string() }),
  z.instanceof(UploadedFile).meta({ type: 'string', format: 'binary', description: 'a file part (multipart/form-data)' }),
]);
const mediaList = z.union([z.array(mediaLike), mediaLike]);

/**
 * The type of every canonical input, with the words an error uses for it. The reader
 * parses each field with these, and GET /openapi.json is generated from them and the
 * catalog, so the document cannot drift from what the routes accept.
 */
export const SLOT_TYPES = {
  prompt: { schema: z.string(), expect: 'a string' },
  duration: { schema: integerLike, expect: 'a whole number' },
  resolution: { schema: z.union([z.string(), z.number()]), expect: 'a string' },
  aspectRatio: { schema: z.string(), expect: 'a string' },
  image: { schema: mediaLike, expect: 'an image' },
  lastImage: { schema: mediaLike, expect: 'an image' },
  images: { schema: mediaList, expect: 'a list of images' },
  video: { schema: mediaLike, expect: 'a video' },
  videos: { schema: mediaList, expect: 'a list of videos' },
  operation: { schema: z.enum(OPERATIONS), expect: `one of ${OPERATIONS.join(', ')}` },
  inputVideoSeconds: { schema: integerLike, expect: 'a whole number' },
  audio: { schema: booleanLike, expect: 'true or false' },
  seed: { schema: integerLike, expect: 'a whole number' },
  bgm: { schema: booleanLike, expect: 'true or false' },
} as const satisfies Record<Slot, { schema: z.ZodType; expect: string }>;

export type Parsed<S extends Slot> = z.output<(typeof SLOT_TYPES)[S]['schema']>;
