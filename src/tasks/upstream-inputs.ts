import { buffer } from 'node:stream/consumers';
import type { UrlSigner } from '../auth/signed-url.ts';
import { bySlot, type JobInput, jobInputs } from '../catalog/inputs.ts';
import type { MediaRef, VideoJob } from '../catalog/types.ts';
import type { Slot } from '../catalog/dialects.ts';
import { InvalidInput } from '../errors.ts';
import { every } from '../every.ts';
import type { InlineLimits, Unsupported, UpstreamJob } from '../providers/upstream.ts';
import type { Storage } from '../storage/storage.ts';
import { taskIdTime } from './task-id.ts';

/** Turns a task's inputs into what an upstream can reach. */
export interface InputLinks {
  link(taskId: string, job: VideoJob, inline: InlineLimits): Promise<UpstreamJob['inputs']>;
  /** Our URL an upstream may call back on for this task, or null (no PUBLIC_URL). */
  callbackUrl(taskId: string): string | null;
}

/**
 * Hands a task's inputs to an upstream in a form it can reach. A user's public URL passes
 * through as it is (the upstream fetches it, as the user meant). An input we store (an
 * upload, a data URI, one of the user's videos) goes inline as a data URI where the
 * upstream takes one and it is small enough, else as a signed, expiring link of ours,
 * which needs PUBLIC_URL; without either the create is refused before anything is spent.
 */
export class UpstreamInputs implements InputLinks {
  constructor(
    private readonly storage: Storage,
    private readonly signer: UrlSigner,
    /** Where upstreams reach us (PUBLIC_URL), or null when they cannot. */
    private readonly publicUrl: string | null,
    /** How long a signed input link and a callback link stay valid. */
    private readonly linkTtlMs: number,
  ) {}

  async link(taskId: string, job: VideoJob, inline: InlineLimits): Promise<UpstreamJob['inputs']> {
    const inputs = jobInputs(job);
    return bySlot(inputs, await every(inputs.map(async (input) => this.hand(taskId, await this.way(input.ref, dialectSlot(job, input), inline)))));
  }

  /** Why the job's inputs cannot reach an upstream with these limits, or null when they can. */
  async problem(job: VideoJob, inline: InlineLimits): Promise<Unsupported | null> {
    for (const input of jobInputs(job)) {
      const slot = dialectSlot(job, input);
      try {
        await this.way(input.ref, slot, inline);
      } catch (error) {
        if (error instanceof UnreachableInput) return { slot, message: error.message };
        throw error;
      }
    }
    return null;
  }

  callbackUrl(taskId: string): string | null {
    return this.publicUrl ? this.signer.callbackUrl(this.publicUrl, taskId, this.expiry(taskId)) : null;
  }

  /**
   * Counted from the task's creation, not from now: a resubmission (to a relay that knows it
   * by its idempotency key) must send the very same links, or it reads as another request.
   */
  private expiry(taskId: string): number {
    return Math.floor(((taskIdTime(taskId) ?? Date.now()) + this.linkTtlMs) / 1000);
  }

  /** How one input reaches the upstream; throws UnreachableInput when it cannot. */
  private async way(ref: MediaRef, slot: Slot, inline: InlineLimits): Promise<Way> {
    if (ref.kind === 'url') return { kind: 'url', url: ref.url };
    if (ref.kind !== 'stored') throw new Error(`input of kind ${ref.kind} was not materialized`);
    const kind = ref.mime.startsWith('video/') ? 'video' : 'image';
    const size = (await this.storage.stat(ref.key))?.size;
    if (size === undefined) throw new Error(`stored input ${ref.key} is missing`);
    if (size <= inline[kind]) return { kind: 'inline', key: ref.key, mime: ref.mime };
    if (this.publicUrl) return { kind: 'signed', key: ref.key };
    const why = inline[kind] === 0 ? `this upstream does not take ${kind}s inline` : `it is larger than the ${Math.floor(inline[kind] / 1048576)} MiB this upstream takes inline`;
    throw new UnreachableInput(slot, `This ${kind} cannot be handed to the upstream: ${why}, and the gateway has no PUBLIC_URL for it to fetch from; pass a public URL instead`);
  }

  private async hand(taskId: string, way: Way): Promise<string> {
    switch (way.kind) {
      case 'url':
        return way.url;
      case 'inline':
        return `data:${way.mime};base64,${(await buffer(this.storage.openRead(way.key))).toString('base64')}`;
      case 'signed':
        return this.signer.inputUrl(this.publicUrl!, taskId, way.key.slice(way.key.lastIndexOf('/') + 1), this.expiry(taskId));
    }
  }
}

type Way = { kind: 'url'; url: string } | { kind: 'inline'; key: string; mime: string } | { kind: 'signed'; key: string };

/** The slot an input is named by: `images` holds one first frame, or a reference set. */
const dialectSlot = (job: VideoJob, { slot }: JobInput): Slot => (slot === 'images' && job.capability !== 'reference_to_video' ? 'image' : slot);

/** An input no upstream of this model can be handed; InvalidInput, so a submit turns it into a clear task failure. */
class UnreachableInput extends InvalidInput {
  constructor(
    readonly slot: Slot,
    message: string,
  ) {
    super(message, slot, 'input_unreachable');
  }
}
