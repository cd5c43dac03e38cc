import type { Quote } from '../billing/quote.ts';
import type { VideoJob } from '../catalog/types.ts';
import type { TaskRow } from '../store/schema.ts';
import type { UrlSigner } from '../auth/signed-url.ts';

export type VideoObjectKind = 'video' | 'video.generation.job';

/** A host name or IP literal with an optional port; nothing that could change a URL's meaning. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/**
 * The task as clients see it: the OpenAI video object (every field always present, times
 * in Unix seconds, `seconds` a string) plus the fields the seeds' gateways add.
 * `contentUrl` is the signed download link, given once the video is stored.
 */
export function videoObject(task: TaskRow, object: VideoObjectKind, contentUrl: string | null) {
  return {
    id: task.id,
    task_id: task.id,
    object,
    model: task.model,
    status: task.status,
    progress: task.progress,
    created_at: seconds(task.created_at),
    completed_at: seconds(task.completed_at),
    expires_at: seconds(task.expires_at),
    prompt: task.prompt,
    seconds: task.seconds,
    size: task.size,
    error: task.error_code === null ? null : { code: task.error_code, message: task.error_message ?? '' },
    remixed_from_video_id: task.remixed_from_video_id,
    video_url: contentUrl ?? '',
    ...(contentUrl ? { metadata: { url: contentUrl } } : {}),
    ...(task.warnings ? { warnings: JSON.parse(task.warnings) as string[] } : {}),
    // Micro-dollars: the quote (held on a metered key) and, once the task ended, what it was billed.
    billing: { currency: 'USD', unit: 'micro', price: task.price, cost: task.cost, metered: task.hold !== null },
    // test: made by the preview renderer for a test-mode key, and never charged.
    mode: task.mode,
    // The x-request-id of the create: the key to its log lines.
    request_id: task.request_id,
  };
}

/**
 * How long a poller should wait before asking again (`openai-poll-after-ms`): null once
 * the task has ended. Waiting tasks change slowly; running ones report progress often.
 */
export function pollAfterMs(task: TaskRow): number | null {
  if (task.status === 'queued') return 2000;
  if (task.status === 'in_progress') return 1000;
  return null;
}

/** Presents tasks with their signed download links, rooted at PUBLIC_URL or the request's own host. */
/** What a create would cost (POST …/quotes): the price a task would be quoted at, and what it was priced on. */
export function quoteObject({ job, quote }: { job: VideoJob; quote: Quote }) {
  return {
    object: 'video.quote',
    model: job.model,
    capability: job.capability,
    currency: 'USD',
    unit: 'micro',
    price: quote.amount,
    basis: { output_seconds: quote.outputSeconds, input_video_seconds: quote.inputVideoSeconds, input_images: quote.inputImages, tier: `${quote.tier}p` },
    warnings: job.warnings,
  };
}

export class Presenter {
  /**
   * The last JSON made from each row object. The store hands out the same object until the
   * row changes, so a poller that asks again gets the same text without serializing anew.
   */
  private readonly serialized = new WeakMap<TaskRow, { object: VideoObjectKind; host: string | undefined; until: number; json: string }>();

  constructor(
    private readonly signer: UrlSigner,
    private readonly publicUrl: string | null,
  ) {}

  json(task: TaskRow, object: VideoObjectKind, host: string | undefined): string {
    const now = Date.now();
    const last = this.serialized.get(task);
    if (last && last.object === object && last.host === host && now < last.until) return last.json;
    const json = JSON.stringify(this.video(task, object, host));
    // A completed task's link lapses at expires_at; the text must not outlive it.
    this.serialized.set(task, { object, host, until: task.expires_at ?? Infinity, json });
    return json;
  }

  video(task: TaskRow, object: VideoObjectKind, host: string | undefined) {
    return videoObject(task, object, this.contentUrl(task, host));
  }

  /** The signed link to a finished video's file, good until it expires; null when there is none. */
  contentUrl(task: TaskRow, host: string | undefined): string | null {
    const live = task.status === 'completed' && task.expires_at !== null && task.expires_at > Date.now();
    if (!live) return null;
    // The Host header is the client's to write: only a plain host[:port] may root a link.
    const base = this.publicUrl ?? `http://${host !== undefined && HOST.test(host) ? host : 'localhost'}`;
    return this.signer.contentUrl(base, task.id, Math.floor(task.expires_at! / 1000));
  }
}
