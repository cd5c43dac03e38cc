import { createHash } from 'node:crypto';
import type { PriceTable } from '../billing/prices.ts';
import { type Quote, quote } from '../billing/quote.ts';
import { fieldFor } from '../catalog/fields.ts';
import { hasInputs, jobInputs } from '../catalog/inputs.ts';
import { every } from '../every.ts';
import { findModel } from '../catalog/models.ts';
import { UploadedFile, type VideoJob } from '../catalog/types.ts';
import { validate, validateRemix, type Route } from '../catalog/validate.ts';
import { Conflict, InvalidInput, NotFound, Unavailable } from '../errors.ts';
import { firstInputProblem, lengthProblem } from '../media/limits.ts';
import type { MediaResolver } from '../net/media.ts';
import type { Storage } from '../storage/storage.ts';
import { LOCAL_CHANNEL } from '../store/queries.ts';
import type { TaskRow } from '../store/schema.ts';
import type { IdempotentTask, Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import type { Routed } from './routing.ts';
import { newTaskId } from './task-id.ts';
import { newWebhookSecret } from '../webhooks/secret.ts';

export interface TaskServiceOptions {
  store: Store;
  storage: Storage;
  media: MediaResolver;
  clock: Clock;
  /**
   * Which channel serves a job: `local` (the preview renderer) when no channel serves its
   * model, else a channel able to do it as asked; or what no channel can do.
   */
  route: (job: VideoJob, options?: { withInputs: boolean }) => Promise<Routed>;
  /** What each model's videos cost: a task is quoted at submit, and a metered key holds the quote. */
  prices: PriceTable;
  /** Told when a task is queued, so that an in-process runner starts it at once. */
  onQueued?: () => void;
  /** Told when a task is cancelled or deleted, so that an in-process runner stops its work at once and the upstream is told. */
  onAbandoned?: (task: TaskRow) => void;
}

export interface ListQuery {
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
  /** Only tasks of this status, of this model. */
  status?: string;
  model?: string;
}

/** What a create carries besides its body. */
export interface CreateOptions {
  /** Same key, same body within a day: the task first made, never another. */
  idempotencyKey?: string;
  /** The x-request-id of the request that creates it, kept with the task. */
  requestId?: string;
  /** A URL its end is announced to (checked by the caller: webhooks/target.ts), besides the key's webhooks. */
  callbackUrl?: string | null;
}

const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

/** The request's identity for Idempotency-Key: route and body, keys sorted, files by content. */
function requestHash(route: string, body: unknown): string {
  const canonical = (value: unknown): unknown => {
    if (value instanceof UploadedFile) return { file: value.sha256, size: value.size, type: value.mime };
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
    }
    return value;
  };
  return createHash('sha256').update(JSON.stringify([route, canonical(body)])).digest('hex');
}

/** The model an edit or extension uses when the client names none (the openai client sends none). */
const DEFAULT_VIDEO_MODEL = 'grok-imagine';

/** What the HTTP layer may do with tasks: create after validation, read, list, cancel, delete. */
export class TaskService {
  constructor(private readonly options: TaskServiceOptions) {}

  /**
   * Validates, stores inputs, and commits the task before any work starts. It either
   * commits the task or throws before committing it.
   */
  async create(keyId: string, route: Route, body: unknown, options: CreateOptions = {}): Promise<TaskRow> {
    const job = validate(route, await this.withModel(keyId, route, body));
    return this.once(keyId, route, body, options, (id, now) => this.prepare(keyId, id, now, job, null, body, options));
  }

  /**
   * What `create` would quote for this body, with its refusals, without making a task: no
   * input is fetched or stored, so an input video of unknown length counts at its longest.
   */
  async quote(keyId: string, route: Route, body: unknown): Promise<{ job: VideoJob; quote: Quote }> {
    const validated = validate(route, await this.withModel(keyId, route, body));
    this.refusePrivateUrls(validated);
    // The create's refusals of the inputs themselves: what is uploaded or inline is probed where it lies, the key's own videos are looked up.
    const measured = await this.withSourceLength(keyId, await this.checkInputs(validated));
    const { job } = await this.routed(measured, body, { withInputs: false });
    return { job, quote: quote(job, this.options.prices) };
  }

