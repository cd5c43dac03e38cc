import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import { type CapabilityRule, findModel, type Range } from './models.ts';
import type { Capability, MediaRef, VideoJob } from './types.ts';

export type Inputs = Pick<VideoJob, 'images' | 'lastImage' | 'video' | 'videos' | 'inputParams'>;

/** The media a capability takes: each one it needs is present, none it does not take is sent, lists fit their range. */
export function readInputs(reader: BodyReader, capability: Capability, rule: CapabilityRule): Inputs {
  // The first frame is the job's first image: it keeps the name it was sent under.
  const image = single(reader, capability, 'image', 'image', rule.image);
  const images = list(reader, capability, 'images', 'image', rule.images);
  const lastImage = single(reader, capability, 'lastImage', 'image', rule.lastImage);
  // The list before the one: videos sent to an edit is named as what was sent, not as the video it lacks.
  const videos = list(reader, capability, 'videos', 'video', rule.videos, rule.video ? reader.keyFor('video') : null);
  const video = single(reader, capability, 'video', 'video', rule.video);
  const inputs: Inputs = {
    images: [...(image.value ? [image.value] : []), ...images.value],
    lastImage: lastImage.value,
    video: video.value,
    videos: videos.value,
    inputParams: { images: [...(image.value ? [image.key] : []), ...images.keys], lastImage: lastImage.key, video: video.key, videos: videos.keys },
  };
  if (capability === 'reference_to_video' && inputs.images.length + inputs.videos.length === 0) {
    const key = reader.keyFor('images');
    const either = rule.videos ? `${key} or ${reader.keyFor('videos')} must hold at least one reference` : `${key} is required`;
    throw new InvalidInput(`${either} for reference_to_video`, key, 'missing_required_parameter');
  }
  return inputs;
}

/** One input the capability needs (`wanted`) or does not take, and the key it was sent under (else the dialect's name for it). */
function single(reader: BodyReader, capability: Capability, slot: 'image' | 'lastImage' | 'video', kind: 'image' | 'video', wanted: boolean | undefined) {
  const found = reader.media(slot, kind);
  if (found && !wanted) throw new InvalidInput(`${found.key} is not accepted for ${capability}`, found.key, 'unsupported_parameter');
  if (!found && wanted) {
    throw new InvalidInput(`${reader.keyFor(slot)} is required for ${capability}`, reader.keyFor(slot), 'missing_required_parameter');
  }
  return { value: found?.value ?? null, key: found?.key ?? reader.keyFor(slot) };
}

/**
 * A list of inputs, as many as `range` allows (none where the capability takes none), and the
 * keys naming each; `one`: the field that takes one instead, where the capability does.
 */
function list(reader: BodyReader, capability: Capability, slot: 'images' | 'videos', kind: 'image' | 'video', range: Range | undefined, one: string | null = null) {
  const found = reader.mediaList(slot, kind);
  if (found && !range) {
    const instead = one ? `; it takes one ${kind}, as ${one}` : '';
    throw new InvalidInput(`${found.key} is not accepted for ${capability}${instead}`, found.key, 'unsupported_parameter');
  }
  const count = found?.value.length ?? 0;
  if (range && (count < range.min || count > range.max)) {
    const key = found?.key ?? reader.keyFor(slot);
    throw new InvalidInput(`${key} must hold ${range.min} to ${range.max} items for ${capability}`, key);
  }
  return { value: found?.value ?? [], keys: (found?.value ?? []).map((_, index) => `${found!.key}[${index}]`) };
}

/** What a refusal about one of a job's inputs names: as the request sent it, where the job kept that. */
export function inputParam(job: Pick<VideoJob, 'inputParams'>, input: { images: number } | { videos: number } | 'lastImage' | 'video'): string {
  if (input === 'lastImage') return job.inputParams?.lastImage ?? 'last_image';
  if (input === 'video') return job.inputParams?.video ?? 'video';
  if ('videos' in input) return job.inputParams?.videos?.[input.videos] ?? `videos[${input.videos}]`;
  return job.inputParams?.images[input.images] ?? `images[${input.images}]`;
}

/** One of a job's inputs, with what it must be and what a refusal about it names. */
export interface JobInput {
  ref: MediaRef;
  kind: 'image' | 'video';
  /** `video` is the source of an edit or extension, whose length the capability bounds. */
  slot: 'images' | 'lastImage' | 'video' | 'videos';
  param: string;
  /** The length the capability allows this input (an edit's or extension's source); none for any other. */
  lengthRange?: Range;
}

/**
 * Every input of a job, in one order (images, last image, video, reference videos): each
 * place that fetches, measures or judges inputs walks this list, so that none is forgotten.
 */
export function jobInputs(job: Pick<VideoJob, 'model' | 'capability' | 'images' | 'lastImage' | 'video' | 'videos' | 'inputParams'>): JobInput[] {
  const lengthRange = findModel(job.model)?.capabilities[job.capability]?.inputVideoSeconds;
  return [
    ...job.images.map((ref, index): JobInput => ({ ref, kind: 'image', slot: 'images', param: inputParam(job, { images: index }) })),
    ...(job.lastImage ? [{ ref: job.lastImage, kind: 'image', slot: 'lastImage', param: inputParam(job, 'lastImage') } satisfies JobInput] : []),
    ...(job.video ? [{ ref: job.video, kind: 'video', slot: 'video', param: inputParam(job, 'video'), lengthRange } satisfies JobInput] : []),
    ...job.videos.map((ref, index): JobInput => ({ ref, kind: 'video', slot: 'videos', param: inputParam(job, { videos: index }) })),
  ];
}

/** Values made one per input of `jobInputs(job)` (a stored copy, a local file), put back in the job's places. */
export function bySlot<T>(inputs: JobInput[], values: T[]): { images: T[]; lastImage: T | null; video: T | null; videos: T[] } {
  const of = (slot: JobInput['slot']) => values.filter((_, index) => inputs[index]!.slot === slot);
  return { images: of('images'), lastImage: of('lastImage')[0] ?? null, video: of('video')[0] ?? null, videos: of('videos') };
}

/** Whether the job has any input at all (most creates are a prompt alone: nothing to store or measure). */
export function hasInputs(job: Pick<VideoJob, 'images' | 'lastImage' | 'video' | 'videos'>): boolean {
  return job.images.length > 0 || job.lastImage !== null || job.video !== null || job.videos.length > 0;
}
