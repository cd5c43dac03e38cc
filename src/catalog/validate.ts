import { z } from 'zod';
import { InvalidInput } from '../errors.ts';
import { DIALECTS, type Dialect, type Slot } from './dialects.ts';
import { findModel, type CapabilityRule, type ModelSpec, type Range } from './models.ts';
import { UploadedFile, type AspectRatio, type Capability, type MediaRef, type VideoJob } from './types.ts';

/**
 * validate(route, body) is the one gate every create route shares: a pure function from
 * the client's body to a VideoJob, or an ApiError whose `param` names the offending field.
 */
export type Route = 'create' | 'edit' | 'extend';

type Body = Record<string, unknown>;

const OPERATIONS = ['text_to_video', 'image_to_video', 'reference_to_video', 'edit_video', 'video_extend'] as const;

// Multipart forms carry every value as text, so numbers and booleans may come as strings.
const integerLike = z.union([z.number().int(), z.string().trim().regex(/^[-+]?\d+$/).transform(Number)]);
const booleanLike = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
const mediaLike = z.union([
  z.string().describe('an http(s) URL or a base64 data URI'),
  z.object({ url: z.string() }),
  // The OpenAI shapes: input_reference: {image_url}; video: {id} of a finished video.
  z.object({ image_url: z.string() }),
  z.object({ id: z.string() }),
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

type Parsed<S extends Slot> = z.output<(typeof SLOT_TYPES)[S]['schema']>;

export function validate(route: Route, input: unknown): VideoJob {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInput('The request body must be a JSON object or a multipart form', null, 'invalid_body');
  }
  const body = input as Body;
  const model = readModel(body);
  const reader = new BodyReader(body, DIALECTS[model.family]);
  const prompt = readPrompt(reader, model);
  const capability = chooseCapability(route, model, reader);
  const rule = model.capabilities[capability]!;
  const inputs = readInputs(reader, capability, rule);
  const warnings: string[] = [];
  const offPeak = model.offPeak ? { offPeak: true } : {};
  const frame = readFrame(reader);
  return {
    model: model.id,
    capability,
    prompt,
    seconds: readDuration(reader, capability, rule),
    resolution: readResolution(reader, model, rule, frame),
    aspectRatio: readAspectRatio(reader, capability, rule, warnings, frame),
    ...inputs,
    inputVideoSeconds: readInputVideoSeconds(reader, capability, rule),
    options: { ...readOptions(reader), ...offPeak },
    warnings,
  };
}

/** A remix: the source's job with a new prompt, which must suit the source's model. */
export function validateRemix(source: VideoJob, input: unknown): VideoJob {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInput('The request body must be a JSON object or a multipart form', null, 'invalid_body');
  }
  const model = findModel(source.model)!;
  return { ...source, prompt: readPrompt(new BodyReader(input as Body, DIALECTS[model.family]), model), warnings: [] };
}

/** Reads canonical slots out of a body through a dialect's key names. */
class BodyReader {
  constructor(
    private readonly body: Body,
    readonly dialect: Dialect,
  ) {
    const extra = body.extra_body;
    if (typeof extra === 'string') {
      // Some clients (and multipart forms) send extra_body as a JSON string.
      try {
        this.extra = JSON.parse(extra) as unknown;
      } catch {
        throw new InvalidInput('extra_body must be an object', 'extra_body');
      }
    } else {
      this.extra = extra;
    }
    if (this.extra !== undefined && this.extra !== null && (typeof this.extra !== 'object' || Array.isArray(this.extra))) {
      throw new InvalidInput('extra_body must be an object', 'extra_body');
    }
  }

  private readonly extra: unknown;

  private value(key: string): unknown {
    if (!key.startsWith('extra_body.')) return this.body[key];
    const extra = this.extra as Body | null | undefined;
    return extra?.[key.slice('extra_body.'.length)];
  }

