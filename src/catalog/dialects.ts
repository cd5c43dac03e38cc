import type { Family } from './models.ts';

/**
 * Which body keys each request dialect uses for each canonical input. The same input
 * under two keys (`duration` and `seconds`, `image` and `image_url`) may be sent once.
 * Keys under `extra_body` are written as `extra_body.<name>`. A key no slot of the
 * model's dialect lists is refused (fields.ts), never dropped.
 */
export type Slot =
  | 'prompt'
  | 'duration'
  | 'resolution'
  | 'aspectRatio'
  | 'image'
  | 'lastImage'
  | 'images'
  | 'video'
  | 'videos'
  | 'operation'
  | 'inputVideoSeconds'
  | 'audio'
  | 'seed'
  | 'bgm';

export interface Dialect {
  keys: Partial<Record<Slot, readonly string[]>>;
  /** Keys that hold one image or, when repeated, a list (multipart `input_reference`). */
  oneOrMany?: readonly string[];
}

export const DIALECTS: Record<Family, Dialect> = {
  'grok-imagine': {
    keys: {
      prompt: ['prompt'],
      duration: ['duration', 'seconds'],
      // The seeds write size; xAI and the other grok models' pages write resolution.
      resolution: ['size', 'resolution'],
      aspectRatio: ['aspect_ratio'],
      // input_reference is the OpenAI Videos name (what the openai client sends).
      image: ['image', 'image_url', 'input_reference'],
      images: ['images', 'image_urls'],
      video: ['video'],
      videos: ['videos'],
      operation: ['extra_body.operation'],
      inputVideoSeconds: ['extra_body.input_video_seconds'],
    },
  },
  'grok-imagine-video': {
    keys: {
      prompt: ['prompt'],
      duration: ['seconds', 'duration'],
      resolution: ['resolution', 'size'],
      aspectRatio: ['aspect_ratio'],
      image: ['image', 'input_reference'],
      images: ['images'],
    },
  },
  'grok-video': {
    keys: {
      prompt: ['prompt'],
      duration: ['duration', 'seconds'],
      resolution: ['size', 'resolution'],
      aspectRatio: ['aspect_ratio'],
      image: ['input_reference', 'image', 'image_url'],
      images: ['input_reference'],
    },
    oneOrMany: ['input_reference'],
  },
  'vidu-q3': {
    keys: {
      prompt: ['prompt'],
      // seconds is the openai client's name for it.
      duration: ['duration', 'seconds'],
      resolution: ['resolution', 'size'],
      aspectRatio: ['aspect_ratio'],
      image: ['image', 'input_reference'],
      lastImage: ['last_image'],
      images: ['reference_image_urls'],
      audio: ['extra_body.audio'],
      seed: ['extra_body.seed'],
      bgm: ['extra_body.bgm'],
    },
  },
};
