import type { Capability, VideoJob } from '../../catalog/types.ts';
import { JsonClient, UpstreamAnswer, type Answer } from '../http-json.ts';
import { ProviderFailure, type Operation } from '../interface.ts';
import type { ChannelSettings, CheckResult, InlineLimits, UpstreamJob, UpstreamProvider, Unsupported } from '../upstream.ts';
import { UpstreamUnavailable } from '../upstream-errors.ts';
import { checkAnswer, errorBody, operation as operationSchema, startAnswer, type CheckAnswer, type SubmitRequest } from './schemas.ts';

const MIB = 1024 * 1024;

/** Vidu's limit on a prompt, in characters. */
const PROMPT_MAX = 5000;

/** The submit path of each capability Vidu has. */
const PATHS: Partial<Record<Capability, string>> = {
  text_to_video: '/text2video',
  image_to_video: '/img2video',
  first_last_frame: '/start-end2video',
  reference_to_video: '/reference2video',
};

/** Only these take aspect_ratio: with a start frame, the image sets the shape. */
const TAKES_RATIO: ReadonlySet<Capability> = new Set(['text_to_video', 'reference_to_video']);

interface Failure {
  code: string;
  message: string;
}

const MODERATED: Failure = { code: 'content_moderated', message: 'Vidu refused the content under its usage rules' };
const BAD_INPUT: Failure = { code: 'upstream_rejected', message: "Vidu refused the request's inputs" };
const BAD_IMAGE: Failure = { code: 'upstream_rejected', message: 'Vidu could not use an input image' };
const UPSTREAM_ERROR: Failure = { code: 'upstream_error', message: 'Vidu failed to make the video' };

/** Vidu's error codes (submit errors and a failed task's err_code alike), as ours. */
const FAILURES: Record<string, Failure> = {
  TaskPromptPolicyViolation: MODERATED,
  AuditSubmitIllegal: MODERATED,
  CreationPolicyViolation: MODERATED,
  ImageDownloadFailure: { code: 'upstream_rejected', message: 'Vidu could not download an input image' },
  ImageFormatInvalid: BAD_IMAGE,
  PageSizeOutOfRange: BAD_IMAGE,
  ImageCheckBodyJointsFailed: BAD_IMAGE,
  ImageCheckFaceFailed: BAD_IMAGE,
  ImageObjectsUndetected: BAD_IMAGE,
  BadRequest: BAD_INPUT,
  FieldLacking: BAD_INPUT,
  FieldUnwanted: BAD_INPUT,
  FieldInvalid: BAD_INPUT,
  FieldItemCountOutOfRange: BAD_INPUT,
  UserCancelled: { code: 'upstream_cancelled', message: 'The task was cancelled at Vidu' },
  Canceled: { code: 'upstream_cancelled', message: 'The task was cancelled at Vidu' },
};

/** Codes not in the table that still read as a content check (Vidu's list is not published in full). */
const MODERATION_LIKE = /policy|audit|illegal|sensitive|moderat/i;

function failureOf(code: string | null | undefined): Failure {
  if (!code) return UPSTREAM_ERROR;
  return FAILURES[code] ?? (MODERATION_LIKE.test(code) ? MODERATED : UPSTREAM_ERROR);
}

/**
 * Vidu's enterprise API: one JSON submit per task (the path by capability), then
 * `GET /tasks/{id}/creations` until it succeeds or fails.
 */
export class ViduProvider implements UpstreamProvider {
  readonly kind = 'vidu';
  /** Vidu documents no idempotency key: a resubmit makes a second task. */
  readonly idempotentStart = false;
  /**
   * A whole body must stay under 20 MB, and a reference task holds up to seven images:
   * seven of 2 MiB as base64 come to 19.6 MB, leaving room for the rest of the body.
   * Videos: Vidu takes none here.
   */
  readonly inline: InlineLimits = { image: 2 * MIB, video: 0 };
  private readonly client: JsonClient;

  constructor(settings: ChannelSettings) {
    this.client = new JsonClient(settings, {
      upstream: 'Vidu',
      auth: (key) => ({ authorization: `Token ${key}` }),
      // Vidu's 500 InternalServiceFailure does not say whether the task was made.
      createdOnServerError: () => true,
      refine: refineError,
    });
  }

  unsupported(job: VideoJob, upstreamModel: string): Unsupported | null {
    if (job.capability === 'edit_video' || job.capability === 'video_extend') {
      return { slot: 'video', message: 'Vidu does not edit or extend videos' };
    }
    if (job.videos.length > 0) return { slot: 'videos', message: 'Vidu takes reference images, not reference videos' };
    if (job.prompt.length > PROMPT_MAX) return { slot: 'prompt', message: `Vidu takes prompts of at most ${PROMPT_MAX} characters` };
    // Q3 makes no background music (upstream-apis.md §5); bgm false asks for what it does anyway, so it is not sent.
    if (job.options.bgm === true) return { slot: 'bgm', message: 'Vidu Q3 models make no background music' };
    if (upstreamModel === 'viduq3-mix' && (job.resolution?.shortSide ?? 0) < 720) {
      return { slot: 'resolution', message: 'viduq3-mix makes 720p or 1080p videos' };
    }
    return null;
  }