  /** The one key (if any) under which the client sent this slot; two keys for one slot conflict. */
  find(slot: Slot): { key: string; value: unknown } | undefined {
    const found = (this.dialect.keys[slot] ?? [])
      .map((key) => ({ key, value: this.value(key) }))
      .filter(({ key, value }) => value !== undefined && value !== null && this.belongs(slot, key, value));
    const [first, second] = found;
    if (first && second) {
      throw new InvalidInput(`Pass either ${first.key} or ${second.key}, not both`, second.key, 'conflicting_parameters');
    }
    return first;
  }

  /** A repeatable key fills `image` with one value and `images` with several. */
  private belongs(slot: Slot, key: string, value: unknown): boolean {
    if (!this.dialect.oneOrMany?.includes(key)) return true;
    const many = Array.isArray(value) && value.length > 1;
    return slot === 'images' ? many : !many;
  }

  /** The key a client should use for a slot, for "is required" messages. */
  keyFor(slot: Slot): string {
    return this.dialect.keys[slot]?.[0] ?? slot;
  }

  /** The slot's value, parsed with its type in SLOT_TYPES. */
  parse<S extends Slot>(slot: S): { key: string; value: Parsed<S> } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    const { schema, expect } = SLOT_TYPES[slot];
    // TypeScript cannot pair an indexed schema with its own output type; the table fixes the pair.
    const parsed = (schema as unknown as z.ZodType<Parsed<S>>).safeParse(found.value);
    if (!parsed.success) throw new InvalidInput(`${found.key} must be ${expect}`, found.key);
    return { key: found.key, value: parsed.data };
  }

  string(slot: 'prompt' | 'resolution' | 'aspectRatio' | 'operation'): { key: string; value: string } | undefined {
    const found = this.parse(slot);
    return found && { key: found.key, value: String(found.value) };
  }

  media(slot: Slot, kind: 'image' | 'video'): { key: string; value: MediaRef } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    const value = Array.isArray(found.value) && found.value.length === 1 ? found.value[0] : found.value;
    return { key: found.key, value: toMediaRef(value, found.key, kind) };
  }

  mediaList(slot: Slot, kind: 'image' | 'video'): { key: string; value: MediaRef[] } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    // A multipart form with a single repeated field arrives as one value.
    const items = Array.isArray(found.value) ? found.value : [found.value];
    return { key: found.key, value: items.map((item, index) => toMediaRef(item, `${found.key}[${index}]`, kind)) };
  }
}

function readModel(body: Body): ModelSpec {
  const id = body.model;
  if (id === undefined || id === null || id === '') throw new InvalidInput('model is required', 'model', 'missing_required_parameter');
  if (typeof id !== 'string') throw new InvalidInput('model must be a string', 'model');
  const model = findModel(id);
  if (!model) {
    throw new InvalidInput(`The model '${id}' does not exist; GET /v1/models lists the models`, 'model', 'model_not_found');
  }
  return model;
}

function readPrompt(reader: BodyReader, model: ModelSpec): string {
  const prompt = reader.string('prompt');
  if (!prompt || prompt.value.trim() === '') {
    throw new InvalidInput('prompt is required', 'prompt', 'missing_required_parameter');
  }
  if (prompt.value.length > model.promptMaxLength) {
    throw new InvalidInput(`prompt must be at most ${model.promptMaxLength} characters for ${model.id}`, 'prompt');
  }
  return prompt.value;
}

