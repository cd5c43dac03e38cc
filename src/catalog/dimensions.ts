import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import type { CapabilityRule, ModelSpec } from './models.ts';
import type { AspectRatio, Capability, VideoJob } from './types.ts';

/**
 * The output's tier and shape. A tier (`720p`) sets the short side and the aspect ratio
 * comes on its own; an OpenAI-style `WIDTHxHEIGHT` sets both at once, and is answered
 * back as the client wrote it, since that is the size the client asked for.
 */
export function readDimensions(
  reader: BodyReader,
  model: ModelSpec,
  capability: Capability,
  rule: CapabilityRule,
  warnings: string[],
): Pick<VideoJob, 'resolution' | 'aspectRatio'> {
  const frame = readFrame(reader);
  return {
    resolution: readResolution(reader, model, rule, frame),
    aspectRatio: readAspectRatio(reader, model, capability, rule, warnings, frame),
  };
}

/** A `size` such as "1280x720", and the key it came under. */
interface Frame {
  key: string;
  width: number;
  height: number;
}

function readFrame(reader: BodyReader): Frame | null {
  const found = reader.find('resolution');
  const match = typeof found?.value === 'string' ? /^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$/.exec(found.value) : null;
  return found && match ? { key: found.key, width: Number(match[1]), height: Number(match[2]) } : null;
}

function readResolution(reader: BodyReader, model: ModelSpec, rule: CapabilityRule, frame: Frame | null): VideoJob['resolution'] {
  const found = reader.string('resolution');
  const match = found && /^(\d{3,4})p?$/i.exec(found.value.trim());
  if (model.fixedResolution !== undefined) {
    // The model's own tier, said again, asks for the video it makes anyway.
    if (found && !(match && Number(match[1]) === model.fixedResolution)) {
      const fixed = `${model.fixedResolution}${model.resolutionSuffix}`;
      throw new InvalidInput(`${model.id} fixes its resolution in the model name (it makes ${fixed}); drop ${found.key}`, found.key, 'unsupported_parameter');
    }
    return tier(model, model.fixedResolution);
  }
  if (rule.resolution === 'forbidden') {
    if (found) throw new InvalidInput(`${found.key} is not accepted for this capability`, found.key, 'unsupported_parameter');
    return null;
  }
  if (!found) return tier(model, model.resolutions[0]!);
  const shortSide = frame ? Math.min(frame.width, frame.height) : match ? Number(match[1]) : NaN;
  if (!model.resolutions.includes(shortSide)) {
    const allowed = model.resolutions.map((side) => `${side}${model.resolutionSuffix}`).join(', ');
    throw new InvalidInput(`${found.key} must be one of ${allowed} (or WIDTHxHEIGHT with that short side) for ${model.id}`, found.key);
  }
  return frame ? { label: `${frame.width}x${frame.height}`, shortSide } : tier(model, shortSide);
}

function tier(model: ModelSpec, shortSide: number): VideoJob['resolution'] {
  return { label: `${shortSide}${model.resolutionSuffix}`, shortSide };
}

const RATIO = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/;

/** Ratios closer than this are one: 854x480 is 16:9. */
const SAME_RATIO = 0.02;

const nearly = (a: number, b: number) => Math.abs(a / b - 1) < SAME_RATIO;

/** The ratio a WIDTHxHEIGHT size implies: the preset it nearly is, else the exact one. */
function ratioOf(frame: Frame, presets: readonly string[]): string {
  const preset = presets.find((preset) => {
    const match = RATIO.exec(preset);
    return match !== null && nearly(Number(match[1]) / Number(match[2]), frame.width / frame.height);
  });
  const divisor = gcd(frame.width, frame.height);
  return preset ?? `${frame.width / divisor}:${frame.height / divisor}`;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** An aspect_ratio beside a WIDTHxHEIGHT that asks for another shape (`auto` included); a malformed one is left to the list check. */
function contradicts(ratio: string, frame: Frame): boolean {
  if (ratio.trim() === 'auto') return true;
  const match = RATIO.exec(ratio.trim());
  return match !== null && !nearly(Number(match[1]) / Number(match[2]), frame.width / frame.height);
}

function readAspectRatio(
  reader: BodyReader,
  model: ModelSpec,
  capability: Capability,
  rule: CapabilityRule,
  warnings: string[],
  frame: Frame | null,
): AspectRatio | null {
  if (frame && typeof rule.aspectRatios !== 'object') {
    // The shape half of the size would be dropped and the answered size would not be the output's.
    const input = rule.aspectRatios === 'forbidden' ? 'video' : 'image';
    const tierAlone = `${Math.min(frame.width, frame.height)}${model.resolutionSuffix}`;
    throw new InvalidInput(
      `${frame.key} ${frame.width}x${frame.height} sets the frame's shape, but ${capability} follows the input ${input}'s; send the tier alone (${tierAlone})`,
      frame.key,
      'unsupported_parameter',
    );
  }
  const explicit = reader.string('aspectRatio');
  if (explicit && frame && contradicts(explicit.value, frame)) {
    throw new InvalidInput(
      `${explicit.key} ${explicit.value} contradicts ${frame.key} ${frame.width}x${frame.height}; send one of them, or both alike`,
      explicit.key,
      'conflicting_parameters',
    );
  }
  const implied = frame && typeof rule.aspectRatios === 'object' ? { key: frame.key, value: ratioOf(frame, rule.aspectRatios.allowed) } : undefined;
  const found = explicit ?? implied;
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
