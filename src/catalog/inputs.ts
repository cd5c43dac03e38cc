import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import type { CapabilityRule, Range } from './models.ts';
import type { Capability, VideoJob } from './types.ts';

export type Inputs = Pick<VideoJob, 'images' | 'lastImage' | 'video' | 'videos'>;

/** The media a capability takes: each one it needs is present, none it does not take is sent, lists fit their range. */
export function readInputs(reader: BodyReader, capability: Capability, rule: CapabilityRule): Inputs {
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
