import type { MediaInfo } from './ffmpeg.ts';

/**
 * The largest input picture (a still, or one frame of an input video), in pixels.
 *
 * ffmpeg holds every decoded still in memory at about 3.5 bytes a pixel, and a reference
 * scene takes up to seven: seven 16000×16000 PNGs drove one ffmpeg to 5.3 GB, seven
 * 48-megapixel photos to 1.2 GB (measured). 50 MP still admits what people really send —
 * a 48 MP phone photo (8064×6048 = 48.8 MP), a 50 MP sensor's (8160×6120 = 49.9 MP), an
 * 8K video frame (33 MP) — and anything larger is downscaled to a 1080p frame anyway.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

export interface InputProblem {
  code: 'invalid_media' | 'input_too_large' | 'input_video_out_of_range';
  message: string;
}

/**
 * What is wrong with one probed input, in words for the client, or null. `param` names the
 * input as the request did (`images[1]`, `last_image`, `video`); `videoRange` is the
 * capability's allowed input-video length. Pure, so that checking an upload when the task is
 * created and checking a fetched URL when it renders apply the very same rule.
 */
export function inputProblem(
  kind: 'image' | 'video',
  info: Pick<MediaInfo, 'width' | 'height' | 'duration' | 'still'>,
  param: string,
  videoRange?: { min: number; max: number },
): InputProblem | null {
  // ffprobe opens some files that are no video (random bytes named .mp4) and gives them no length.
  if (kind === 'video' && !(info.duration > 0)) return { code: 'invalid_media', message: `${param} could not be read as a video` };
  // The renderer reads an image as one picture: a video or a GIF there fails mid-render, and
  // bytes ffprobe takes for another format (random bytes as `bintext`) make a nonsense frame.
  if (kind === 'image' && !info.still) return { code: 'invalid_media', message: `${param} could not be read as a still picture; send a PNG, JPEG or WebP image` };
  const pixels = info.width * info.height;
  if (pixels > MAX_INPUT_PIXELS) {
    const what = kind === 'image' ? 'image' : 'video frame';
    return {
      code: 'input_too_large',
      message:
        `${param}: the ${what} is ${info.width}×${info.height} (${megapixels(pixels)} megapixels); ` +
        `inputs may have at most ${megapixels(MAX_INPUT_PIXELS)} megapixels, so scale it down first`,
    };
  }
  return kind === 'video' && videoRange ? lengthProblem(info.duration, param, videoRange) : null;
}

/**
 * The first problem among a job's inputs, in the request's order, each judged by
 * inputProblem; an input not measured (null: a URL, fetched only when the task runs) is skipped.
 */
export function firstInputProblem(
  inputs: readonly { kind: 'image' | 'video'; param: string; lengthRange?: { min: number; max: number } }[],
  infos: readonly (Pick<MediaInfo, 'width' | 'height' | 'duration' | 'still'> | null)[],
): (InputProblem & { param: string }) | null {
  for (const [index, { kind, param, lengthRange }] of inputs.entries()) {
    const info = infos[index];
    const problem = info ? inputProblem(kind, info, param, lengthRange) : null;
    if (problem) return { ...problem, param };
  }
  return null;
}

/** An input video's length outside the capability's range, or null; also for one of the key's own videos, whose length its task knows. */
export function lengthProblem(seconds: number, param: string, range: { min: number; max: number }): InputProblem | null {
  // Whole seconds, as the catalog states its ranges; the same rounding as at create time.
  const rounded = Math.max(1, Math.round(seconds));
  if (rounded >= range.min && rounded <= range.max) return null;
  return { code: 'input_video_out_of_range', message: `${param}: the input video is ${seconds.toFixed(1)} s long; it must be ${range.min} to ${range.max} s` };
}

function megapixels(pixels: number): string {
  return (pixels / 1e6).toFixed(1).replace(/\.0$/, '');
}
