import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PriceTable } from '../billing/prices.ts';
import { bill } from '../billing/quote.ts';
import { upstreamCost } from '../billing/upstream-cost.ts';
import type { VideoJob } from '../catalog/types.ts';
import { Unavailable } from '../errors.ts';
import { type MediaInfo, probeMedia } from '../media/ffmpeg.ts';
import { readMp4Header } from '../media/mp4-header.ts';
import { makeThumbnail, type Still, STILLS } from '../media/stills.ts';
import { downloadToFile, FetchError, type GuardOptions } from '../net/guarded-fetch.ts';
import { ProviderFailure } from '../providers/interface.ts';
import type { ResultLink, UpstreamUsage } from '../providers/upstream.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { PassingFailure } from './passing-failure.ts';

export interface KeeperOptions {
  store: Store;
  storage: Storage;
  clock: Clock;
  log: Logger;
  /** How long finished videos stay downloadable. */
  videoTtlMs: number;
  /** How results are fetched: the guarded fetcher's limits (maxBytes bounds a result video). */
  guard: GuardOptions;
  /** This process's scratch folder for downloads (see src/scratch.ts). */
  scratchDirectory: string;
  /** What a finished video is billed, from its measured length. */
  prices: PriceTable;
  /** A Vidu credit in micro-dollars, to record what the upstream charged beside our price. */
  creditMicros: number;
  /** Make the thumbnail and spritesheet as the video is kept (else on first request, by the api process). */
  stillsOnKeep: boolean;
}

/**
 * Makes a finished video ours: a local file (the preview renderer's) or an upstream's
 * temporary link is measured, put into storage, and only then is the task completed,
 * with the length and frame of what we serve. Upstream links expire within a day; our
 * copy lasts as long as the video's own expiry.
 */
export class Keeper {
  constructor(private readonly options: KeeperOptions) {}

  /**
   * Takes over a finished local file (it is gone afterwards, kept or not), with its stills;
   * `coverKept`: the upstream's cover is the thumbnail already.
   */
  async keepFile(task: TaskRow, owner: string, file: string, usage: UpstreamUsage | null = null, coverKept = false): Promise<void> {
    const { store, storage, clock, videoTtlMs, prices, creditMicros, stillsOnKeep } = this.options;
    const key = `videos/${task.id}/video.mp4`;
    let size: number;
    let output: { seconds: string; size: string; duration: number };
    let cost: number;
    try {
      output = await measure(file);
      // Never above the quote the client saw (and a metered key holds), even if prices rose since; a test task is free.
      cost = task.mode === 'test' ? 0 : Math.min(bill(JSON.parse(task.job) as VideoJob, prices, Number(output.seconds)).amount, task.price ?? Infinity);
      // Before the video moves into storage: made from the local file, not downloaded back.
      if (stillsOnKeep) await this.keepStills(task, file, output.duration, coverKept ? ['spritesheet'] : ['thumbnail', 'spritesheet']);
      ({ size } = await storage.putFile(key, file));
    } finally {
      // Moved, or failed to be: either way no one else will take the local file.
      await rm(file, { force: true });
    }
    const now = clock.now();
    const settled = await store.settle(task.id, {
      kind: 'completed',
      owner,
      now,
      expiresAt: now + videoTtlMs,
      videoKey: key,
      videoSize: size,
      seconds: output.seconds,
      // The size the client asked for, else the frame we serve.
      size: task.size ?? output.size,
      usage: usage ? JSON.stringify(usage) : null,
      cost,
      upstreamCost: upstreamCost(usage, creditMicros),
    });
    if (settled) return;
    // Deleted, cancelled or failed while we stored it: the file belongs to no video. A runner
    // that took the task over (still running, or completed) writes this same key: leave it.
    const current = await store.taskById(task.id);
    if (!current || current.status === 'cancelled' || current.status === 'failed') await storage.deletePrefix(`videos/${task.id}`);
  }

