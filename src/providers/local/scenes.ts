import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Capability } from '../../catalog/types.ts';
import { runFfmpeg } from '../../media/ffmpeg.ts';

/** What the preview renderer is asked to make; sizes and lengths are decided by the caller. */
export interface RenderSpec {
  capability: Capability;
  prompt: string;
  /** Output frame; even numbers. */
  width: number;
  height: number;
  /** Total output seconds (an extension: input plus appended part; an edit: the input's length). */
  seconds: number;
  /** Local files: the first frame, or the reference set. */
  images: string[];
  lastImage: string | null;
  video: string | null;
  /** Where an extension's new footage starts. */
  inputVideoSeconds: number | null;
  audio: boolean;
  outputPath: string;
}

const FPS = 24;
const FONT = path.join(path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');

/** One scene: its ffmpeg inputs and a filter graph whose video output is labelled [v]. */
interface Scene {
  inputs: string[];
  filter: string;
}

export interface RenderOptions {
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Default: a minute, plus twenty seconds for each second of video (1080p on 2 cores is far below that). */
  timeoutMs?: number;
}

export async function renderVideo(spec: RenderSpec, options: RenderOptions): Promise<void> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'vidgate-render-'));
  try {
    const caption = path.join(scratch, 'caption.txt');
    await writeFile(caption, wrap(spec.prompt, spec.width, spec.height));
    const scene = SCENES[spec.capability](spec, caption);
    // The tone, when asked for, is the input after the scene's own.
    const audioInput = scene.inputs.filter((arg) => arg === '-i').length;
    const args = [
      ...scene.inputs,
      ...(spec.audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000`] : []),
      '-filter_complex',
      scene.filter,
      '-map',
      '[v]',
      ...(spec.audio ? ['-map', `${audioInput}:a`, '-af', 'volume=0.05', '-c:a', 'aac', '-b:a', '64k'] : ['-an']),
      '-r', String(FPS),
      '-t', spec.seconds.toFixed(3),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-movflags', '+faststart',
      spec.outputPath,
    ];
    await runFfmpeg(args, {
      durationSeconds: spec.seconds,
      timeoutMs: options.timeoutMs ?? 60_000 + spec.seconds * 20_000,
      onProgress: options.onProgress,
      signal: options.signal,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const SCENES: Record<Capability, (spec: RenderSpec, caption: string) => Scene> = {
  /** The prompt's words over a colour field that turns and a light that drifts across it. */
  text_to_video: (spec, caption) => {
    const { width: w, height: h, seconds: s } = spec;
    const spot = even(Math.min(w, h) / 4);
    return {
      inputs: [...lavfi(`color=c=0x1d2b53:s=${w}x${h}:r=${FPS}:d=${s}`), ...lavfi(`color=c=0xffa300:s=${spot}x${spot}:r=${FPS}:d=${s}`)],
      filter:
        `[0:v]hue=h=60*t:s=1.4[bg];[1:v]format=yuva420p,colorchannelmixer=aa=0.55[spot];` +
        `[bg][spot]overlay=x='(W-w)*(0.5+0.45*sin(t*1.3))':y='(H-h)*(0.5+0.4*cos(t*0.9))'[lit];` +
        `[lit]${text(caption, h / 16, `(h-text_h)/2+${(h / 40).toFixed(0)}*sin(t*2)`)},${label(spec, 'text to video')},setsar=1[v]`,
    };
  },

  /** A slow diagonal pan over the image, which covers the frame (cropped, never stretched). */
  image_to_video: (spec) => {
    const { width: w, height: h, seconds: s } = spec;
    const [cw, ch] = [even(w * 1.15), even(h * 1.15)];
    return {
      inputs: still(spec.images[0]!, s),
      filter: `[0:v]${cover(cw, ch)},crop=${w}:${h}:x='(iw-ow)*t/${s}':y='(ih-oh)*t/${s}',${label(spec, 'image to video')},setsar=1[v]`,
    };
  },

  /** The first image dissolves into the last over the whole clip. */
  first_last_frame: (spec) => {
    const { width: w, height: h, seconds: s } = spec;
    return {
      inputs: [...still(spec.images[0]!, s), ...still(spec.lastImage!, s)],
      filter:
        `[0:v]${cover(w, h)},setsar=1[first];[1:v]${cover(w, h)},setsar=1,format=yuva420p,fade=t=in:st=0:d=${s}:alpha=1[last];` +
        `[first][last]overlay,${label(spec, 'first and last frame')},setsar=1[v]`,
    };
  },

  /** The references side by side, drifting over a turning colour field, with the prompt below. */
  reference_to_video: (spec, caption) => {
    const { width: w, height: h, seconds: s } = spec;
    const count = spec.images.length;
    const tileWidth = even((w * 0.9) / count);
    const tileHeight = even(Math.min(h * 0.55, tileWidth * 1.5));
    const tiles = spec.images.map((_, index) => `[${index + 1}:v]${cover(tileWidth, tileHeight)},setsar=1[t${index}]`).join(';');
    const row = count > 1 ? `${spec.images.map((_, index) => `[t${index}]`).join('')}hstack=inputs=${count}[row]` : '[t0]null[row]';
    return {
      inputs: [...lavfi(`color=c=0x29366f:s=${w}x${h}:r=${FPS}:d=${s}`), ...spec.images.flatMap((image) => still(image, s))],
      filter:
        `[0:v]hue=h=40*t[bg];${tiles};${row};` +
        `[bg][row]overlay=x='(W-w)/2+${(w / 40).toFixed(0)}*sin(t)':y='H*0.08',` +
        `${text(caption, h / 22, 'h*0.72')},${label(spec, 'reference images')},setsar=1[v]`,
    };
  },

  /** The input video re-coloured over time and captioned, at the requested frame. */
  edit_video: (spec, caption) => {
    const { width: w, height: h, seconds: s } = spec;
    return {
      inputs: ['-i', spec.video!],
      filter: `[0:v]${cover(w, h)},setsar=1,hue=H=2*PI*t/${s}:s=1.6,eq=contrast=1.3,${text(caption, h / 18, 'h*0.8', 'edited: ')},${label(spec, 'edit')}[v]`,
    };
  },

  /** The input video, then its last frame carried on with motion, colour and a caption. */
  video_extend: (spec, caption) => {
    const { width: w, height: h, seconds: s } = spec;
    const from = (spec.inputVideoSeconds ?? 0).toFixed(3);
    const extra = Math.max(0, s - (spec.inputVideoSeconds ?? 0)) + 1;
    return {
      inputs: ['-i', spec.video!],
      filter:
        `[0:v]${cover(w, h)},setsar=1,fps=${FPS},tpad=stop_mode=clone:stop_duration=${extra.toFixed(3)},` +
        `hue=H=PI*(t-${from}):s=1.5:enable='gte(t,${from})',` +
        `${text(caption, h / 18, `h*0.8-${(h / 30).toFixed(0)}*(t-${from})`, 'extended: ', `gte(t,${from})`)},${label(spec, 'extension')}[v]`,
    };
  },
};

function lavfi(source: string): string[] {
  return ['-f', 'lavfi', '-i', source];
}

/** An image as a video input of `seconds`. */
function still(file: string, seconds: number): string[] {
  return ['-loop', '1', '-framerate', String(FPS), '-t', seconds.toFixed(3), '-i', file];
}

/** Scales to cover w×h, then crops the overflow: no stretching, no bars. */
function cover(w: number, h: number): string {
  return `scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h}`;
}

function text(file: string, size: number, y: string, prefix = '', enable?: string): string {
  const prefixed = prefix ? `:text='${prefix}'` : '';
  const main =
    `drawtext=fontfile=${escape(FONT)}:textfile=${escape(file)}:expansion=none:fontsize=${Math.max(10, Math.round(size))}` +
    `:fontcolor=white:borderw=2:bordercolor=black@0.6:line_spacing=${Math.round(size / 4)}:x=(w-text_w)/2:y=${y}` +
    (enable ? `:enable='${enable}'` : '');
  if (!prefix) return main;
  // The prefix sits just above the prompt, so that neither needs escaping into the other.
  return `${main},drawtext=fontfile=${escape(FONT)}${prefixed}:expansion=none:fontsize=${Math.max(10, Math.round(size * 0.8))}:fontcolor=yellow:x=(w-text_w)/2:y=${y}-${Math.round(size * 1.4)}${enable ? `:enable='${enable}'` : ''}`;
}

function label(spec: RenderSpec, what: string): string {
  const size = Math.max(10, Math.round(spec.height / 36));
  return `drawtext=fontfile=${escape(FONT)}:text='vidgate preview · ${what}':expansion=none:fontsize=${size}:fontcolor=white@0.8:x=${size}:y=h-${size * 2}`;
}

/** Escapes a path for a filter-graph option value. */
function escape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/'/g, "\\\\\\'").replace(/:/g, '\\\\:').replace(/,/g, '\\,');
}

function even(value: number): number {
  return Math.max(2, Math.round(value / 2) * 2);
}

/** Word-wraps the prompt to the frame; at most six lines, the last cut with an ellipsis. */
function wrap(prompt: string, width: number, height: number): string {
  const perLine = Math.max(10, Math.floor(width / ((height / 16) * 0.6)));
  const lines: string[] = [];
  let line = '';
  for (const word of prompt.trim().split(/\s+/)) {
    const pieces = word.match(new RegExp(`.{1,${perLine}}`, 'gu')) ?? [word];
    for (const piece of pieces) {
      if (line && (line + ' ' + piece).length > perLine) {
        lines.push(line);
        line = piece;
      } else line = line ? `${line} ${piece}` : piece;
    }
  }
  if (line) lines.push(line);
  return lines.length > 6 ? [...lines.slice(0, 5), `${lines[5]!.slice(0, perLine - 1)}…`].join('\n') : lines.join('\n');
}
