import type { Capability } from './types.ts';

/**
 * The model catalog as data. Each model names the request dialect it speaks (`family`)
 * and, per capability, the inputs and ranges it accepts; validate() is the only gate
 * that applies these rules, so a new model is a new entry here, not a new branch.
 */

export type Family = 'grok-imagine' | 'grok-imagine-video' | 'grok-video' | 'vidu-q3';

export interface Range {
  min: number;
  max: number;
}

export interface CapabilityRule {
  /** Output seconds: a range (min = max for a fixed length); absent `default` means the client must send one. */
  duration: (Range & { default?: number }) | 'forbidden';
  /**
   * Allowed aspect ratios. `custom` also admits any `w:h`; `auto` follows the input image;
   * `ignored` accepts the field but the output follows the input (told as a warning);
   * `forbidden` rejects it because the output follows the input video.
   */
  aspectRatios: { allowed: readonly string[]; custom?: boolean; default: string } | 'ignored' | 'forbidden';
  resolution: 'allowed' | 'forbidden';
  /** Inputs: `true` is required, a range bounds a list, absent is refused. */
  image?: true;
  lastImage?: true;
  images?: Range;
  video?: true;
  videos?: Range;
  inputVideoSeconds?: Range;
}

export interface ModelSpec {
  id: string;
  family: Family;
  description: string;
  promptMaxLength: number;
  /** Short sides of the output tiers the client may choose; the first is the default. */
  resolutions: readonly number[];
  /** How this family writes a tier back in `size`: 720 → "720p" or "720P". */
  resolutionSuffix: 'p' | 'P';
  /** Vidu names fix the tier; a `size`/`resolution` field is then refused. */
  fixedResolution?: number;
  offPeak?: boolean;
  capabilities: Partial<Record<Capability, CapabilityRule>>;
}

const XAI_RATIOS = ['16:9', '1:1', '9:16', '4:3', '3:4', '3:2', '2:3'] as const;
const PRESET_RATIOS = [...XAI_RATIOS, '2:1', '1:2', '19.5:9', '9:19.5', '20:9', '9:20'] as const;
const VIDU_RATIOS = ['16:9', '9:16', '3:4', '4:3', '1:1'] as const;

const grokImagine: ModelSpec = {
  id: 'grok-imagine',
  family: 'grok-imagine',
  description: 'Grok Imagine: text, image, reference images, video edit and extension (extra_body.operation)',
  promptMaxLength: 4096,
  resolutions: [720, 480],
  resolutionSuffix: 'p',
  capabilities: {
    text_to_video: {
      duration: { min: 1, max: 15 },
      aspectRatios: { allowed: ['16:9', '1:1', '9:16'], default: '16:9' },
      resolution: 'allowed',
    },
    image_to_video: {
      duration: { min: 1, max: 15 },
      aspectRatios: { allowed: ['auto', '16:9', '1:1', '9:16'], default: 'auto' },
      resolution: 'allowed',
      image: true,
    },
    reference_to_video: {
      duration: { min: 1, max: 10 },
      aspectRatios: { allowed: XAI_RATIOS, default: '16:9' },
      resolution: 'allowed',
      images: { min: 0, max: 7 },
      videos: { min: 0, max: 3 },
    },
    edit_video: {
      duration: 'forbidden',
      aspectRatios: 'forbidden',
      resolution: 'allowed',
      video: true,
      // xAI edits inputs of at most 8.7 s.
      inputVideoSeconds: { min: 1, max: 8 },
    },
    video_extend: {
      duration: { min: 2, max: 10 },
      aspectRatios: 'forbidden',
      resolution: 'forbidden',
      video: true,
      inputVideoSeconds: { min: 2, max: 15 },
    },
  },
};

const grokImagineVideo: ModelSpec = {
  id: 'grok-imagine-video',
  family: 'grok-imagine-video',
  description: 'Grok Imagine Video: text, one image or several reference images (JSON, data URIs)',
  promptMaxLength: 4096,
  resolutions: [720, 480],
  resolutionSuffix: 'P',
  capabilities: {
    text_to_video: {
      duration: { min: 1, max: 15, default: 6 },
      aspectRatios: { allowed: PRESET_RATIOS, custom: true, default: '16:9' },
      resolution: 'allowed',
    },
    image_to_video: {
      duration: { min: 1, max: 15, default: 6 },
      aspectRatios: { allowed: ['auto', ...PRESET_RATIOS], custom: true, default: 'auto' },
      resolution: 'allowed',
      image: true,
    },
    reference_to_video: {
      duration: { min: 1, max: 10, default: 6 },
      aspectRatios: { allowed: PRESET_RATIOS, custom: true, default: '16:9' },
      resolution: 'allowed',
      images: { min: 1, max: 7 },
    },
  },
};