  async start(upstreamJob: UpstreamJob, signal: AbortSignal): Promise<Operation> {
    const path = PATHS[upstreamJob.job.capability];
    if (!path) throw new ProviderFailure('unsupported_capability', 'Vidu does not edit or extend videos');
    const key = this.client.nextKey();
    const answer = await this.client.send(key, { method: 'POST', path, body: viduRequest(upstreamJob), signal, beforeSend: upstreamJob.beforeSend });
    const { task_id } = this.client.parse(startAnswer, answer, 'the submit');
    return { task_id, key };
  }

  async check(saved: Operation, signal: AbortSignal): Promise<CheckResult> {
    const parsed = operationSchema.safeParse(saved);
    if (!parsed.success || !this.client.hasKey(parsed.data.key)) {
      // Without the id, or the key that made it, the task cannot be asked after.
      throw new ProviderFailure('upstream_task_lost', 'The Vidu task can no longer be looked up', JSON.stringify(saved));
    }
    const { task_id, key } = parsed.data;
    const answer = await this.client.send(key, { method: 'GET', path: `/tasks/${encodeURIComponent(task_id)}/creations`, accept: [404], signal });
    if (answer.status === 404) {
      throw new ProviderFailure('upstream_task_lost', 'Vidu no longer knows this task', this.client.detail(answer.text));
    }
    return outcome(this.client.parse(checkAnswer, answer, 'a status check'), () => this.client.detail(answer.text));
  }
}

function viduRequest({ job, upstreamModel, inputs, callbackUrl }: UpstreamJob): SubmitRequest {
  if (!job.resolution) throw new ProviderFailure('invalid_job', 'The task has no resolution to send');
  const body: SubmitRequest = { model: upstreamModel, prompt: job.prompt, resolution: `${job.resolution.shortSide}p` };
  if (job.seconds !== null) body.duration = job.seconds;
  if (job.aspectRatio?.kind === 'ratio' && TAKES_RATIO.has(job.capability)) body.aspect_ratio = job.aspectRatio.label;
  const { seed, audio, offPeak } = job.options;
  if (seed !== undefined) body.seed = seed;
  if (audio !== undefined) body.audio = audio;
  if (offPeak !== undefined) body.off_peak = offPeak;
  if (callbackUrl) body.callback_url = callbackUrl;
  const first = inputs.images[0];
  if (job.capability === 'image_to_video') body.images = [need(first, 'start frame')];
  if (job.capability === 'first_last_frame') body.images = [need(first, 'start frame'), need(inputs.lastImage, 'end frame')];
  if (job.capability === 'reference_to_video') body.images = inputs.images;
  return body;
}

/** A value the validated job must have; its absence is a fault upstream of this adapter. */
function need<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new ProviderFailure('invalid_job', `The task has no ${what} to send`);
  return value;
}

function outcome(report: CheckAnswer, detail: () => string): CheckResult {
  if (report.state === 'success') {
    const first = report.creations?.[0];
    if (!first?.url) return { state: 'failed', ...UPSTREAM_ERROR, detail: detail() };
    return {
      state: 'completed',
      video: { url: first.url },
      cover: first.cover_url ? { url: first.cover_url } : null,
      usage: typeof report.credits === 'number' ? { credits: report.credits } : null,
    };
  }
  if (report.state === 'failed') return { state: 'failed', ...failureOf(report.err_code), detail: detail() };
  const progress = report.progress;
  return { state: 'pending', progress: typeof progress === 'number' ? Math.min(100, Math.max(0, Math.round(progress))) : null };
}

/**
 * Vidu's own meaning of an error answer. Out of credit is the channel's account, not the
 * request: nothing was made, and another channel may have credit. A refusal for content
 * is a moderation failure, and a known input code says which input was wrong.
 */
function refineError(answer: Answer, detail: string): Error | null {
  const body = errorBody.safeParse(answer.json);
  if (!body.success) return null;
  const code = body.data.code ?? body.data.err_code ?? body.data.reason;
  if (!code) return null;
  if (code === 'CreditInsufficient') {
    return new UpstreamUnavailable("Vidu refused for want of credit on the channel's account", { created: false, cause: new UpstreamAnswer(answer.status, detail) });
  }
  // Server errors, rate limits and refused keys keep their common meaning.
  if (answer.status >= 500 || [401, 403, 404, 408, 429].includes(answer.status)) return null;
  const failure = failureOf(code);
  return failure === UPSTREAM_ERROR ? null : new ProviderFailure(failure.code, failure.message, `HTTP ${answer.status}: ${detail}`);
}
