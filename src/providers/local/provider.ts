import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pLimit from 'p-limit';
import { frameSize } from '../../catalog/frame.ts';
import type { MediaRef, VideoJob } from '../../catalog/types.ts';
import { probeMedia, type MediaInfo } from '../../media/ffmpeg.ts';
import type { MediaResolver } from '../../net/media.ts';
import { FetchError } from '../../net/guarded-fetch.ts';
import { ProviderFailure, type Operation, type ProviderContext, type ProviderStatus, type VideoProvider } from '../interface.ts';
import { renderVideo, type RenderSpec } from './scenes.ts';

interface Render {
  progress: number;
  /** Settles when a render slot is free and work begins. */
  began: Promise<void>;
  done: Promise<ProviderStatus>;
}

/** The longest short side we keep when an extension follows its input's own frame. */
const MAX_SHORT_SIDE = 1080;

/**
 * The preview renderer behind every model when no upstream is configured. It is not AI:
 * it makes honest, real MP4s (right duration, frame size and codec) that show the prompt
 * and move over the inputs, so that a whole integration can be built and tested offline.
 * Renders run in this process, at most `concurrency` at once; a render lost to a restart
 * starts over when the next runner asks for its status.
 */
export class LocalProvider implements VideoProvider {
  readonly name = 'local';
  private readonly renders = new Map<string, Render>();
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    private readonly media: MediaResolver,
    private readonly workDirectory: string,
    concurrency: number,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Returns once the render holds a slot, so a task waiting for one still reads `queued`. */
  async start(context: ProviderContext): Promise<Operation> {
    const render = this.begin(context);
    await Promise.race([render.began, render.done]);
    return { renderer: 'local-preview' };
  }

  async status(_operation: Operation, context: ProviderContext): Promise<ProviderStatus> {
    const render = this.renders.get(context.taskId) ?? this.begin(context);
    // Answer as soon as the render ends, else report progress twice a second.
    const settled = await Promise.race([render.done, delay(500, undefined, { signal: context.signal }).catch(() => undefined)]);
    if (!settled) return { state: 'pending', progress: render.progress };
    this.renders.delete(context.taskId);
    return settled;
  }

  private begin(context: ProviderContext): Render {
    let markBegun = () => {};
    const render: Render = {
      progress: 0,
      began: new Promise((resolve) => (markBegun = resolve)),
      done: Promise.resolve({ state: 'pending', progress: 0 }),
    };
    const onProgress = (fraction: number) => {
      // 100 is kept for the moment the video is stored.
      render.progress = Math.max(render.progress, Math.min(99, Math.floor(fraction * 100)));
    };
    const work = () => {
      markBegun();
      return this.render(context, onProgress);
    };
    render.done = this.limit(work).catch((error: unknown) => {
      this.renders.delete(context.taskId);
      return failure(error);
    });
    this.renders.set(context.taskId, render);
    return render;
  }

  private async render(context: ProviderContext, onProgress: (fraction: number) => void): Promise<ProviderStatus> {
    const { job, taskId, signal } = context;
    signal.throwIfAborted();
    await mkdir(this.workDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(this.workDirectory, `${taskId}-`));
    try {
      const fetch = (ref: MediaRef, name: string) => this.media.toLocalFile(ref, scratch, name, signal);
      const images = await Promise.all(job.images.map((ref, index) => fetch(ref, `image-${index}`)));
      const lastImage = job.lastImage ? await fetch(job.lastImage, 'last-image') : null;
      const video = job.video ? await fetch(job.video, 'video') : null;
      // Every input is probed first: a file ffmpeg cannot decode fails here, clearly, not mid-render.
      const imageInfos = await Promise.all([...images, ...(lastImage ? [lastImage] : [])].map((file) => probe(file, 'image')));
      const videoInfo = video ? await probe(video, 'video') : null;
      const firstImageInfo = job.aspectRatio?.kind === 'auto' ? (imageInfos[0] ?? null) : null;
      const output = path.join(this.workDirectory, `${taskId}.mp4`);
      const spec: RenderSpec = {
        capability: job.capability,
        prompt: job.prompt,
        ...outputShape(job, videoInfo, firstImageInfo),
        images,
        lastImage,
        video,
        inputVideoSeconds: videoInfo?.duration ?? null,
        audio: job.options.audio === true,
        outputPath: output,
      };
      try {
        await renderVideo(spec, { onProgress, signal });
      } catch (error) {
        await rm(output, { force: true });
        throw error;
      }
      return { state: 'completed', file: output, seconds: spec.seconds };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/** Frame size and total length of the output, from the request and the probed inputs. */
function outputShape(job: VideoJob, video: MediaInfo | null, image: MediaInfo | null): { width: number; height: number; seconds: number } {
  if (job.capability === 'video_extend' && video) {
    const scale = Math.min(1, MAX_SHORT_SIDE / Math.min(video.width, video.height));
    const frame = frameSize(Math.min(video.width, video.height) * scale, video.width, video.height);
    return { ...frame, seconds: video.duration + (job.seconds ?? 0) };
  }
  const shortSide = job.resolution?.shortSide ?? 720;
  if (job.capability === 'edit_video' && video) {
    return { ...frameSize(shortSide, video.width, video.height), seconds: video.duration };
  }
  const ratio = job.aspectRatio;
  const frame =
    ratio?.kind === 'ratio'
      ? frameSize(shortSide, ratio.width, ratio.height)
      : image
        ? frameSize(shortSide, image.width, image.height)
        : frameSize(shortSide, 16, 9);
  return { ...frame, seconds: job.seconds ?? 6 };
}

async function probe(file: string, kind: 'image' | 'video'): Promise<MediaInfo> {
  try {
    const info = await probeMedia(file);
    if (kind === 'video' && !(info.duration > 0)) throw new Error('no duration');
    return info;
  } catch {
    throw new ProviderFailure('invalid_input_media', `The input ${kind} could not be decoded`);
  }
}

function failure(error: unknown): ProviderStatus {
  if (error instanceof ProviderFailure) return { state: 'failed', code: error.code, message: error.message };
  if (error instanceof FetchError) return { state: 'failed', code: `input_${error.code}`, message: `An input could not be fetched: ${error.message}` };
  if ((error as Error).name === 'AbortError') return { state: 'failed', code: 'cancelled', message: 'The render was stopped' };
  return { state: 'failed', code: 'render_failed', message: 'The preview renderer could not make this video' };
}
