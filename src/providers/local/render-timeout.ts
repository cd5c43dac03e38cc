/**
 * How long one render's ffmpeg may run before it is taken for stuck (a few broken inputs
 * make this ffmpeg loop instead of failing) and killed.
 *
 * The work is the pixels encoded: frame width × height × seconds, counted in units of a
 * 6 s 1280×720 clip. Here one unit takes 1.5–3 s of wall time for most scenes and about 4 s
 * for the heaviest (an extension's zoompan), on 2 cores. Each unit is allowed 40 s: ten
 * times the heaviest scene, which leaves room for a machine busy with other renders and
 * processes, yet a stuck ffmpeg is stopped in minutes, not the best part of an hour.
 *
 * The base covers what does not grow with the output: starting ffmpeg and decoding the
 * inputs. Seven 48-megapixel stills (the most a reference scene takes, at the pixel limit)
 * decode in about 14 s here, so 60 s also serves as the floor for the shortest clips.
 *
 * For example: 480p × 1 s → 63 s; 720p × 15 s → 160 s; 1080p × 25 s (a long extension) → 435 s.
 */
const BASE_MS = 60_000;
const MS_PER_UNIT = 40_000;
const UNIT_PIXEL_SECONDS = 1280 * 720 * 6;

export function renderTimeoutMs(frame: { width: number; height: number; seconds: number }): number {
  const units = (frame.width * frame.height * frame.seconds) / UNIT_PIXEL_SECONDS;
  return Math.round(BASE_MS + MS_PER_UNIT * units);
}
