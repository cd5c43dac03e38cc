import { spawn } from 'node:child_process';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import ffprobeInstaller from '@ffprobe-installer/ffprobe';

/** The static ffmpeg/ffprobe binaries that npm packages ship: nothing is downloaded at install. */
export const ffmpegPath: string = ffmpegInstaller.path;
export const ffprobePath: string = ffprobeInstaller.path;

export interface MediaInfo {
  width: number;
  height: number;
  /** Seconds; 0 for a still image. */
  duration: number;
  videoCodec: string | null;
  pixelFormat: string | null;
  hasAudio: boolean;
}

interface ProbeOutput {
  streams?: { codec_type?: string; codec_name?: string; width?: number; height?: number; pix_fmt?: string; duration?: string }[];
  format?: { duration?: string };
}

export async function probeMedia(file: string): Promise<MediaInfo> {
  const output = await run(ffprobePath, ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file]);
  const info = JSON.parse(output.stdout) as ProbeOutput;
  const video = info.streams?.find((stream) => stream.codec_type === 'video');
  // ffprobe "succeeds" on some garbage with a 0×0 picture.
  if (!video || !video.width || !video.height) throw new Error('no picture in the file');
  const duration = Number(info.format?.duration ?? video.duration);
  return {
    width: video.width ?? 0,
    height: video.height ?? 0,
    duration: Number.isFinite(duration) ? duration : 0,
    videoCodec: video.codec_name ?? null,
    pixelFormat: video.pix_fmt ?? null,
    hasAudio: info.streams?.some((stream) => stream.codec_type === 'audio') ?? false,
  };
}

/**
 * Runs ffmpeg, turning its `-progress` reports into a 0..1 fraction of `durationSeconds`.
 * An abort kills ffmpeg at once; a failure carries the end of ffmpeg's own message.
 * `timeoutMs` bounds the run: some broken inputs make ffmpeg spin instead of failing.
 */
export async function runFfmpeg(
  args: string[],
  options: { durationSeconds: number; timeoutMs: number; onProgress?: (fraction: number) => void; signal?: AbortSignal },
): Promise<void> {
  let reported = 0;
  const onStdout = (text: string) => {
    // This build writes microseconds under both names.
    for (const match of text.matchAll(/out_time_(?:us|ms)=(\d+)/g)) {
      const fraction = Math.min(1, Number(match[1]) / 1e6 / options.durationSeconds);
      if (fraction >= reported + 0.01) {
        reported = fraction;
        options.onProgress?.(fraction);
      }
    }
  };
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    await run(ffmpegPath, ['-hide_banner', '-nostdin', '-y', '-progress', 'pipe:1', '-nostats', ...args], { onStdout, signal });
  } catch (error) {
    if (timeout.aborted && !options.signal?.aborted) throw new Error(`ffmpeg took longer than ${options.timeoutMs} ms`);
    throw error;
  }
}

function run(
  command: string,
  args: string[],
  options: { onStdout?: (text: string) => void; signal?: AbortSignal } = {},
): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    options.signal?.throwIfAborted();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (options.onStdout) options.onStdout(text);
      else stdout += text;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    const abort = () => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', abort, { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', abort);
      if (options.signal?.aborted) reject(options.signal.reason ?? new DOMException('aborted', 'AbortError'));
      else if (code === 0) resolve({ stdout });
      else reject(new Error(`${command.split('/').pop()} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
