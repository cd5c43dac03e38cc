import { open } from 'node:fs/promises';
import { createFile, type Movie, MP4BoxBuffer } from 'mp4box';
import type { MediaInfo } from './ffmpeg.ts';

/** Bytes of boxes we read at most: a moov of an hour of video is a few MB; past this, leave the file to ffprobe. */
const MAX_HEADER_BYTES = 32 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

/** An MP4 whose boxes say its media lies past the end of the file: cut short, whatever its header claims. */
export class TruncatedMp4 extends Error {}

/**
 * Reads an MP4's (ISO BMFF's) boxes in this process with mp4box (GPAC's parser), reading
 * only the boxes and skipping the media data, and checks that every sample the tables name
 * lies within the file. Far cheaper than starting ffprobe (about 5 ms of CPU per file),
 * which capped how many upstream results a process could keep per second
 * (bench:tracking). Answers null for anything it does not fully understand (another
 * container, a fragmented or rotated MP4, a box it cannot parse): ffprobe decides those.
 */
export async function readMp4Header(file: string): Promise<MediaInfo | null> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const parser = createFile();
    let movie: Movie | null = null;
    let broken = false;
    parser.onReady = (info) => {
      movie = info;
    };
    parser.onError = () => {
      broken = true;
    };
    let position = 0;
    let read = 0;
    while (movie === null && !broken && position < size && read < MAX_HEADER_BYTES) {
      const chunk = new ArrayBuffer(Math.min(CHUNK_BYTES, size - position));
      const { bytesRead } = await handle.read(new Uint8Array(chunk), 0, chunk.byteLength, position);
      if (bytesRead === 0) break;
      // Not an ISO file from its first box on: ffprobe's (and mp4box would log its doubts to stderr).
      if (position === 0 && Buffer.from(chunk, 4, 4).toString('latin1') !== 'ftyp') return null;
      read += bytesRead;
      const next = parser.appendBuffer(MP4BoxBuffer.fromArrayBuffer(chunk.slice(0, bytesRead), position), position + bytesRead >= size);
      // mp4box names the next byte it wants, past the media data it skips; no progress means it wants no more.
      if (typeof next !== 'number' || next <= position) break;
      position = next;
    }
    if (movie === null || broken) return null;
    return describe(movie, size, parser);
  } catch (error) {
    if (error instanceof TruncatedMp4) throw error;
    // mp4box throws on boxes it cannot parse: not a file for this reader.
    return null;
  } finally {
    await handle.close();
  }
}

function describe(movie: Movie, fileSize: number, parser: ReturnType<typeof createFile>): MediaInfo | null {
  const video = movie.videoTracks[0];
  if (!video || movie.isFragmented || !video.codec || !(movie.timescale > 0)) return null;
  const width = video.video?.width ?? video.track_width;
  const height = video.video?.height ?? video.track_height;
  if (!(width > 0 && height > 0) || !isUpright(video.matrix)) return null;
  for (const track of movie.tracks) {
    for (const sample of parser.getTrackSamplesInfo(track.id) ?? []) {
      if (sample.offset + sample.size > fileSize) throw new TruncatedMp4(`track ${track.id} has media past the end of the file (${fileSize} bytes)`);
    }
  }
  const duration = movie.duration / movie.timescale;
  if (!(duration > 0) || video.nb_samples === 0) return null;
  return {
    width,
    height,
    duration,
    still: false,
    videoCodec: codecName(video.codec),
    pixelFormat: null,
    hasAudio: movie.audioTracks.length > 0,
  };
}

/** ffprobe's name for the common sample entries (avc1.64001f → h264), so both readers answer alike. */
const CODEC_NAMES: Record<string, string> = { avc1: 'h264', avc3: 'h264', hvc1: 'hevc', hev1: 'hevc', av01: 'av1', vp09: 'vp9', mp4v: 'mpeg4' };

function codecName(codec: string): string {
  const entry = codec.split('.')[0]!;
  return CODEC_NAMES[entry] ?? entry;
}

/** The identity display matrix (16.16 fixed point, 1 = 0x10000): a turned picture is left to ffprobe, which reports it turned. */
function isUpright(matrix: ArrayLike<number>): boolean {
  return matrix[0] === 0x10000 && matrix[1] === 0 && matrix[3] === 0 && matrix[4] === 0x10000;
}
