import type { UpstreamProvider } from '../providers/upstream.ts';
import type { Breaker } from './breaker.ts';
import type { UpstreamKind } from './defaults.ts';

/** An upstream as the operator configured it: who serves which of our models, and how much traffic it takes. */
export interface Channel {
  /** Unique; saved on each task it serves. Never `local` (the preview renderer's name). */
  name: string;
  kind: UpstreamKind;
  provider: UpstreamProvider;
  /** The upstream's base URL; its host may serve the results too. */
  baseUrl: string;
  /** Our public model name → the upstream's model id. */
  models: ReadonlyMap<string, string>;
  /** Higher goes first; channels of one priority share tasks by weight. */
  priority: number;
  weight: number;
  breaker: Breaker;
  /** Upstream HTTP calls in flight and waiting, and the cap on them, for operators. */
  load(): { inFlight: number; waiting: number; maxConcurrent: number };
  /** Lets go of the channel's connections. */
  close(): void;
}
