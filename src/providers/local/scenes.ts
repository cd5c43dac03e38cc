import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Capability } from '../../catalog/types.ts';
import { probeMedia, runFfmpeg } from '../../media/ffmpeg.ts';
import { expr, filterValue } from './filter-graph.ts';
import { renderTimeoutMs } from './render-timeout.ts';
import { LINE_GAP, LINE_HEIGHT, layoutText } from './text-layout.ts';

/**
 * The preview renderer: honest footage, not AI. Every capability gets a scene that shows
 * plainly what was asked (the prompt, the inputs, the edit, the extension), encoded exactly
 * like a real model's output would be: H.264/yuv420p, 24 fps, the asked frame and length.
 */
export interface RenderSpec {
  capability: Capability;
  prompt: string;
  /** Output frame; even numbers, decided by the caller. */
  width: number;
  height: number;
  /** Total output seconds (an extension: input plus appended part; an edit: the input's length). */
  seconds: number;
  /** Local files: the first frame (image_to_video, first_last_frame) or the reference set. */
  images: string[];
  /** Local files: reference videos (reference_to_video), each shown by its first frame after the images. */
  referenceVideos: string[];
  lastImage: string | null;
  video: string | null;
  /** Where an extension's new footage starts (the probed input length). */
  inputVideoSeconds: number | null;
  /** true: a quiet AAC tone; false: no audio stream at all. */
  audio: boolean;
  outputPath: string;
}

export interface RenderOptions {
  /**
   * The caller's folder for the render's scratch (a folder made and removed inside it).
   * Never the OS temp dir: what a render killed by kill -9 leaves must lie where its owner
   * finds and clears it at the next start.
   */
  scratchDirectory: string;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Safety net against an ffmpeg that never ends; default: grows with the pixels encoded (render-timeout.ts). */
  timeoutMs?: number;
}

const FPS = 24;
const fontDirectory = path.join(path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONT = path.join(fontDirectory, 'DejaVuSans.ttf');
const BOLD_FONT = path.join(fontDirectory, 'DejaVuSans-Bold.ttf');

/** A scene: its ffmpeg input arguments and a filter graph whose video output is labelled [v]. */
interface Scene {
  inputs: string[];
  graph: string;
}

/** What a scene needs besides the spec: a place for the text files drawtext reads. */
interface SceneKit {
  /** Writes `text` to a scratch file and returns its path escaped for a filter graph. */
  textFile(text: string): Promise<string>;
}

type SceneBuilder = (spec: RenderSpec, kit: SceneKit) => Promise<Scene>;

/** Writes `spec.outputPath`; a render that fails or is stopped leaves neither it nor any scratch behind. */
export async function renderVideo(spec: RenderSpec, options: RenderOptions): Promise<void> {
  checkSpec(spec);
  options.signal?.throwIfAborted();
  await mkdir(options.scratchDirectory, { recursive: true });
  const scratch = await mkdtemp(path.join(options.scratchDirectory, 'render-'));
  try {
    let files = 0;
    const kit: SceneKit = {
      async textFile(text) {
        const file = path.join(scratch, `text-${files++}.txt`);
        await writeFile(file, text, 'utf8');
        return filterValue(file);
      },
    };
    const scene = await SCENES[spec.capability](spec, kit);
    await runFfmpeg(withOutput(scene, spec), {
      durationSeconds: spec.seconds,
      onProgress: options.onProgress,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? renderTimeoutMs(spec),
    });
  } catch (error) {
    // ffmpeg creates the output before the first frame: a failed or killed run leaves a partial file.
    await rm(spec.outputPath, { force: true });
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const SCENES: Record<Capability, SceneBuilder> = {
  text_to_video: textToVideo,
  image_to_video: imageToVideo,
  first_last_frame: firstLastFrame,
  reference_to_video: referenceToVideo,
  edit_video: editVideo,
  video_extend: videoExtend,
};

/** The prompt, as large as fits, drifting over a flowing colour field, with a bar that fills over the clip. */
async function textToVideo(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h, seconds: s } = spec;
  const padding = Math.round(Math.min(w, h) * 0.03);
  const block = layoutText(spec.prompt || '(empty prompt)', {
    width: w * 0.86 - 2 * padding,
    height: h * 0.7 - 2 * padding,
    largest: Math.min(w, h) / 9,
    smallest: Math.min(w, h) / 30,
  });
  const bar = even(Math.max(2, h / 120));
  const bob = (h / 60).toFixed(1);
  const title = drawText(await kit.textFile(block.text), block.fontSize, {
    x: '(w-text_w)/2',
    y: `(h-text_h)/2+${bob}*sin(2*PI*t/4)`,
    box: padding,
  });
  return {
    inputs: [],
    graph:
      `${flowingGradient(w, h, 1)},format=yuv420p,${title},${label(spec)}[base];` +
      `color=c=white:s=${w}x${bar}:r=${FPS}[bar];` +
      `[base][bar]overlay=x=${expr(`W*(t/${s}-1)`)}:y=H-h[v]`,
  };
}

/** The image covering the frame (cropped, never stretched), slowly panned corner to corner. */
async function imageToVideo(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h, seconds: s } = spec;
  // Overscan so there is picture to pan across; the pan is capped so tall or wide images still move slowly.
  const pan = (overflow: string, side: string) => `${overflow}/2-min(${overflow}/2,${side}*0.07)*cos(PI*t/${s})`;
  return {
    inputs: still(spec.images[0]!),
    graph:
      `[0:v]${cover(even(w * 1.15), even(h * 1.15))},${hold()},` +
      `crop=${w}:${h}:x=${expr(pan('(iw-ow)', 'ow'))}:y=${expr(pan('(ih-oh)', 'oh'))},format=yuv420p,` +
      `${await caption(spec, kit, spec.prompt)}${label(spec)}[v]`,
  };
}

/** The first image held, dissolved into the last over the middle of the clip, the last held. */
async function firstLastFrame(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h, seconds: s } = spec;
  // No xfade in this ffmpeg: the last image fades in through its alpha over the first.
  return {
    inputs: [...still(spec.images[0]!), ...still(spec.lastImage!)],
    graph:
      `[0:v]${cover(w, h)},${hold()}[first];` +
      `[1:v]${cover(w, h)},${hold()},format=yuva420p,fade=t=in:st=${(s * 0.15).toFixed(3)}:d=${(s * 0.7).toFixed(3)}:alpha=1[last];` +
      `[first][last]overlay=format=yuv420,format=yuv420p,${await caption(spec, kit, spec.prompt)}${label(spec)}[v]`,
  };
}

