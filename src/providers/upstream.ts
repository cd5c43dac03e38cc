import type { Slot } from '../catalog/dialects.ts';
import type { VideoJob } from '../catalog/types.ts';
import type { Clock } from '../tasks/clock.ts';
import type { FetchWithHook } from '../net/upstream-fetch.ts';
import type { Operation } from './interface.ts';

/**
 * The contract between the engine and a remote video service (xAI, Vidu, another
 * OpenAI-style gateway). Each step is short and stateless: `start` submits and answers
 * an operation (saved on the task, JSON, no secrets), `check` asks once how it is going.
 * Nothing is kept in memory between steps, so any worker can take the next one.
 */

/** What an adapter is built with: one channel's settings, and the means to reach it. */
export interface ChannelSettings {
  /** The channel's name, for logs and the operation; never a secret. */
  name: string;
  /** Base URL of the upstream API, without a trailing slash (e.g. `https://api.x.ai/v1`). */
  baseUrl: string;
  /** API keys, used in turn. An operation records the index of the key that made it, never the key. */
  keys: readonly string[];
  /** Every HTTP call goes through this: it carries the channel's timeouts and concurrency cap. */
  fetch: FetchWithHook;
  clock: Clock;
}

/** A job as an upstream receives it, with inputs in a form the upstream can reach. */
export interface UpstreamJob {
  taskId: string;
  job: VideoJob;
  /** The model id upstream, after the channel's mapping (upstream-apis.md §5). */
  upstreamModel: string;
  /** Every input as an http(s) URL or a `data:` URI, in the job's own order. */
  inputs: { images: string[]; lastImage: string | null; video: string | null; videos: string[] };
  /** A URL of ours the upstream may POST to on a status change (Vidu), or null. */
  callbackUrl: string | null;
  /**
   * Marks the task as being submitted: the submit's request runs it once it holds a
   * connection slot, right before its bytes leave. It throws SubmitWithdrawn when the task is
   * no longer this worker's to submit; then nothing is sent.
   */
  beforeSend?: () => Promise<void>;
}

/** What the upstream reports it charged for a task. */
export type UpstreamUsage = { costInUsdTicks: number } | { credits: number };

/** Where to copy a finished file from. `headers` go with the request (a relay's own key). */
export interface ResultLink {
  url: string;
  headers?: Record<string, string>;
}

export type CheckResult =
  | { state: 'pending'; progress: number | null }
  | { state: 'completed'; video: ResultLink; cover: ResultLink | null; usage: UpstreamUsage | null }
  /** `detail`: the upstream's own words, for the log only. */
  | { state: 'failed'; code: string; message: string; detail?: string };

/**
 * Something an upstream cannot do that the catalog accepted: the create is refused with a
 * 400 naming the body field that holds `slot` in the client's dialect.
 */
export interface Unsupported {
  slot: Slot;
  message: string;
}

/** The largest inputs this upstream takes inline as `data:` URIs, in bytes; 0 when it takes none. */
export interface InlineLimits {
  image: number;
  video: number;
}

export interface UpstreamProvider {
  readonly kind: string;
  /** True when a second `start` of the same task makes no second upstream task (it sends an idempotency key the upstream honours). */
  readonly idempotentStart: boolean;
  readonly inline: InlineLimits;
  /** Null when this upstream can serve the job as asked; else why not (checked at create, before any money is spent). */
  unsupported(job: VideoJob, upstreamModel: string): Unsupported | null;
  /** What this upstream will take but not honour (a field it ignores), told to the client on the task as warnings. */
  warnings?(job: VideoJob, upstreamModel: string): string[];
  start(job: UpstreamJob, signal: AbortSignal): Promise<Operation>;
  check(operation: Operation, signal: AbortSignal): Promise<CheckResult>;
  /** Asks the upstream to stop, where it offers that; best effort. */
  cancel?(operation: Operation, signal: AbortSignal): Promise<void>;
}
