import { runFfmpeg } from './ffmpeg.ts';

/**
 * Pictures made from a finished video for the content route's other variants: a WebP
 * thumbnail (one frame a third of the way in) and a JPEG spritesheet (ten frames evenly
 * spread, five by two, each 160 px wide) for scrubbing previews.
 */
const STILL_TIMEOUT_MS = 30_000;

export async function makeThumbnail(video: string, output: string, seconds: number): Promise<void> {
  await runFfmpeg(['-ss', (seconds / 3).toFixed(3), '-i', video, '-frames:v', '1', '-c:v', 'libwebp', '-quality', '80', '-f', 'webp', output], {
    durationSeconds: 1,
    timeoutMs: STILL_TIMEOUT_MS,
  });
}

export const SPRITE_COLUMNS = 5;
export const SPRITE_ROWS = 2;
export const SPRITE_WIDTH = 160;

/** Each still: its file name beside the video, and how it is made. */
export const STILLS = {
  thumbnail: { file: 'thumbnail.webp', make: makeThumbnail },
  spritesheet: { file: 'spritesheet.jpg', make: makeSpritesheet },
} as const;
export type Still = keyof typeof STILLS;

export async function makeSpritesheet(video: string, output: string, seconds: number): Promise<void> {
  const frames = SPRITE_COLUMNS * SPRITE_ROWS;
  await runFfmpeg(
    ['-i', video, '-vf', `fps=${frames}/${seconds.toFixed(3)},scale=${SPRITE_WIDTH}:-2,tile=${SPRITE_COLUMNS}x${SPRITE_ROWS}`, '-frames:v', '1', '-q:v', '4', '-f', 'image2', output],
    { durationSeconds: seconds, timeoutMs: STILL_TIMEOUT_MS },
  );
}