/** The references tiled (each whole, framed in white) and gently floating over a colour field, the prompt below. */
async function referenceToVideo(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h } = spec;
  const captionBand = h * 0.24;
  const margin = Math.min(w, h) * 0.05;
  const references = [...spec.images, ...spec.referenceVideos];
  const cells = grid(references.length, w - 2 * margin, h - captionBand - margin);
  const border = Math.max(2, Math.round(Math.min(w, h) / 160));
  const drift = Math.min(cells.width, cells.height) * 0.03;
  const chains = [`${flowingGradient(w, h, 0.55)}[bg0]`];
  references.forEach((_, index) => {
    // A reference video is shown by its first frame, as an image is.
    const firstFrame = index >= spec.images.length ? 'trim=end_frame=1,setpts=PTS-STARTPTS,' : '';
    const column = index % cells.columns;
    const row = Math.floor(index / cells.columns);
    const cellX = margin + column * cells.width;
    const cellY = margin + row * cells.height;
    const tileW = Math.max(2, Math.floor(cells.width * 0.86 - 2 * border));
    const tileH = Math.max(2, Math.floor(cells.height * 0.86 - 2 * border));
    // Fit inside the cell (references are shown whole), then even sizes so the white frame sits square on yuv420p.
    chains.push(
      `[${index}:v]${firstFrame}scale=${tileW}:${tileH}:force_original_aspect_ratio=decrease,scale=${expr('max(2,trunc(iw/2)*2)')}:${expr('max(2,trunc(ih/2)*2)')},` +
        `setsar=1,pad=iw+${2 * border}:ih+${2 * border}:${border}:${border}:color=white,${hold()}[ref${index}]`,
    );
    const phase = (index * 2.1).toFixed(2);
    const x = `${cellX.toFixed(1)}+(${cells.width.toFixed(1)}-w)/2+${drift.toFixed(1)}*sin(2*PI*t/5+${phase})`;
    const y = `${cellY.toFixed(1)}+(${cells.height.toFixed(1)}-h)/2+${drift.toFixed(1)}*cos(2*PI*t/6+${phase})`;
    chains.push(`[bg${index}][ref${index}]overlay=x=${expr(x)}:y=${expr(y)}[bg${index + 1}]`);
  });
  const last = `[bg${references.length}]`;
  return {
    inputs: [...spec.images.flatMap(still), ...spec.referenceVideos.flatMap((file) => ['-i', file])],
    graph: `${chains.join(';')};${last}format=yuv420p,${await caption(spec, kit, spec.prompt, 3)}${label(spec)}[v]`,
  };
}

