import type { Logger } from 'pino';
import type { VideoJob } from '../catalog/types.ts';

/**
 * A provider turns a VideoJob into a video through a start/status pair, so that local
 * rendering and remote upstreams look the same to the runner. `start` returns an opaque
 * JSON handle that the runner saves on the task before it asks for status; after a crash
 * another runner continues from that handle.
 */
export type Operation = Record<string, unknown>;

export interface ProviderContext {
  taskId: string;
  job: VideoJob;
  /** Aborted when the runner stops or the task is cancelled. */
  signal: AbortSignal;
  /** The task's own logger: its lines carry the id of the request that made the task. */
  log?: Logger;
}

export type ProviderStatus =
  | { state: 'pending'; progress: number }
  /** A finished video in a local file, which the runner measures and moves into storage. */
  | { state: 'completed'; file: string }
  | { state: 'failed'; code: string; message: string };

export interface VideoProvider {
  readonly name: string;
  start(context: ProviderContext): Promise<Operation>;
  /** May wait a little for news before it answers; never longer than a few seconds. */
  status(operation: Operation, context: ProviderContext): Promise<ProviderStatus>;
}

/**
 * A failure that retrying will not mend: the task fails with this code and short message.
 * `detail` (an upstream's raw answer) goes to the log only, never to the task.
 */
export class ProviderFailure extends Error {
  readonly detail: string | null;
  constructor(
    readonly code: string,
    message: string,
    detail?: string | null,
  ) {
    super(message);
    this.detail = detail ?? null;
  }
}