function chooseCapability(route: Route, model: ModelSpec, reader: BodyReader): Capability {
  const supported = Object.keys(model.capabilities) as Capability[];
  const refuse = (capability: Capability, param: string): never => {
    throw new InvalidInput(
      `${model.id} does not support ${capability}; it supports ${supported.join(', ')}`,
      param,
      'unsupported_capability',
    );
  };
  const operation = reader.parse('operation');
  const routed: Capability | undefined = route === 'edit' ? 'edit_video' : route === 'extend' ? 'video_extend' : undefined;
  if (routed && operation && operation.value !== routed) {
    throw new InvalidInput(`${operation.key} ${operation.value} contradicts this route, which makes ${routed}`, operation.key);
  }
  const explicit = routed ?? (operation?.value as Capability | undefined);
  if (explicit) {
    return model.capabilities[explicit] ? explicit : refuse(explicit, operation?.key ?? 'model');
  }

  const video = reader.find('video');
  const images = reader.find('images') ?? reader.find('videos');
  const image = reader.find('image');
  const lastImage = reader.find('lastImage');
  let inferred: Capability;
  let cause: string;
  if (video) {
    if (model.capabilities.edit_video || model.capabilities.video_extend) {
      throw new InvalidInput(
        'A video input needs extra_body.operation: edit_video or video_extend',
        reader.keyFor('operation'),
        'missing_required_parameter',
      );
    }
    return refuse('edit_video', video.key);
  } else if (images) {
    [inferred, cause] = ['reference_to_video', images.key];
  } else if (lastImage && !image) {
    throw new InvalidInput(
      `${lastImage.key} needs ${reader.keyFor('image')} (the first frame); a last frame alone is not supported`,
      lastImage.key,
      'missing_required_parameter',
    );
  } else if (image && lastImage) {
    [inferred, cause] = ['first_last_frame', lastImage.key];
  } else if (image) {
    [inferred, cause] = ['image_to_video', image.key];
  } else {
    inferred = 'text_to_video';
    // A model without text-to-video needs some input: name the one it needs first.
    const needed = supported[0] ? model.capabilities[supported[0]] : undefined;
    cause = needed?.images ? reader.keyFor('images') : reader.keyFor('image');
    if (!model.capabilities.text_to_video) {
      throw new InvalidInput(`${model.id} needs ${cause}: it supports ${supported.join(', ')}`, cause, 'missing_required_parameter');
    }
  }
  return model.capabilities[inferred] ? inferred : refuse(inferred, cause);
}

type Inputs = Pick<VideoJob, 'images' | 'lastImage' | 'video' | 'videos'>;

function readInputs(reader: BodyReader, capability: Capability, rule: CapabilityRule): Inputs {
  const single = (slot: 'image' | 'lastImage' | 'video', kind: 'image' | 'video', wanted: boolean | undefined) => {
    const found = reader.media(slot, kind);
    if (found && !wanted) throw new InvalidInput(`${found.key} is not accepted for ${capability}`, found.key, 'unsupported_parameter');
    if (!found && wanted) {
      throw new InvalidInput(`${reader.keyFor(slot)} is required for ${capability}`, reader.keyFor(slot), 'missing_required_parameter');
    }
    return found?.value ?? null;
  };
  const list = (slot: 'images' | 'videos', kind: 'image' | 'video', range: Range | undefined) => {
    const found = reader.mediaList(slot, kind);
    if (found && !range) throw new InvalidInput(`${found.key} is not accepted for ${capability}`, found.key, 'unsupported_parameter');
    const count = found?.value.length ?? 0;
    if (range && (count < range.min || count > range.max)) {
      const key = found?.key ?? reader.keyFor(slot);
      throw new InvalidInput(`${key} must hold ${range.min} to ${range.max} items for ${capability}`, key);
    }
    return found?.value ?? [];
  };
  const image = single('image', 'image', rule.image);
  const inputs: Inputs = {
    images: [...(image ? [image] : []), ...list('images', 'image', rule.images)],
    lastImage: single('lastImage', 'image', rule.lastImage),
    video: single('video', 'video', rule.video),
    videos: list('videos', 'video', rule.videos),
  };
  if (capability === 'reference_to_video' && inputs.images.length + inputs.videos.length === 0) {
    const key = reader.keyFor('images');
    throw new InvalidInput(`${key} is required for reference_to_video`, key, 'missing_required_parameter');
  }
  return inputs;
}