/** The input posterized and colour-cycled, captioned with the edit instruction. */
async function editVideo(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h, seconds: s } = spec;
  return {
    inputs: ['-i', spec.video!],
    graph:
      `[0:v]${normalizeVideo(w, h)},` +
      // Banded colour (a posterize by lookup table) reads as "edited" on any footage and costs a third of edgedetect.
      `hue=H=${expr(`PI*(0.5+t/${s})`)}:s=1.5,lutyuv=y=${expr('trunc(val/40)*40+20')}:u=${expr('trunc(val/24)*24+12')}:v=${expr('trunc(val/24)*24+12')},` +
      // Holds the last frame if the input is a little shorter than asked; -t cuts the rest.
      `${hold()},${await caption(spec, kit, `edited: ${spec.prompt}`)}${label(spec)}[v]`,
  };
}

/** The input as it was, then its last frame carried on with a slow push-in, a colour drift and a caption. */
async function videoExtend(spec: RenderSpec, kit: SceneKit): Promise<Scene> {
  const { width: w, height: h, seconds: s } = spec;
  const from = Math.min(s, spec.inputVideoSeconds ?? (await probeMedia(spec.video!)).duration);
  const fromFrame = Math.round(from * FPS);
  const newFrames = Math.max(1, Math.round((s - from) * FPS));
  const start = (fromFrame / FPS).toFixed(3);
  // zoompan counts input frames (`in`); this build has no time variable there. Zoom 1 leaves the original part untouched.
  const zoom = `if(gte(in,${fromFrame}),1+0.2*(in-${fromFrame})/${newFrames},1)`;
  return {
    inputs: ['-i', spec.video!],
    graph:
      `[0:v]${normalizeVideo(w, h)},${hold()},` +
      `zoompan=z=${expr(zoom)}:x=${expr('iw/2-iw/zoom/2')}:y=${expr('ih/2-ih/zoom/2')}:d=1:s=${w}x${h}:fps=${FPS},setsar=1,` +
      `hue=H=${expr(`0.8*(t-${start})`)}:s=1.3:enable=${expr(`gte(t,${start})`)},format=yuv420p,` +
      `${await caption(spec, kit, `extended: ${spec.prompt}`, 2, `gte(t,${start})`)}${label(spec)}[v]`,
  };
}

/** The scene's inputs and graph plus the optional tone and the encoding every output shares. */
function withOutput(scene: Scene, spec: RenderSpec): string[] {
  const inputCount = scene.inputs.filter((arg) => arg === '-i').length;
  const tone = spec.audio
    ? { inputs: ['-f', 'lavfi', '-i', `sine=frequency=220:sample_rate=48000`], graph: `;[${inputCount}:a]volume=0.25[a]` }
    : { inputs: [], graph: '' };
  return [...scene.inputs, ...tone.inputs, '-filter_complex', scene.graph + tone.graph, ...encoderArgs(spec)];
}

/** Only our own streams are mapped, so an input's audio, subtitles or metadata never leak into the output. */
function encoderArgs(spec: RenderSpec): string[] {
  return [
    '-map', '[v]',
    ...(spec.audio ? ['-map', '[a]', '-c:a', 'aac', '-b:a', '96k'] : ['-an']),
    '-sn', '-dn', '-map_metadata', '-1',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p',
    '-r', String(FPS), '-vsync', 'cfr',
    '-t', spec.seconds.toFixed(3),
    '-movflags', '+faststart', '-f', 'mp4',
    spec.outputPath,
  ];
}

/** An image input, decoded once: looping the demuxer (-loop 1) re-decodes every frame and spins on some broken files. */
function still(file: string): string[] {
  return ['-framerate', String(FPS), '-i', file];
}

/** Repeats the last frame forever; the output's -t ends the clip. */
function hold(): string {
  return 'tpad=stop=-1:stop_mode=clone';
}

/** Scales to cover w×h, then crops the overflow: no stretching, no bars. */
function cover(w: number, h: number): string {
  return `scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},setsar=1`;
}

/** Any input video to 24 fps from time 0 (edit lists, odd rates), covering the frame. */
function normalizeVideo(w: number, h: number): string {
  return `setpts=PTS-STARTPTS,fps=${FPS},${cover(w, h)}`;
}

