import { findModel } from '../../catalog/models.ts';
import type { VideoJob } from '../../catalog/types.ts';
import { JsonClient, type Answer } from '../http-json.ts';
import { ProviderFailure, type Operation } from '../interface.ts';
import type { ChannelSettings, CheckResult, InlineLimits, UpstreamJob, UpstreamProvider, Unsupported } from '../upstream.ts';
import {
  checkAnswer,
  errorBody,
  operation as operationSchema,
  pendingAnswer,
  startAnswer,
  type CheckAnswer,
  type EditRequest,
  type ExtensionRequest,
  type GenerationRequest,
} from './schemas.ts';

const MIB = 1024 * 1024;

/** The shapes xAI makes; the catalog offers more for other dialects' sake. */
const XAI_RATIOS: readonly string[] = ['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3'];
const XAI_TIERS: readonly number[] = [480, 720, 1080];

/** xAI's failure codes, as our short codes and messages. An unknown code is the upstream's own failure. */
const FAILURES: Record<string, { code: string; message: string }> = {
  invalid_argument: { code: 'upstream_rejected', message: "xAI refused the request's inputs" },
  failed_precondition: { code: 'upstream_rejected', message: 'xAI could not work with the inputs' },
  // A key without the right would have been refused at submit (401/403); a task refused
  // after it was taken is refused for what it shows.
  permission_denied: { code: 'content_moderated', message: 'xAI refused the content under its usage rules' },
};
const UPSTREAM_ERROR = { code: 'upstream_error', message: 'xAI failed to make the video' };

type Request = { path: '/videos/generations'; body: GenerationRequest } | { path: '/videos/edits'; body: EditRequest } | { path: '/videos/extensions'; body: ExtensionRequest };

/**
 * xAI's Grok Imagine video API: one JSON submit per task (`/videos/generations`,
 * `/edits` or `/extensions`), then `GET /videos/{request_id}` until it is done.
 */
export class XaiProvider implements UpstreamProvider {
  readonly kind = 'xai';
  /** xAI may or may not honour the idempotency-key header we send; until that is known, a resubmit can make a second task. */
  readonly idempotentStart = false;
  /** Images as data URIs, as the AI SDK sends them; whether videos may come inline is unverified. */
  readonly inline: InlineLimits = { image: 10 * MIB, video: 0 };
  private readonly client: JsonClient;

  constructor(settings: ChannelSettings) {
    this.client = new JsonClient(settings, {
      upstream: 'xAI',
      auth: (key) => ({ authorization: `Bearer ${key}` }),
      // xAI documents no 5xx that surely made nothing.
      createdOnServerError: () => true,
      refine: refineError,
    });
  }

  unsupported(job: VideoJob, upstreamModel: string): Unsupported | null {
    if (job.capability === 'first_last_frame') return { slot: 'lastImage', message: 'xAI has no first-and-last-frame mode' };
    if (job.videos.length > 0) return { slot: 'videos', message: 'xAI takes reference images, not reference videos' };
    const side = job.resolution?.shortSide;
    if (side !== undefined) {
      if (job.capability === 'edit_video') {
        // The catalog fills in the default tier, so only a different one is surely the client's own.
        if (side !== findModel(job.model)?.resolutions[0]) {
          return { slot: 'resolution', message: "xAI's edits keep the input video's resolution; leave the resolution out" };
        }
      } else if (!XAI_TIERS.includes(side)) {
        return { slot: 'resolution', message: 'xAI makes 480p, 720p or 1080p videos' };
      } else if (side === 1080 && !isGrok15(upstreamModel)) {
        return { slot: 'resolution', message: '1080p needs a Grok Imagine 1.5 model' };
      } else if (job.capability === 'reference_to_video' && side > 720) {
        return { slot: 'resolution', message: 'xAI makes videos from reference images at 720p at most' };
      }
    }
    const ratio = job.aspectRatio?.kind === 'ratio' ? job.aspectRatio.label : null;
    // With an image xAI takes the shape from it and ignores the ratio: told as a warning (warnings()).
    if (job.capability === 'image_to_video') return null;
    if (ratio !== null && !XAI_RATIOS.includes(ratio)) {
      return { slot: 'aspectRatio', message: `xAI makes ${XAI_RATIOS.join(', ')} videos` };
    }
    return null;
  }

  warnings(job: VideoJob): string[] {
    if (job.capability === 'image_to_video' && job.aspectRatio?.kind === 'ratio') {
      return [`aspect_ratio ${job.aspectRatio.label} has no effect on xAI's image-to-video: the video takes the image's shape`];
    }
    return [];
  }

  async start(upstreamJob: UpstreamJob, signal: AbortSignal): Promise<Operation> {
    const { path, body } = xaiRequest(upstreamJob);
    const key = this.client.nextKey();
    const answer = await this.client.send(key, {
      method: 'POST',
      path,
      body,
      // Harmless if ignored, and it spares a duplicate if xAI honours it.
      headers: { 'idempotency-key': upstreamJob.taskId },
      signal,
      beforeSend: upstreamJob.beforeSend,
    });
    const { request_id } = this.client.parse(startAnswer, answer, 'the submit');
    return { request_id, key };
  }

