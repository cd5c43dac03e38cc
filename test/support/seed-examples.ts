import { readFileSync } from 'node:fs';
import { mp4File, pngFile } from './media.ts';

/**
 * Every request example of ../shared/seeds, as data, so that several test files send the
 * very same bodies: test/seeds.test.ts (the submit answer, on a ROLE=api gateway) and
 * test/upstream-seeds.test.ts (each example end to end through the xAI or Vidu adapter).
 *
 * The seeds write their media two ways: `https://example.com/<file>` links (seeds 000, 001,
 * 002) and data URIs (seed 003/004). Tests reach no internet, so each test file says what
 * an example.com file becomes (`SeedMedia`): a data URI, or a URL on a local origin
 * (`EXAMPLE_COM_FILES` and `exampleComFile` give what to serve there). The data URIs of
 * seed 003 stay data URIs.
 */

export type SeedId = '000' | '001' | '002' | '003';

/** What a seed example's submit answer must show, beyond what every accepted create shows. */
export interface SeedExpect {
  object?: 'video' | 'video.generation.job';
  seconds?: string;
  size?: string;
  video_url?: string;
}

export interface SeedExample {
  seed: SeedId;
  /** The example's heading in its seed (`text-to-video`, `7.3 reference-image-to-video`). */
  name: string;
  route: string;
  body: Record<string, unknown>;
  expect: SeedExpect;
}

/** The example.com files the seeds link to, and what each one is. */
export const EXAMPLE_COM_FILES = {
  'portrait.png': { kind: 'image', width: 240, height: 320 },
  'person.png': { kind: 'image', width: 320, height: 240 },
  'street.png': { kind: 'image', width: 240, height: 320 },
  'source.png': { kind: 'image', width: 320, height: 240 },
  'head.png': { kind: 'image', width: 320, height: 240 },
  'tail.png': { kind: 'image', width: 240, height: 320 },
  'ref-1.png': { kind: 'image', width: 320, height: 240 },
  'ref-2.png': { kind: 'image', width: 240, height: 320 },
  // A 2 s clip: seed 001 edits it (xAI: inputs up to 8.7 s) and extends it (2–15 s).
  'source.mp4': { kind: 'video', seconds: 2 },
} as const;

export type ExampleComFile = keyof typeof EXAMPLE_COM_FILES;

/**
 * What the seeds' media become in a test. Either `link` says what each example.com file
 * becomes, or (shorter) every example.com image becomes `image` (the second of a pair
 * `otherImage`) and the video `video`.
 */
export interface SeedMedia {
  /** What `https://example.com/<file>` becomes in this test. */
  link?(file: ExampleComFile): string;
  /** Seed 003's `data:image/png;base64,…` (BASE64_IMAGE_DATA, FIRST_IMAGE_BASE64). */
  image: string;
  /** Seed 003's SECOND_IMAGE_BASE64. */
  otherImage: string;
  /** Without `link`: what `https://example.com/source.mp4` becomes. */
  video?: string;
}

/** The second image of a pair in the seeds (7.3's street, 002's tail and ref-2). */
const SECOND_OF_PAIR: ReadonlySet<ExampleComFile> = new Set(['street.png', 'tail.png', 'ref-2.png']);

function linker(media: SeedMedia): (file: ExampleComFile) => string {
  if (media.link) return media.link.bind(media);
  return (file) => {
    if (EXAMPLE_COM_FILES[file].kind === 'video') {
      if (media.video === undefined) throw new Error('SeedMedia needs `video` or `link`');
      return media.video;
    }
    return SECOND_OF_PAIR.has(file) ? media.otherImage : media.image;
  };
}

/** The bytes and type of an example.com file, made once per process with ffmpeg. */
export function exampleComFile(file: ExampleComFile): { type: string; body: Buffer } {
  const spec = EXAMPLE_COM_FILES[file];
  if (spec.kind === 'video') return { type: 'video/mp4', body: readFileSync(mp4File(spec.seconds)) };
  return { type: 'image/png', body: readFileSync(pngFile(spec.width, spec.height)) };
}

/** Every example's key in `seedExamples`: its seed and its name, `001 7.3 reference-image-to-video`. */
export type SeedKey =
  | '000 text-to-video'
  | '000 single-image-to-video'
  | '001 7.1 text-to-video'
  | '001 7.2 single-image-to-video'
  | '001 7.3 reference-image-to-video'
  | '001 7.4 video editing'
  | '001 7.5 video extension'
  | '002 text-to-video'
  | '002 single-image-to-video'
  | '002 first-and-last-frame'
  | '002 reference-image-to-video'
  | '003 text-to-video'
  | '003 single image'
  | '003 multiple images';

/**
 * The request examples of every seed, with `media` in place of their files, keyed by
 * `<seed> <name>` in the seeds' order (Object.values() is the list).
 */
export function seedExamples(media: SeedMedia): Record<SeedKey, SeedExample> {
  const examples = Object.fromEntries(seedExampleList(media).map((example) => [`${example.seed} ${example.name}`, example]));
  return examples as Record<SeedKey, SeedExample>;
}

