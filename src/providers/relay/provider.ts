import { DIALECTS, type Slot } from '../../catalog/dialects.ts';
import { findModel } from '../../catalog/models.ts';
import type { VideoJob } from '../../catalog/types.ts';
import { JsonClient, type Answer } from '../http-json.ts';
import { ProviderFailure, type Operation } from '../interface.ts';
import type { ChannelSettings, CheckResult, InlineLimits, UpstreamJob, UpstreamProvider, Unsupported } from '../upstream.ts';
import { errorBody, operation as operationSchema, startAnswer, videoObject, type CreateRequest, type VideoObject } from './schemas.ts';

const MIB = 1024 * 1024;
const EXTRA = 'extra_body.';

/** A remote failure code that reads as one of ours (snake_case) passes through; anything else is summed up. */
const PLAIN_CODE = /^[a-z][a-z0-9_]{0,63}$/;
/** The longest remote failure message we pass on. */
const MAX_MESSAGE = 300;

/**
 * Another OpenAI-style `/v1/videos` service, vidgate included: the job is sent in the
 * model's own dialect, as a client of ours would send it, so a vidgate upstream checks
 * it by the very same rules; then `GET /videos/{id}` until it ends, and the result is
 * copied from `/videos/{id}/content` with the channel's key.
 */
export class RelayProvider implements UpstreamProvider {
  readonly kind = 'relay';
  /** We send the task id as Idempotency-Key, which vidgate honours: a resubmit answers the same task. */
  readonly idempotentStart = true;
  /**
   * vidgate takes data URIs. The most inputs one task carries is ten (seven images and
   * three videos); at 4 MiB each, as base64, they stay under vidgate's default 64 MiB body.
   */
  readonly inline: InlineLimits = { image: 4 * MIB, video: 4 * MIB };
  private readonly client: JsonClient;

  constructor(settings: ChannelSettings) {
    this.client = new JsonClient(settings, {
      upstream: 'The relayed service',
      auth: (key) => ({ authorization: `Bearer ${key}` }),
      // Whatever a 5xx made, a resubmit with the same Idempotency-Key finds it rather than making another.
      createdOnServerError: () => true,
      refine: refineError,
    });
  }

  unsupported(_job: VideoJob, _upstreamModel: string): Unsupported | null {
    // The body is written in the model's own dialect, so whatever the catalog accepts can be said.
    return null;
  }

  async start(upstreamJob: UpstreamJob, signal: AbortSignal): Promise<Operation> {
    const capability = upstreamJob.job.capability;
    const path = capability === 'edit_video' ? '/videos/edits' : capability === 'video_extend' ? '/videos/extensions' : '/videos';
    const key = this.client.nextKey();
    const answer = await this.client.send(key, {
      method: 'POST',
      path,
      body: relayRequest(upstreamJob),
      headers: { 'idempotency-key': upstreamJob.taskId },
      signal,
      beforeSend: upstreamJob.beforeSend,
    });
    const { id } = this.client.parse(startAnswer, answer, 'the submit');
    return { id, key };
  }

  async check(saved: Operation, signal: AbortSignal): Promise<CheckResult> {
    const { id, key } = this.readOperation(saved);
    const path = `/videos/${encodeURIComponent(id)}`;
    const answer = await this.client.send(key, { method: 'GET', path, accept: [404], signal });
    if (answer.status === 404) {
      throw new ProviderFailure('upstream_task_lost', 'The relayed service no longer knows this task', this.client.detail(answer.text));
    }
    const video = this.client.parse(videoObject, answer, 'a status check');
    if (video.status === 'completed') {
      const headers = this.client.authHeaders(key);
      return {
        state: 'completed',
        video: { url: this.client.url(`${path}/content`), headers },
        cover: { url: this.client.url(`${path}/content?variant=thumbnail`), headers },
        usage: null,
      };
    }
    if (video.status === 'failed') return this.failed(video, answer);
    if (video.status === 'cancelled') {
      return { state: 'failed', code: 'upstream_cancelled', message: 'The task was cancelled at the relayed service', detail: this.client.detail(answer.text) };
    }
    const progress = video.progress;
    return { state: 'pending', progress: typeof progress === 'number' ? Math.min(100, Math.max(0, Math.round(progress))) : null };
  }

