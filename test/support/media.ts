import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ffmpegPath, ffprobePath } from '../../src/media/ffmpeg.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'vidgate-media-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** A real PNG (ffmpeg's test pattern) of the given size. */
export function pngFile(width: number, height: number): string {
  const file = path.join(scratch, `pattern-${width}x${height}.png`);
  execFileSync(ffmpegPath, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=s=${width}x${height}`, '-frames:v', '1', file]);
  return file;
}

export function pngDataUri(width = 320, height = 240): string {
  return `data:image/png;base64,${readFileSync(pngFile(width, height)).toString('base64')}`;
}

/**
 * A short H.264 MP4 with a tone, as a client would upload; with `faststart`, its index
 * (moov) comes first, as web-ready videos from an upstream have it.
 */
export function mp4File(seconds: number, width = 320, height = 240, { faststart = false } = {}): string {
  const file = path.join(scratch, `clip-${seconds}s-${width}x${height}${faststart ? '-faststart' : ''}.mp4`);
  execFileSync(ffmpegPath, [
    '-y', '-loglevel', 'error',
    '-f', 'lavfi', '-i', `testsrc2=s=${width}x${height}:d=${seconds}:r=24`,
    '-f', 'lavfi', '-i', `sine=d=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    ...(faststart ? ['-movflags', '+faststart'] : []), file,
  ]);
  return file;
}

export interface Probe {
  duration: number;
  width: number;
  height: number;
  codec: string;
  pixelFormat: string;
}

/** What ffprobe says of a file or of bytes we downloaded. */
export function probe(bytesOrFile: Buffer | string): Probe {
  let file = bytesOrFile as string;
  if (Buffer.isBuffer(bytesOrFile)) {
    file = path.join(scratch, `download-${Date.now()}-${Math.random().toString(36).slice(2)}.mp4`);
    writeFileSync(file, bytesOrFile);
  }
  const output = execFileSync(ffprobePath, ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file]).toString();
  const info = JSON.parse(output) as { streams: { codec_type: string; width: number; height: number; codec_name: string; pix_fmt: string }[]; format: { duration: string } };
  const video = info.streams.find((stream) => stream.codec_type === 'video')!;
  return {
    duration: Number(info.format.duration),
    width: video.width,
    height: video.height,
    codec: video.codec_name,
    pixelFormat: video.pix_fmt,
  };
}