  async check(saved: Operation, signal: AbortSignal): Promise<CheckResult> {
    const { request_id, key } = readOperation(saved, this.client);
    const answer = await this.client.send(key, { method: 'GET', path: `/videos/${encodeURIComponent(request_id)}`, accept: [404], signal });
    if (answer.status === 404) {
      throw new ProviderFailure('upstream_task_lost', 'xAI no longer knows this task', this.client.detail(answer.text));
    }
    // 202 is xAI's word for "not yet", whatever the body holds (often nothing at all).
    if (answer.status === 202) return pending(pendingAnswer.safeParse(answer.json).data?.progress);
    const report = this.client.parse(checkAnswer, answer, 'a status check');
    if (report === null) return pending(null);
    return outcome(report, () => this.client.detail(answer.text));
  }
}

/** The submit for the job's capability. */
function xaiRequest({ job, upstreamModel: model, inputs }: UpstreamJob): Request {
  const { prompt } = job;
  switch (job.capability) {
    case 'edit_video':
      return { path: '/videos/edits', body: { model, prompt, video: { url: need(inputs.video, 'video') } } };
    case 'video_extend':
      return {
        path: '/videos/extensions',
        body: { model, prompt, video: { url: need(inputs.video, 'video') }, duration: need(job.seconds, 'duration') },
      };
    case 'text_to_video':
    case 'image_to_video':
    case 'reference_to_video': {
      const body: GenerationRequest = { model, prompt };
      if (job.seconds !== null) body.duration = job.seconds;
      if (job.resolution) body.resolution = `${job.resolution.shortSide}p`;
      if (job.capability === 'image_to_video') {
        body.image = { url: need(inputs.images[0], 'image') };
      } else if (job.aspectRatio?.kind === 'ratio') {
        body.aspect_ratio = job.aspectRatio.label;
      }
      if (job.capability === 'reference_to_video') body.reference_images = inputs.images.map((url) => ({ url }));
      return { path: '/videos/generations', body };
    }
    case 'first_last_frame':
      throw new ProviderFailure('unsupported_capability', 'xAI has no first-and-last-frame mode');
  }
}

/** A value the validated job must have; its absence is a fault upstream of this adapter. */
function need<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new ProviderFailure('invalid_job', `The task has no ${what} to send`);
  return value;
}

function isGrok15(upstreamModel: string): boolean {
  return /(^|-)1\.5($|-)/.test(upstreamModel);
}

function readOperation(saved: Operation, client: JsonClient): { request_id: string; key: number } {
  const parsed = operationSchema.safeParse(saved);
  if (!parsed.success || !client.hasKey(parsed.data.key)) {
    // Without the id, or the key that made it, the task cannot be asked after.
    throw new ProviderFailure('upstream_task_lost', 'The xAI task can no longer be looked up', JSON.stringify(saved));
  }
  return parsed.data;
}

function pending(progress: number | null | undefined): CheckResult {
  return { state: 'pending', progress: typeof progress === 'number' ? Math.min(100, Math.max(0, Math.round(progress))) : null };
}

function outcome(report: CheckAnswer, detail: () => string): CheckResult {
  const { status, video } = report;
  // Like the AI SDK: a finished answer may leave out the status but carry the video.
  if (status === 'done' || (status == null && video?.url)) {
    if (video?.respect_moderation === false) {
      return { state: 'failed', code: 'content_moderated', message: 'xAI withheld the video under its usage rules', detail: detail() };
    }
    if (!video?.url) return { state: 'failed', ...UPSTREAM_ERROR, detail: detail() };
    const ticks = report.usage?.cost_in_usd_ticks;
    return { state: 'completed', video: { url: video.url }, cover: null, usage: typeof ticks === 'number' ? { costInUsdTicks: ticks } : null };
  }
  if (status === 'failed') {
    const failure = FAILURES[report.error?.code ?? ''] ?? UPSTREAM_ERROR;
    return { state: 'failed', ...failure, detail: detail() };
  }
  if (status === 'expired') {
    return { state: 'failed', code: 'upstream_expired', message: 'xAI gave up on the task before it finished', detail: detail() };
  }
  return pending(report.progress);
}

/** A submit refused for its content is a moderation failure, not a bad request. */
function refineError(answer: Answer, detail: string): Error | null {
  if (answer.status < 400 || answer.status >= 500 || [401, 403, 404, 408, 429].includes(answer.status)) return null;
  const parsed = errorBody.safeParse(answer.json);
  if (!parsed.success) return null;
  const body = parsed.data;
  const code = typeof body.error === 'object' && body.error !== null ? body.error.code : 'code' in body ? body.code : null;
  const failure = code ? FAILURES[code] : undefined;
  return failure?.code === 'content_moderated' ? new ProviderFailure(failure.code, failure.message, `HTTP ${answer.status}: ${detail}`) : null;
}