  /**
   * Copies an upstream's result through the guarded fetcher (its link may redirect
   * anywhere), keeps the cover as the thumbnail, then completes the task as keepFile does.
   * `trustedHosts` are the channel's own hosts, which may be private (a relay on the LAN).
   */
  async keepLink(
    task: TaskRow,
    owner: string,
    result: { video: ResultLink; cover: ResultLink | null; usage: UpstreamUsage | null },
    trustedHosts: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<void> {
    const { guard, scratchDirectory } = this.options;
    const options = { ...guard, allowedPrivateHosts: new Set([...guard.allowedPrivateHosts, ...trustedHosts]), signal };
    await mkdir(scratchDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(scratchDirectory, `${task.id}-`));
    try {
      const file = path.join(scratch, 'video.mp4');
      try {
        await downloadToFile(result.video.url, file, { ...options, headers: result.video.headers });
      } catch (error) {
        throw downloadFailure(error);
      }
      const coverKept = result.cover ? await this.keepCover(task, result.cover, scratch, options) : false;
      await this.keepFile(task, owner, file, result.usage, coverKept);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** The upstream's cover becomes the thumbnail variant (true when it did); without one, the thumbnail is made from the video. */
  private async keepCover(task: TaskRow, cover: ResultLink, scratch: string, options: GuardOptions & { signal: AbortSignal }): Promise<boolean> {
    const image = path.join(scratch, 'cover');
    const thumbnail = path.join(scratch, STILLS.thumbnail.file);
    try {
      await downloadToFile(cover.url, image, { ...options, headers: cover.headers });
      await makeThumbnail(image, thumbnail, 0);
      await this.options.storage.putFile(`videos/${task.id}/${STILLS.thumbnail.file}`, thumbnail);
      return true;
    } catch (error) {
      // The video cannot be kept either: the step waits for the bucket (step-failure.ts).
      if (error instanceof Unavailable) throw error;
      this.options.log.warn({ task: task.id, request: task.request_id, err: error }, 'the upstream cover could not be kept; the thumbnail will be made from the video');
      return false;
    }
  }

  /**
   * Stills made from the finished file and stored beside the video, so that no api process
   * has to fetch a video back to make one. One that fails is left to be made when first
   * asked for (src/http/stills.ts): never the video's failure.
   */
  private async keepStills(task: TaskRow, file: string, duration: number, stills: Still[]): Promise<void> {
    const { storage, scratchDirectory, log } = this.options;
    await mkdir(scratchDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(scratchDirectory, `${task.id}-stills-`));
    try {
      for (const still of stills) {
        const output = path.join(scratch, STILLS[still].file);
        await STILLS[still].make(file, output, duration);
        await storage.putFile(`videos/${task.id}/${STILLS[still].file}`, output);
      }
    } catch (error) {
      // The video cannot be kept either: the step waits for the bucket (step-failure.ts).
      if (error instanceof Unavailable) throw error;
      log.warn({ task: task.id, request: task.request_id, err: error }, 'a still could not be made; it will be made when first asked for');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/** A download that may work on a later try is a passing failure; one that never will ends the task. */
function downloadFailure(error: unknown): Error {
  if (error instanceof FetchError) {
    if (error.code === 'url_not_allowed' || error.code === 'url_invalid') {
      return new ProviderFailure('result_unavailable', 'The upstream result link points somewhere we do not fetch from', error.message);
    }
    if (error.code === 'too_large') return new ProviderFailure('result_too_large', 'The upstream result is larger than this gateway keeps', error.message);
    return new PassingFailure('result_unavailable', 'The upstream result could not be downloaded', { cause: error });
  }
  return new PassingFailure('result_unavailable', 'The upstream result could not be downloaded', { cause: error });
}

/**
 * What a finished file is, as the task reports it: whole seconds (at least 1) and
 * WIDTHxHEIGHT. An MP4's own boxes say it in a fraction of a millisecond; ffprobe reads
 * whatever they do not.
 */
async function measure(file: string): Promise<{ seconds: string; size: string; duration: number }> {
  let info: MediaInfo;
  try {
    info = (await readMp4Header(file)) ?? (await probeMedia(file));
  } catch (error) {
    throw new PassingFailure('invalid_output', 'The finished video could not be read back', { cause: error });
  }
  if (!(info.duration > 0) || info.videoCodec === null) throw new PassingFailure('invalid_output', 'The finished video has no length');
  return { seconds: String(Math.max(1, Math.round(info.duration))), size: `${info.width}x${info.height}`, duration: info.duration };
}
