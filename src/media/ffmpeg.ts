import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import ffprobeInstaller from '@ffprobe-installer/ffprobe';
import pLimit from 'p-limit';
import { runProcess } from './run-process.ts';
import { runInProbeHost } from './probe-host-client.ts';

// Callers know a failed run by this one name.
export { FfmpegError } from './run-process.ts';

/**
 * The static binaries the installer packages ship (nothing is downloaded at install time).
 * Note they differ in age: ffmpeg is a 2018 build (no xfade, no `t` in scale expressions),
 * ffprobe a 2023 one.
 */
export const ffmpegPath: string = ffmpegInstaller.path;
export const ffprobePath: string = ffprobeInstaller.path;

export interface MediaInfo {
  /** Display size: a phone video stored sideways with a 90° rotation reports its upright size. */
  width: number;
  height: number;
  /** Seconds; 0 for a still image. */
  duration: number;
  /**
   * A single picture (PNG, JPEG, WebP and the like): what an image input must be. A video,
   * a GIF, or bytes ffprobe reads as some other format (random bytes pass as `bintext`) are not.
   */
  still: boolean;
  videoCodec: string | null;
  pixelFormat: string | null;
  hasAudio: boolean;
}

const PROBE_TIMEOUT_MS = 30_000;
/**
 * ffprobe runs at once in a process, at most. Probes come from requests (a create's or a
 * quote's inputs, up to 16 a request, quotes not rate-limited) as well as from renders: 40
 * asked at once started 35 ffprobes, each decoding a first frame in up to 64 MiB.
 */
export const PROBE_CONCURRENCY = 8;
const probes = pLimit(PROBE_CONCURRENCY);
/**
 * The largest single allocation ffprobe may make. To fill in stream details it decodes a
 * first frame: a 16000×16000 PNG took 760 MB to probe, and a reference task probes its
 * seven images at once. Sizes come from the headers regardless, so a picture too big to
 * decode within this is still measured (and then refused by the pixel limit), just not
 * test-decoded. 64 MiB still decodes up to a 16 MP RGBA photo or an 8K video frame; ffprobe
 * then stays within a few tens of MB whatever the input.
 */
const PROBE_MAX_ALLOC_BYTES = 64 * 1024 * 1024;

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  duration?: string;
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
}

interface ProbeOutput {
  streams?: ProbeStream[];
  format?: { duration?: string; format_name?: string };
}

/** Demuxers that hold a single picture: ffprobe gives them one frame's length (0.04 s), which is not a duration. */
const STILL_FORMATS = /^(image2|\w+_pipe)$/;

export async function probeMedia(path: string): Promise<MediaInfo> {
  const args = ['-v', 'error', '-max_alloc', String(PROBE_MAX_ALLOC_BYTES), '-print_format', 'json', '-show_streams', '-show_format', path];
  const { stdout } = await probes(() => runInProbeHost(ffprobePath, args, PROBE_TIMEOUT_MS));
  let info: ProbeOutput;
  try {
    info = JSON.parse(stdout) as ProbeOutput;
  } catch {
    throw new Error(`ffprobe gave unreadable output for ${path}`);
  }
  const video = info.streams?.find((stream) => stream.codec_type === 'video');
  // ffprobe exits 0 on some garbage (a text file named .png) and reports a 0×0 picture.
  if (!video?.width || !video.height) throw new Error(`not a decodable image or video: ${path}`);
  const still = STILL_FORMATS.test(info.format?.format_name ?? '');
  const duration = still ? 0 : Number(info.format?.duration ?? video.duration);
  const quarterTurn = Math.abs(rotation(video)) % 180 === 90;
  return {
    width: quarterTurn ? video.height : video.width,
    height: quarterTurn ? video.width : video.height,
    duration: Number.isFinite(duration) && duration > 0 ? duration : 0,
    still,
    videoCodec: video.codec_name ?? null,
    pixelFormat: video.pix_fmt ?? null,
    hasAudio: info.streams?.some((stream) => stream.codec_type === 'audio') ?? false,
  };
}

/** Old files carry rotation as a tag, newer ones as display-matrix side data; ffmpeg honours both when decoding. */
function rotation(stream: ProbeStream): number {
  const fromSideData = stream.side_data_list?.find((data) => typeof data.rotation === 'number')?.rotation;
  return fromSideData ?? Number(stream.tags?.rotate ?? 0);
}

export interface RunFfmpegOptions {
  /** Length of the output; progress is reported as a fraction of it. */
  durationSeconds: number;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Optional upper bound: a few broken inputs make ffmpeg loop instead of failing. */
  timeoutMs?: number;
}

/**
 * Runs ffmpeg with `args`, turning its `-progress` reports into a 0..1 fraction of
 * `durationSeconds`. An abort kills ffmpeg at once and rejects only after it is gone, so
 * that nothing outlives the promise; a failure carries the end of ffmpeg's own message.
 */
export async function runFfmpeg(args: string[], options: RunFfmpegOptions): Promise<void> {
  const { onProgress, durationSeconds } = options;
  let reported = 0;
  const report = (fraction: number) => {
    // Only forward, and only in 1% steps: callers store or broadcast each value.
    if (fraction >= reported + 0.01 || (fraction === 1 && reported < 1)) {
      reported = fraction;
      onProgress?.(fraction);
    }
  };
  const onLine = (line: string) => {
    // This build writes microseconds under both keys (out_time_ms is misnamed); "N/A" before the first packet.
    const match = /^out_time_(?:us|ms)=(\d+)$/.exec(line);
    if (match && durationSeconds > 0) report(Math.min(1, Number(match[1]) / 1e6 / durationSeconds));
  };
  await runProcess(ffmpegPath, ['-hide_banner', '-nostdin', '-y', '-progress', 'pipe:1', '-nostats', ...args], {
    onLine,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
  });
  // The last report is the last packet's start, one frame short of the end.
  report(1);
}