/** The same examples as a list, in the seeds' order. */
export function seedExampleList(media: SeedMedia): SeedExample[] {
  const link = linker(media);
  const { image, otherImage } = media;
  return [
    // ─── 000: legacy grok-imagine on POST /v1/video/generations ───
    {
      seed: '000',
      name: 'text-to-video',
      route: '/v1/video/generations',
      body: { model: 'grok-imagine', prompt: ' camera, fast, camera. ', size: '720p', aspect_ratio: '16:9', duration: 6 },
      expect: { object: 'video.generation.job', seconds: '6', size: '720p' },
    },
    {
      seed: '000',
      name: 'single-image-to-video',
      route: '/v1/video/generations',
      body: { model: 'grok-imagine', prompt: ' camera, camera. ', image: link('portrait.png'), size: '480p', aspect_ratio: '9:16', duration: 10 },
      expect: { seconds: '10', size: '480p' },
    },

    // ─── 001: grok-imagine on POST /v1/videos ───
    {
      seed: '001',
      name: '7.1 text-to-video',
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' camera, fast, camera. ', size: '720p', aspect_ratio: '16:9', duration: 6 },
      expect: { object: 'video', seconds: '6' },
    },
    {
      seed: '001',
      name: '7.2 single-image-to-video',
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' camera, camera. ', image: link('portrait.png'), size: '480p', aspect_ratio: 'auto', duration: 10 },
      expect: {},
    },
    {
      seed: '001',
      name: '7.3 reference-image-to-video',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine',
        prompt: ' @Image1 @Image2, slow camera push-in. ',
        images: [link('person.png'), link('street.png')],
        size: '720p',
        aspect_ratio: '4:3',
        duration: 10,
      },
      expect: {},
    },
    {
      seed: '001',
      name: '7.4 video editing',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine',
        prompt: 'to change videointo, reserved action and. ',
        video: link('source.mp4'),
        size: '720p',
        extra_body: { operation: 'edit_video', input_video_seconds: 8 },
      },
      expect: { seconds: '8' },
    },
    {
      seed: '001',
      name: '7.5 video extension',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine',
        prompt: ' camera, video and Orientation. ',
        video: link('source.mp4'),
        duration: 6,
        extra_body: { operation: 'video_extend', input_video_seconds: 8 },
      },
      expect: { seconds: '6' },
    },

    // ─── 002: the Vidu Q3 family on POST /v1/video/generations ───
    {
      seed: '002',
      name: 'text-to-video',
      route: '/v1/video/generations',
      body: {
        model: 'viduq3p-720p',
        prompt: ' camera, and, slow camera push-in. ',
        aspect_ratio: '16:9',
        duration: 5,
        extra_body: { audio: false, seed: 42, bgm: false },
      },
      expect: { object: 'video.generation.job', size: '720p' },
    },
    {
      seed: '002',
      name: 'single-image-to-video',
      route: '/v1/video/generations',
      body: { model: 'viduq3t-540p', prompt: ' camera, natural motion, camera. ', image: link('source.png'), duration: 5, extra_body: { seed: 42 } },
      expect: { object: 'video.generation.job', size: '540p' },
    },
    {
      seed: '002',
      name: 'first-and-last-frame',
      route: '/v1/video/generations',
      body: { model: 'viduq3p-1080p-offpeak', prompt: ', keep identity stable, action. ', image: link('head.png'), last_image: link('tail.png'), duration: 6 },
      expect: { object: 'video.generation.job', size: '1080p' },
    },
    {
      seed: '002',
      name: 'reference-image-to-video',
      route: '/v1/video/generations',
      body: {
        model: 'viduq3p-mix-720p',
        prompt: 'A @Image1 walking through a beach in the visual style of @Image2',
        reference_image_urls: [link('ref-1.png'), link('ref-2.png')],
        aspect_ratio: '16:9',
        duration: 5,
        extra_body: { audio: false, seed: 42 },
      },
      expect: { object: 'video.generation.job', size: '720p' },
    },

    // ─── 003/004: grok-imagine-video on POST /v1/videos ───
    {
      seed: '003',
      name: 'text-to-video',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video',
        prompt: 'A city street in the early morning, sunlight filtering through leaves, camera slowly moving forward',
        seconds: '8',
        aspect_ratio: '16:9',
        resolution: '720P',
      },
      expect: { seconds: '8', size: '720P', video_url: '' },
    },
    {
      seed: '003',
      name: 'single image',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video',
        prompt: 'Have the person in the reference image turn around naturally, keeping a soft depth of field in the background',
        seconds: '6',
        aspect_ratio: '9:16',
        resolution: '720P',
        image,
      },
      expect: { seconds: '6' },
    },
    {
      seed: '003',
      name: 'multiple images',
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video',
        prompt: 'Reference the subject features from multiple images to generate a coherent product showcase video',
        seconds: '10',
        aspect_ratio: '16:9',
        resolution: '720P',
        images: [image, otherImage],
      },
      expect: {},
    },
  ];
}

/** The seed's upstream family by model name (upstream-apis.md §5). */
export function upstreamOf(example: SeedExample): 'xai' | 'vidu' {
  return String(example.body.model).startsWith('vidu') ? 'vidu' : 'xai';
}