  /**
   * A quote's own videos, as the create would copy them: each must be the key's, finished
   * and kept; the one an edit or extension starts from has its length from its task, checked
   * against the capability's range, so that the quote is exact, as the create's is.
   */
  private async withSourceLength(keyId: string, job: VideoJob): Promise<VideoJob> {
    const owned = jobInputs(job).flatMap((input) => (input.ref.kind === 'video' ? [{ ...input, id: input.ref.id }] : []));
    const tasks = await every(owned.map(({ id, param }) => this.ownVideoTask(keyId, id, param)));
    const index = owned.findIndex(({ slot }) => slot === 'video');
    const source = tasks[index];
    if (!source || source.seconds === null || job.inputVideoSeconds !== null) return job;
    const { param, lengthRange } = owned[index]!;
    const seconds = Number(source.seconds);
    const problem = lengthRange && lengthProblem(seconds, param, lengthRange);
    if (problem) throw new InvalidInput(problem.message, param, problem.code);
    return { ...job, inputVideoSeconds: Math.max(1, Math.round(seconds)) };
  }

  /** The channel that serves a job, with its warnings added; what no channel can do is a 400 naming the field. */
  private async routed(job: VideoJob, body: unknown, options = { withInputs: true }): Promise<{ job: VideoJob; provider: string }> {
    const routed = await this.options.route(job, options);
    if ('unsupported' in routed) {
      const { slot, message } = routed.unsupported;
      throw new InvalidInput(message, fieldFor(job.model, slot, body), 'unsupported_by_upstream');
    }
    return { job: routed.warnings.length > 0 ? { ...job, warnings: [...job.warnings, ...routed.warnings] } : job, provider: routed.provider };
  }

  /** A new task on the source's model, inputs and settings, with a new prompt. */
  async remix(keyId: string, sourceId: string, body: unknown, options: CreateOptions = {}): Promise<TaskRow> {
    const source = await this.get(keyId, sourceId);
    // The expiry sweep removes a video's inputs with its file: nothing is left to remix.
    if (source.status === 'completed' && source.video_key === null) {
      throw new NotFound(`Video ${sourceId} has expired; its files are gone`, 'video_expired');
    }
    const job = validateRemix(JSON.parse(source.job) as VideoJob, body);
    return this.once(keyId, `remix:${sourceId}`, body, options, (id, now) => this.prepare(keyId, id, now, job, source.id, body, options));
  }

  /**
   * Commits the task that `prepare` makes, once per Idempotency-Key: the same key and body
   * within a day answer the task first made, and never make another. The inputs are stored
   * first; then the key's claim and the task commit in one transaction, so that a crash
   * can never leave the key claimed for a task that does not exist.
   */
  private async once(keyId: string, route: string, body: unknown, { idempotencyKey, callbackUrl = null }: CreateOptions, prepare: (id: string, now: number) => Promise<TaskRow>): Promise<TaskRow> {
    const { store, clock } = this.options;
    const now = clock.now();
    const id = newTaskId(now);
    if (idempotencyKey === undefined) {
      const task = await prepare(id, now);
      await this.commit(task, async () => {
        await store.insertTask(task);
        return null;
      });
      return task;
    }
    // Where the end is announced is part of the request: the same key with another callback_url is a conflict.
    const hash = requestHash(route, callbackUrl === null ? body : { body, callbackUrl });
    const once = { key: idempotencyKey, hash, staleBefore: now - IDEMPOTENCY_WINDOW_MS };
    // A retry of a request already made is answered before any input is copied or probed.
    const made = await store.idempotentTask(keyId, once.key, once.staleBefore);
    if (made) return this.replay(made, hash);
    const task = await prepare(id, now);
    const held = await this.commit(task, () => store.insertTaskOnce(task, once));
    return held ? this.replay(held, hash) : task;
  }

  /**
   * Saves a prepared task. When it is not saved — the save failed, or a request with the
   * same Idempotency-Key committed while this one prepared — its stored inputs go.
   */
  private async commit(task: TaskRow, save: () => Promise<IdempotentTask | null>): Promise<IdempotentTask | null> {
    const { media, onQueued } = this.options;
    let held: IdempotentTask | null;
    try {
      held = await save();
    } catch (error) {
      await media.deleteInputs(task.id).catch(() => undefined);
      // A write whose connection broke off may have committed (postgres.ts): say how to ask again safely.
      if (error instanceof Unavailable && error.code === 'database_unavailable') {
        throw new Unavailable(
          'The database cannot be reached now; this create may have been saved: send it again with the same Idempotency-Key (without one, look for the video before making another)',
          error.code,
          { cause: error },
        );
      }
      throw error;
    }
    if (held) await media.deleteInputs(task.id).catch(() => undefined);
    else onQueued?.();
    return held;
  }