/**
 * Slowly shifting colour waves. Computed by geq on a tiny frame and scaled up bicubically:
 * smooth, and hundreds of times cheaper than geq at full size. `brightness` dims it behind pictures.
 */
function flowingGradient(w: number, h: number, brightness: number): string {
  const [gw, gh] = w >= h ? [16, Math.max(4, Math.round((16 * h) / w))] : [Math.max(4, Math.round((16 * w) / h)), 16];
  const wave = (base: number, swing: number, phase: string) => expr(`${(base * brightness).toFixed(0)}+${(swing * brightness).toFixed(0)}*sin(${phase})`);
  return (
    `color=c=black:s=${gw}x${gh}:r=${FPS},format=gbrp,` +
    `geq=r=${wave(110, 70, '2*PI*(X/W*0.9+T/5)')}:g=${wave(90, 60, '2*PI*(Y/H*0.8-T/6)+2')}:b=${wave(130, 80, '2*PI*((X+Y)/(W+H)+T/7)+4')},` +
    `scale=${w}:${h}:flags=bicubic,setsar=1`
  );
}

/** The prompt (or edit instruction) near the bottom, at most `maxLines` lines, on a translucent box. */
async function caption(spec: RenderSpec, kit: SceneKit, text: string, maxLines = 2, enable?: string): Promise<string> {
  const { width: w, height: h } = spec;
  const padding = Math.round(Math.min(w, h) * 0.015);
  const size = Math.max(10, Math.round(Math.min(w, h) / 24));
  const block = layoutText(text, { width: w * 0.9 - 2 * padding, height: maxLines * size * LINE_HEIGHT, largest: size, smallest: size });
  if (!block.text) return '';
  const bottom = Math.round(h * 0.05);
  const drawn = drawText(await kit.textFile(block.text), block.fontSize, { x: '(w-text_w)/2', y: `h-text_h-${bottom}`, box: padding, enable });
  return `${drawn},`;
}

/** A small mark so nobody mistakes the footage for a model's. */
function label(spec: RenderSpec): string {
  const size = Math.max(9, Math.round(Math.min(spec.width, spec.height) / 40));
  return (
    `drawtext=fontfile=${filterValue(BOLD_FONT)}:text=${filterValue('vidgate preview')}:expansion=none:fontsize=${size}` +
    `:fontcolor=white@0.85:shadowcolor=black@0.6:shadowx=1:shadowy=1:x=${size}:y=${size}`
  );
}

function drawText(file: string, fontSize: number, place: { x: string; y: string; box: number; enable?: string | undefined }): string {
  // expansion=none: the prompt's own % signs must not be read as %{...} functions.
  return (
    `drawtext=fontfile=${filterValue(FONT)}:textfile=${file}:expansion=none:fontsize=${fontSize}` +
    `:line_spacing=${Math.round(fontSize * LINE_GAP)}:fontcolor=white:box=1:boxcolor=black@0.4:boxborderw=${place.box}` +
    `:x=${expr(place.x)}:y=${expr(place.y)}` +
    (place.enable ? `:enable=${expr(place.enable)}` : '')
  );
}

/**
 * Rows and columns for `count` tiles in a w×h area, choosing the layout whose cells have the
 * largest short side (so one tile is big, two sit side by side in landscape, stacked in portrait).
 */
function grid(count: number, w: number, h: number): { columns: number; width: number; height: number } {
  let best = { columns: 1, width: w, height: h / count };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const candidate = { columns, width: w / columns, height: h / rows };
    if (Math.min(candidate.width, candidate.height) > Math.min(best.width, best.height)) best = candidate;
  }
  return best;
}

function even(value: number): number {
  return Math.max(2, Math.round(value / 2) * 2);
}

function checkSpec(spec: RenderSpec): void {
  const { width, height, seconds, capability } = spec;
  for (const [name, size] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(size) || size < 16 || size % 2 !== 0) throw new Error(`${name} must be an even integer of at least 16, got ${size}`);
  }
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`seconds must be positive, got ${seconds}`);
  const needs: Partial<Record<Capability, [boolean, string]>> = {
    image_to_video: [spec.images.length > 0, 'an image'],
    first_last_frame: [spec.images.length > 0 && spec.lastImage !== null, 'a first and a last image'],
    reference_to_video: [spec.images.length + spec.referenceVideos.length > 0, 'at least one reference image or video'],
    edit_video: [spec.video !== null, 'a video'],
    video_extend: [spec.video !== null, 'a video'],
  };
  const need = needs[capability];
  if (need && !need[0]) throw new Error(`${capability} needs ${need[1]}`);
}
