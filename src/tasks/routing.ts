import type { VideoJob } from '../catalog/types.ts';
import type { Channel } from '../channels/channel.ts';
import type { Channels } from '../channels/registry.ts';
import type { Unsupported } from '../providers/upstream.ts';
import { LOCAL_CHANNEL } from '../store/queries.ts';
import type { UpstreamInputs } from './upstream-inputs.ts';

/** Null when the channel can make this job as asked; else what it cannot do. */
export function unsupportedBy(channel: Channel, job: VideoJob): Unsupported | null {
  const upstreamModel = channel.models.get(job.model);
  if (upstreamModel === undefined) return { slot: 'prompt', message: `Channel ${channel.name} does not serve ${job.model}` };
  return channel.provider.unsupported(job, upstreamModel);
}

/** Who serves a job, and what it will not honour; or what no channel can do. */
export type Routed = { provider: string; warnings: string[] } | { unsupported: Unsupported };

/**
 * Picks who serves a new task, at create time, before anything is spent: the preview
 * renderer when no channel serves the model; else a channel that can make the job as asked
 * and be handed its inputs. When none can, the create is refused with what the first could
 * not do: never a silent downgrade (a 1080p request made at 720p).
 */
export async function routeJob(job: VideoJob, channels: Channels, inputs: UpstreamInputs, { withInputs = true } = {}): Promise<Routed> {
  if (!channels.serves(job.model)) return { provider: LOCAL_CHANNEL, warnings: [] };
  let first: Unsupported | null = null;
  for (const channel of channels.candidates(job.model)) {
    // Whether the inputs can be handed over needs them stored; a quote stores nothing and skips it.
    const problem = unsupportedBy(channel, job) ?? (withInputs ? await inputs.problem(job, channel.provider.inline) : null);
    if (!problem) return { provider: channel.name, warnings: channel.provider.warnings?.(job, channel.models.get(job.model)!) ?? [] };
    first ??= problem;
  }
  return { unsupported: first! };
}
