import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { frameSize } from '../../catalog/frame.ts';
import { bySlot, type JobInput, jobInputs } from '../../catalog/inputs.ts';
import type { VideoJob } from '../../catalog/types.ts';
import { every } from '../../every.ts';
import { probeMedia, type MediaInfo } from '../../media/ffmpeg.ts';
import { firstInputProblem } from '../../media/limits.ts';
import type { MediaResolver } from '../../net/media.ts';
import { ProviderFailure, type Operation, type ProviderContext, type ProviderStatus, type VideoProvider } from '../interface.ts';
import { describeFailure, failedStatus, isAbort, isRetryable, STOPPED } from './failures.ts';
import { renderVideo, type RenderSpec } from './scenes.ts';

/** How a render ended: a status for the runner, or a failure that a later attempt may mend. */
type Outcome = ProviderStatus | { state: 'retry'; reason: string };

interface Render {
  progress: number;
  /** Settles when a render slot is free and work begins. */
  began: Promise<void>;
  done: Promise<Outcome>;
}

export interface LocalProviderOptions {
  media: MediaResolver;
  /**
   * This process's own folder: inputs, scratch and finished videos until the runner moves
   * them into storage. Every render removes what it made here when it fails or is let go.
   */
  workDirectory: string;
  /** Renders at once in this process. */
  concurrency: number;
  log: Logger;
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
  private readonly media: MediaResolver;
  private readonly workDirectory: string;
  private readonly log: Logger;

  constructor(options: LocalProviderOptions) {
    this.media = options.media;
    this.workDirectory = options.workDirectory;
    this.log = options.log;
    this.limit = pLimit(options.concurrency);
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
    // Not a ProviderFailure: the runner hands the task back and retries it with backoff.
    if (settled.state === 'retry') throw new Error(`The render failed for a reason a retry may mend: ${settled.reason}`);
    return settled;
  }

  private begin(context: ProviderContext): Render {
    const { taskId, signal } = context;
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
    // A failure is kept for status() to report (not thrown: nobody may be awaiting it yet).
    render.done = this.limit(work).catch((error: unknown) => this.failed(context, error));
    this.renders.set(taskId, render);
    // The runner aborts the signal whenever it lets go of the task: done, cancelled, handed
    // back or taken over. Nobody will ask for this render again.
    if (signal.aborted) void this.letGo(taskId, render);
    else signal.addEventListener('abort', () => void this.letGo(taskId, render), { once: true });
    return render;
  }

  /**
   * Forgets a render nobody will ask for and removes its video if the runner did not take
   * it (a failed move into storage; a cancel just as it finished). A render still running
   * is stopped by the same abort and cleans up after itself.
   */
  private async letGo(taskId: string, render: Render): Promise<void> {
    if (this.renders.get(taskId) === render) this.renders.delete(taskId);
    const outcome = await render.done;
    if (outcome.state !== 'completed') return;
    await rm(outcome.file, { force: true }).catch((error: unknown) => {
      this.log.warn({ task: taskId, cause: describeFailure(error) }, 'removing an unclaimed render failed');
    });
  }

  private failed(context: ProviderContext, error: unknown): Outcome {
    const { taskId, signal } = context;
    const log = context.log ?? this.log;
    const cause = describeFailure(error);
    // The runner's abort reason may be any Error ('task cancelled', 'lease lost'), not only an AbortError.
    if (signal.aborted || isAbort(error)) {
      log.info({ task: taskId, cause }, 'render stopped');
      return STOPPED;
    }
    if (isRetryable(error)) {
      log.warn({ task: taskId, cause }, 'render failed for a passing reason; the task will be retried');
      return { state: 'retry', reason: String(cause.message ?? cause.type) };
    }
    const status = failedStatus(error);
    if (status.code === 'render_failed') log.error({ task: taskId, code: status.code, cause }, 'render failed');
    else log.info({ task: taskId, code: status.code, cause }, 'render refused its input');
    return status;
  }

  private async render(context: ProviderContext, onProgress: (fraction: number) => void): Promise<ProviderStatus> {
    const { job, taskId, signal } = context;
    signal.throwIfAborted();
    await mkdir(this.workDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(this.workDirectory, `${taskId}-`));
    try {
      // Every input is fetched, probed and checked first: a file ffmpeg cannot decode, or one
      // too big to render, fails here, clearly and cheaply, not mid-render.
      const inputs = jobInputs(job);
      const files = await every(inputs.map(({ ref }, index) => this.media.toLocalFile(ref, scratch, `input-${index}`, signal)));
      const infos = await every(inputs.map(({ kind, param }, index) => probe(files[index]!, kind, param)));
      checkInputs(inputs, infos);
      const { images, lastImage, video, videos } = bySlot(inputs, files.map((file, index) => ({ file, info: infos[index]! })));
      const firstImageInfo = job.aspectRatio?.kind === 'auto' ? (images[0]?.info ?? null) : null;
      const spec: RenderSpec = {
        capability: job.capability,
        prompt: job.prompt,
        ...outputShape(job, video?.info ?? null, firstImageInfo),
        images: images.map(({ file }) => file),
        referenceVideos: videos.map(({ file }) => file),
        lastImage: lastImage?.file ?? null,
        video: video?.file ?? null,
        inputVideoSeconds: video?.info.duration ?? null,
        audio: job.options.audio === true,
        // Beside the scratch, not in it: the video outlives this call until the runner moves it.
        outputPath: `${scratch}.mp4`,
      };
      await renderVideo(spec, { onProgress, signal, scratchDirectory: scratch });
      return { state: 'completed', file: spec.outputPath };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/**
 * The same limits the task service applies to uploads at create time, applied again to what
 * was actually fetched: a URL input is only seen now.
 */
function checkInputs(inputs: JobInput[], infos: MediaInfo[]): void {
  const problem = firstInputProblem(inputs, infos);
  if (problem) throw new ProviderFailure(problem.code, problem.message);
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

async function probe(file: string, kind: 'image' | 'video', param: string): Promise<MediaInfo> {
  try {
    const info = await probeMedia(file);
    if (kind === 'video' && !(info.duration > 0)) throw new Error('no duration');
    return info;
  } catch (error) {
    // ffprobe that could not start (no file handles left) says nothing about the file.
    if (isRetryable(error)) throw error;
    throw new ProviderFailure('invalid_input_media', `${param}: the input ${kind} could not be decoded`);
  }
}