function readDuration(reader: BodyReader, capability: Capability, rule: CapabilityRule): number | null {
  const found = reader.parse('duration');
  if (rule.duration === 'forbidden') {
    if (found) {
      throw new InvalidInput(`${capability} takes no ${found.key}: the output follows the input video`, found.key, 'unsupported_parameter');
    }
    return null;
  }
  const { min, max } = rule.duration;
  if (!found) {
    if (rule.duration.default !== undefined) return rule.duration.default;
    const key = reader.keyFor('duration');
    throw new InvalidInput(`${key} is required for ${capability} (${min}-${max} seconds)`, key, 'missing_required_parameter');
  }
  if (found.value < min || found.value > max) {
    const allowed = min === max ? `must be ${min}` : `must be between ${min} and ${max}`;
    throw new InvalidInput(`${found.key} ${allowed} seconds for ${capability}`, found.key);
  }
  return found.value;
}

/** An OpenAI-style `size` such as "1280x720": it names the tier (the short side) and a ratio. */
interface Frame {
  width: number;
  height: number;
}

function readFrame(reader: BodyReader): Frame | null {
  const found = reader.find('resolution');
  const match = typeof found?.value === 'string' ? /^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$/.exec(found.value) : null;
  return match ? { width: Number(match[1]), height: Number(match[2]) } : null;
}

function readResolution(reader: BodyReader, model: ModelSpec, rule: CapabilityRule, frame: Frame | null): VideoJob['resolution'] {
  const found = reader.string('resolution');
  const label = (shortSide: number) => ({ label: `${shortSide}${model.resolutionSuffix}`, shortSide });
  if (model.fixedResolution !== undefined) {
    if (found) {
      throw new InvalidInput(`${model.id} fixes its resolution in the model name; drop ${found.key}`, found.key, 'unsupported_parameter');
    }
    return label(model.fixedResolution);
  }
  if (rule.resolution === 'forbidden') {
    if (found) throw new InvalidInput(`${found.key} is not accepted for this capability`, found.key, 'unsupported_parameter');
    return null;
  }
  if (!found) return label(model.resolutions[0]!);
  const match = /^(\d{3,4})p?$/i.exec(found.value.trim());
  const shortSide = frame ? Math.min(frame.width, frame.height) : match ? Number(match[1]) : NaN;
  if (!model.resolutions.includes(shortSide)) {
    const allowed = model.resolutions.map((side) => `${side}${model.resolutionSuffix}`).join(', ');
    throw new InvalidInput(`${found.key} must be one of ${allowed} (or WIDTHxHEIGHT with that short side) for ${model.id}`, found.key);
  }
  return label(shortSide);
}

const RATIO = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/;