  /** An edit or extension without a model runs on its source video's model, or the default one. */
  private async withModel(keyId: string, route: Route, body: unknown): Promise<unknown> {
    if (route === 'create' || typeof body !== 'object' || body === null || 'model' in body) return body;
    const video = (body as { video?: unknown }).video;
    const sourceId = typeof video === 'object' && video !== null && 'id' in video ? String(video.id) : null;
    const source = sourceId ? await this.find(keyId, sourceId) : undefined;
    const capability = route === 'edit' ? 'edit_video' : 'video_extend';
    const model = source && findModel(source.model)?.capabilities[capability] ? source.model : DEFAULT_VIDEO_MODEL;
    return { ...body, model };
  }

  /** The storage key of one of the caller's own finished videos, given as `param: {id}`. */
  private async ownVideo(keyId: string, id: string, param: string): Promise<string> {
    return (await this.ownVideoTask(keyId, id, param)).video_key;
  }

  /** The task of one of the caller's own videos given as `param: {id}`, refused unless it is finished and its file kept. */
  private async ownVideoTask(keyId: string, id: string, param: string): Promise<TaskRow & { video_key: string }> {
    const task = await this.find(keyId, id);
    if (!task) throw new NotFound(`No video with id '${id}'`, 'video_not_found', param);
    if (task.status !== 'completed') throw new Conflict(`Video ${id} is ${task.status}; only a completed video can be a source`, 'video_not_ready', true, param);
    if (!task.video_key) throw new NotFound(`Video ${id} has expired; its file is gone`, 'video_expired', param);
    return { ...task, video_key: task.video_key };
  }

  /**
   * Every stored input (upload, data URI, one of the caller's videos) is measured now, so
   * that a picture too large or a video of the wrong length is a 400 naming it, by the very
   * rule the renderer applies to URL inputs when it fetches them (media/limits.ts).
   */
  private async checkInputs(job: VideoJob): Promise<VideoJob> {
    if (!hasInputs(job)) return job;
    const { media } = this.options;
    const inputs = jobInputs(job);
    const infos = await every(inputs.map(({ ref, param }) => media.probe(ref, param)));
    const problem = firstInputProblem(inputs, infos);
    if (problem) throw new InvalidInput(problem.message, problem.param, problem.code);
    // The source of an edit or extension, measured: its length decides the output's.
    const source = inputs.findIndex(({ lengthRange }) => lengthRange);
    const video = infos[source];
    if (!video || job.inputVideoSeconds !== null) return job;
    return { ...job, inputVideoSeconds: Math.max(1, Math.round(video.duration)) };
  }

  /** An input URL that can only lead to a private address is a 400 naming it, at create and at quote alike. */
  private refusePrivateUrls(job: VideoJob): void {
    for (const { ref, param } of jobInputs(job)) this.options.media.refusePrivate(ref, param);
  }

  private replay({ claim, task }: IdempotentTask, hash: string): TaskRow {
    if (claim.request_hash !== hash) {
      throw new Conflict('This Idempotency-Key was used with a different request; use a new key for a new request', 'idempotency_key_reused', false);
    }
    return task;
  }

  /** Stores the job's inputs under the new task and makes its row, not yet saved; on failure no input stays behind. */
  private async prepare(keyId: string, id: string, now: number, validated: VideoJob, remixedFrom: string | null, body: unknown, options: CreateOptions): Promise<TaskRow> {
    const { media, store } = this.options;
    // The key as the request was authenticated (cached); its mode and metering never change.
    // Revoked since, it is read as it is: refused later, never made free.
    const active = await store.activeKeyById(keyId);
    const revoked = active ? undefined : await store.keyById(keyId);
    // Its deliveries are signed with the key's callback secret: made now, so that it exists before any is sent.
    if (options.callbackUrl) await store.keyWebhookSecret(keyId, newWebhookSecret());
    const test = (active ?? revoked)?.mode === 'test';
    let job: VideoJob;
    let provider: string;
    try {
      // Before any input is stored: a URL that can only reach a private address is refused as it is.
      this.refusePrivateUrls(validated);
      const checked = await this.checkInputs(await media.materialize(id, validated, (source, param) => this.ownVideo(keyId, source, param)));
      // A test key's task is refused and warned as a live one would be, then made by the preview renderer.
      const routed = await this.routed(checked, body);
      job = routed.job;
      provider = test ? LOCAL_CHANNEL : routed.provider;
    } catch (error) {
      await media.deleteInputs(id).catch(() => undefined);
      throw error;
    }
    // Quoted for every key (a test key sees what live would cost); held only on a metered live key.
    const price = quote(job, this.options.prices).amount;
    const metered = !test && (active ? active.metered : (revoked?.balance ?? null) !== null);
    return {
      id,
      key_id: keyId,
      model: job.model,
      status: 'queued',
      progress: 0,
      job: JSON.stringify(job),
      prompt: job.prompt,
      seconds: job.seconds === null ? (job.inputVideoSeconds === null ? null : String(job.inputVideoSeconds)) : String(job.seconds),
      size: job.resolution?.label ?? null,
      remixed_from_video_id: remixedFrom,
      warnings: job.warnings.length > 0 ? JSON.stringify(job.warnings) : null,
      provider,
      operation: null,
      submit_started_at: null,
      usage: null,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
      started_at: null,
      completed_at: null,
      expires_at: null,
      run_after: now,
      attempts: 0,
      claims: 0,
      lease_owner: null,
      lease_expires_at: null,
      video_key: null,
      video_size: null,
      price,
      hold: metered ? price : null,
      cost: null,
      mode: test ? 'test' : 'live',
      request_id: options.requestId ?? null,
      callback_url: options.callbackUrl ?? null,
    };
  }