  /** Best effort: a task the remote no longer has (404) or that has already ended (409) needs no cancelling. */
  async cancel(saved: Operation, signal: AbortSignal): Promise<void> {
    const { id, key } = this.readOperation(saved);
    await this.client.send(key, { method: 'POST', path: `/videos/${encodeURIComponent(id)}/cancel`, accept: [404, 409], signal });
  }

  /**
   * The remote's failure as the client's own: a vidgate upstream speaks our codes
   * (content_moderated, upstream_expired…), and a client should not have to know how many
   * hops made its video, so a plain code passes through unprefixed. The remote's message
   * was written for its clients, which we are relaying to; it passes too, bounded.
   */
  private failed(video: VideoObject, answer: Answer): CheckResult {
    const code = video.error?.code && PLAIN_CODE.test(video.error.code) ? video.error.code : 'upstream_error';
    const remote = video.error?.message?.replace(/\s+/g, ' ').trim();
    const message = remote ? this.client.redact(remote.length > MAX_MESSAGE ? `${remote.slice(0, MAX_MESSAGE)}…` : remote) : 'The relayed service failed to make the video';
    return { state: 'failed', code, message, detail: this.client.detail(answer.text) };
  }

  private readOperation(saved: Operation): { id: string; key: number } {
    const parsed = operationSchema.safeParse(saved);
    if (!parsed.success || !this.client.hasKey(parsed.data.key)) {
      // Without the id, or the key that made it, the task cannot be asked after.
      throw new ProviderFailure('upstream_task_lost', 'The relayed task can no longer be looked up', JSON.stringify(saved));
    }
    return parsed.data;
  }
}

/**
 * The job as a client would write it in its model's dialect: each input under the first
 * key the dialect lists for its slot. Media go as plain URL or data URI strings, which
 * every slot of every dialect accepts. A tier fixed by the model name (Vidu) and
 * off-peak (also in the name) are not sent: the remote's model says them.
 */
function relayRequest({ job, upstreamModel, inputs }: UpstreamJob): CreateRequest {
  const spec = findModel(job.model);
  if (!spec) throw new ProviderFailure('invalid_job', `The model ${job.model} is no longer in the catalog`);
  const dialect = DIALECTS[spec.family];
  const body: CreateRequest = { model: upstreamModel };
  const put = (slot: Slot, value: unknown) => {
    if (value === undefined || value === null) return;
    const key = dialect.keys[slot]?.[0];
    // The job was read through this very dialect, so every value it holds has a key here.
    if (key === undefined) throw new ProviderFailure('invalid_job', `${job.model} has no field for ${slot}`);
    if (key.startsWith(EXTRA)) body.extra_body = { ...body.extra_body, [key.slice(EXTRA.length)]: value };
    else body[key] = value;
  };
  put('prompt', job.prompt);
  put('duration', job.seconds);
  if (spec.fixedResolution === undefined) put('resolution', job.resolution?.label);
  if (job.aspectRatio?.kind === 'ratio') put('aspectRatio', job.aspectRatio.label);
  switch (job.capability) {
    case 'image_to_video':
      put('image', inputs.images[0]);
      break;
    case 'first_last_frame':
      put('image', inputs.images[0]);
      put('lastImage', inputs.lastImage);
      break;
    case 'reference_to_video':
      if (inputs.images.length > 0) put('images', inputs.images);
      if (inputs.videos.length > 0) put('videos', inputs.videos);
      break;
    case 'edit_video':
    case 'video_extend':
      put('video', inputs.video);
      break;
    case 'text_to_video':
      break;
  }
  put('inputVideoSeconds', job.inputVideoSeconds);
  put('audio', job.options.audio);
  put('seed', job.options.seed);
  put('bgm', job.options.bgm);
  return body;
}

/**
 * A vidgate upstream answers 409 idempotency_key_reused when it already holds a task under
 * this task's key but made from a different body (a signed input link renewed between two
 * submits): a task exists there that we cannot name, so it is not sent again.
 */
function refineError(answer: Answer, detail: string): Error | null {
  if (answer.status !== 409) return null;
  const body = errorBody.safeParse(answer.json);
  if (!body.success || body.data.error.code !== 'idempotency_key_reused') return null;
  return new ProviderFailure(
    'submit_outcome_unknown',
    'The relayed service already holds this task from an earlier submission; it was not sent again, to avoid making the video twice',
    `HTTP 409: ${detail}`,
  );
}