type Duration = Range & { default: number };

/** grok-video-*: one `input_reference` animates an image; grok-video-3 also takes several as references. */
function grokVideo(id: string, duration: Duration, referenceDuration?: Duration): ModelSpec {
  const capabilities: Partial<Record<Capability, CapabilityRule>> = {
    text_to_video: { duration, resolution: 'allowed', aspectRatios: { allowed: XAI_RATIOS, default: '16:9' } },
    image_to_video: {
      duration,
      resolution: 'allowed',
      aspectRatios: { allowed: ['auto', ...XAI_RATIOS], default: 'auto' },
      image: true,
    },
  };
  if (referenceDuration) {
    capabilities.reference_to_video = {
      duration: referenceDuration,
      resolution: 'allowed',
      aspectRatios: { allowed: XAI_RATIOS, default: '16:9' },
      images: { min: 2, max: 7 },
    };
  }
  return {
    id,
    family: 'grok-video',
    description: `${id}: multipart with input_reference, size 480P–1080P`,
    promptMaxLength: 4096,
    resolutions: [720, 480, 540, 1080],
    resolutionSuffix: 'P',
    capabilities,
  };
}

function viduModel(tier: 'p' | 't', mix: boolean, shortSide: number, offPeak: boolean): ModelSpec {
  const id = `viduq3${tier}${mix ? '-mix' : ''}-${shortSide}p${offPeak ? '-offpeak' : ''}`;
  const duration = { min: 1, max: 16, default: 5 };
  const ratios = { allowed: VIDU_RATIOS, default: '16:9' };
  const capabilities: Partial<Record<Capability, CapabilityRule>> = mix
    ? { reference_to_video: { duration, aspectRatios: ratios, resolution: 'forbidden', images: { min: 1, max: 7 } } }
    : {
        text_to_video: { duration, aspectRatios: ratios, resolution: 'forbidden' },
        image_to_video: { duration, aspectRatios: 'ignored', resolution: 'forbidden', image: true },
        first_last_frame: {
          duration,
          aspectRatios: 'ignored',
          resolution: 'forbidden',
          image: true,
          lastImage: true,
        },
      };
  return {
    id,
    family: 'vidu-q3',
    description: `Vidu Q3 ${tier === 'p' ? 'Pro' : 'Turbo'}${mix ? ' reference (mix)' : ''} at ${shortSide}p${offPeak ? ', off-peak' : ''}`,
    promptMaxLength: 5000,
    resolutions: [shortSide],
    resolutionSuffix: 'p',
    fixedResolution: shortSide,
    offPeak,
    capabilities,
  };
}

function viduFamily(): ModelSpec[] {
  const models: ModelSpec[] = [];
  for (const [tier, mix] of [['p', false], ['t', false], ['p', true]] as const) {
    for (const shortSide of [540, 720, 1080]) {
      for (const offPeak of [false, true]) models.push(viduModel(tier, mix, shortSide, offPeak));
    }
  }
  return models;
}

export const MODELS: readonly ModelSpec[] = [
  grokImagine,
  grokImagineVideo,
  grokVideo('grok-video-1.5', { min: 1, max: 15, default: 6 }),
  grokVideo('grok-video-3', { min: 1, max: 15, default: 6 }, { min: 1, max: 10, default: 6 }),
  // The tiers are fixed lengths (seed 003): Pro 10 s, Max 15 s.
  grokVideo('grok-video-3-pro', { min: 10, max: 10, default: 10 }, { min: 10, max: 10, default: 10 }),
  grokVideo('grok-video-3-max', { min: 15, max: 15, default: 15 }, { min: 15, max: 15, default: 15 }),
  ...viduFamily(),
];

const byId = new Map(MODELS.map((model) => [model.id, model]));

export function findModel(id: string): ModelSpec | undefined {
  return byId.get(id);
}

/**
 * How long an upstream may take over one of the model's videos before the task fails
 * with upstream_timeout: an hour, or two days off-peak (Vidu runs those within 48 h).
 */
export function trackingLimitMs(model: ModelSpec): number {
  return (model.offPeak ? 49 : 1) * 3600_000;
}