  /** Tasks queued or running, per channel name. */
  unfinishedByChannel(): Promise<Map<string, number>> {
    return this.options.store.unfinishedByProvider();
  }

  async get(keyId: string, id: string): Promise<TaskRow> {
    const task = await this.find(keyId, id);
    if (!task) throw new NotFound(`No video with id '${id}'`, 'video_not_found');
    return task;
  }

  /** The caller's own task; another key's task is as missing as an unknown one, so ids never leak. */
  find(keyId: string, id: string): Promise<TaskRow | undefined> {
    return this.options.store.taskForKey(id, keyId);
  }

  /** For signed download links, which prove access to one task without a key. */
  async byId(id: string): Promise<TaskRow> {
    const task = await this.options.store.taskById(id);
    if (!task) throw new NotFound(`No video with id '${id}'`, 'video_not_found');
    return task;
  }

  async list(keyId: string, query: ListQuery): Promise<{ tasks: TaskRow[]; hasMore: boolean }> {
    let after: { createdAt: number; id: string } | null = null;
    if (query.after) {
      const cursor = await this.options.store.taskForKey(query.after, keyId);
      if (!cursor) throw new InvalidInput(`after: no video with id '${query.after}'`, 'after');
      after = { createdAt: cursor.created_at, id: cursor.id };
    }
    const rows = await this.options.store.listTasks({ keyId, order: query.order, after, limit: query.limit + 1, status: query.status ?? null, model: query.model ?? null });
    return { tasks: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
  }

  /**
   * Cancels a queued or running task. A runner in this process stops at once; one in
   * another process finds its lease writes refused at its next heartbeat and stops then.
   */
  async cancel(keyId: string, id: string): Promise<TaskRow> {
    const task = await this.get(keyId, id);
    const cancelled = await this.options.store.settle(id, { kind: 'cancelled', keyId, now: this.options.clock.now() });
    if (!cancelled) throw new Conflict(`Video ${id} is ${task.status} and can no longer be cancelled`, 'video_not_cancellable');
    this.options.onAbandoned?.(cancelled);
    return cancelled;
  }

  /** An upstream said the task changed: check it at once instead of at its next scheduled check. */
  async checkNow(id: string): Promise<void> {
    if (await this.options.store.checkNow(id, this.options.clock.now())) this.options.onQueued?.();
  }

  /**
   * Removes the task and every file it owns. Files first: if storage cannot be reached, the
   * task stays, whole, and the same request may be made again; removed after the task, a
   * file whose removal failed would belong to no one. A runner that stores the video between
   * the two is cleared by the keeper (it finds the task gone), and a last pass here.
   */
  async delete(keyId: string, id: string): Promise<void> {
    const { store, storage, media, clock } = this.options;
    if (!(await store.taskForKey(id, keyId))) throw new NotFound(`No video with id '${id}'`, 'video_not_found');
    const removeFiles = () => Promise.all([storage.deletePrefix(`videos/${id}`), media.deleteInputs(id)]);
    try {
      await removeFiles();
    } catch (error) {
      throw new Unavailable(`The files of video ${id} could not be removed now; nothing was deleted, try again`, 'storage_unavailable', { cause: error });
    }
    const deleted = await store.settle(id, { kind: 'deleted', keyId, now: clock.now() });
    if (!deleted) throw new NotFound(`No video with id '${id}'`, 'video_not_found');
    if (deleted.status === 'queued' || deleted.status === 'in_progress') this.options.onAbandoned?.(deleted);
    await removeFiles().catch(() => undefined);
  }
}