/** The ratio a WIDTHxHEIGHT size implies: the preset within 2% (854x480 is 16:9), else the exact one. */
function ratioOf(frame: Frame, presets: readonly string[], reader: BodyReader): { key: string; value: string } {
  const wanted = frame.width / frame.height;
  const preset = presets.find((preset) => {
    const match = RATIO.exec(preset);
    return match !== null && Math.abs(Number(match[1]) / Number(match[2]) / wanted - 1) < 0.02;
  });
  const divisor = gcd(frame.width, frame.height);
  return { key: reader.find('resolution')!.key, value: preset ?? `${frame.width / divisor}:${frame.height / divisor}` };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function readAspectRatio(reader: BodyReader, capability: Capability, rule: CapabilityRule, warnings: string[], frame: Frame | null): AspectRatio | null {
  const found = reader.string('aspectRatio') ?? (frame && typeof rule.aspectRatios === 'object' ? ratioOf(frame, rule.aspectRatios.allowed, reader) : undefined);
  if (rule.aspectRatios === 'forbidden') {
    if (found) {
      throw new InvalidInput(`${capability} takes no ${found.key}: the output follows the input video`, found.key, 'unsupported_parameter');
    }
    return null;
  }
  if (rule.aspectRatios === 'ignored') {
    if (found) warnings.push(`${found.key} is ignored for ${capability}: the output follows the input image`);
    return { kind: 'auto' };
  }
  const value = found?.value.trim() ?? rule.aspectRatios.default;
  if (value === 'auto' && rule.aspectRatios.allowed.includes('auto')) return { kind: 'auto' };
  const match = RATIO.exec(value);
  const allowed = rule.aspectRatios.allowed.includes(value) || (rule.aspectRatios.custom === true && match !== null);
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  // Custom ratios are bounded so that the frame stays a picture, not a strip.
  if (!allowed || !match || !(width > 0 && height > 0) || width / height > 4 || height / width > 4) {
    const key = found?.key ?? 'aspect_ratio';
    const custom = rule.aspectRatios.custom ? ', or a custom width:height between 1:4 and 4:1' : '';
    throw new InvalidInput(`${key} must be one of ${rule.aspectRatios.allowed.join(', ')}${custom} for ${capability}`, key);
  }
  return { kind: 'ratio', label: value, width, height };
}

function readInputVideoSeconds(reader: BodyReader, capability: Capability, rule: CapabilityRule): number | null {
  const found = reader.parse('inputVideoSeconds');
  if (!found) return null;
  if (!rule.inputVideoSeconds) {
    throw new InvalidInput(`${found.key} is only for video edits and extensions`, found.key, 'unsupported_parameter');
  }
  const { min, max } = rule.inputVideoSeconds;
  if (found.value < 1) throw new InvalidInput(`${found.key} must be a positive whole number of seconds`, found.key);
  if (found.value < min || found.value > max) {
    throw new InvalidInput(`${found.key} must be between ${min} and ${max} seconds for ${capability}`, found.key);
  }
  return found.value;
}

function readOptions(reader: BodyReader): VideoJob['options'] {
  const options: VideoJob['options'] = {};
  const audio = reader.parse('audio')?.value;
  const bgm = reader.parse('bgm')?.value;
  const seed = reader.parse('seed');
  if (audio !== undefined) options.audio = audio;
  if (bgm !== undefined) options.bgm = bgm;
  if (seed) {
    if (seed.value < 0 || seed.value > 2 ** 31 - 1) throw new InvalidInput(`${seed.key} must be between 0 and 2147483647`, seed.key);
    options.seed = seed.value;
  }
  return options;
}

const DATA_URI = /^data:([\w.+-]+\/[\w.+-]+)((?:;[\w.+-]+=[^;,]*)*);base64,([A-Za-z0-9+/=\s]+)$/;

function toMediaRef(value: unknown, param: string, kind: 'image' | 'video'): MediaRef {
  const parsed = mediaLike.safeParse(value);
  const expectation = `an http(s) URL, a data URI (data:${kind}/…;base64,…), {"url": …} or an uploaded file`;
  if (!parsed.success) throw new InvalidInput(`${param} must be ${expectation}`, param);
  const media = parsed.data;
  if (media instanceof UploadedFile) {
    if (!media.mime.startsWith(`${kind}/`) && media.mime !== 'application/octet-stream') {
      throw new InvalidInput(`${param} must be an ${kind} file, not ${media.mime}`, param, 'invalid_media_type');
    }
    return { kind: 'upload', path: media.path, mime: media.mime, filename: media.filename };
  }
  if (typeof media === 'object' && 'id' in media) {
    if (kind !== 'video') throw new InvalidInput(`${param} takes {"id": …} only for a video input`, param);
    if (!/^video_[0-9a-f]{1,64}$/.test(media.id)) throw new InvalidInput(`${param}.id is not a video id`, `${param}.id`);
    return { kind: 'video', id: media.id };
  }
  const text = (typeof media === 'string' ? media : 'url' in media ? media.url : media.image_url).trim();
  if (text.startsWith('data:')) {
    const match = DATA_URI.exec(text);
    if (!match) throw new InvalidInput(`${param} is not a valid base64 data URI`, param);
    const mime = match[1]!.toLowerCase();
    if (!mime.startsWith(`${kind}/`)) throw new InvalidInput(`${param} must be an ${kind} data URI, not ${mime}`, param, 'invalid_media_type');
    return { kind: 'data', mime, base64: match[3]! };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInput(`${param} must be ${expectation}`, param);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInput(`${param} must use http or https`, param);
  }
  return { kind: 'url', url: url.toString() };
}
