import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bySlot, hasInputs, jobInputs } from '../catalog/inputs.ts';
import { every } from '../every.ts';
import type { MediaRef, VideoJob } from '../catalog/types.ts';
import { InvalidInput } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { type MediaInfo, probeMedia } from '../media/ffmpeg.ts';
import { checkTarget, NOT_PUBLIC } from './address-policy.ts';
import { downloadToFile, type GuardOptions } from './guarded-fetch.ts';

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
};

/**
 * Inputs in and out of storage. On create, data URIs and uploaded files are written to
 * storage (so a task row never carries megabytes of base64, and a restart still has them);
 * at render time every input becomes a local file, URLs through the guarded fetcher.
 */
export class MediaResolver {
  constructor(
    private readonly storage: Storage,
    private readonly guard: GuardOptions,
    /** This process's scratch folder for probing (see src/scratch.ts). */
    private readonly scratchDirectory: string,
  ) {}

  /**
   * The job with every input the task must keep replaced by its own stored copy: inline
   * data, uploads, another task's inputs (a remix) and the caller's own finished videos
   * (`ownVideo` checks the id and answers its storage key, or refuses naming `param`). URLs stay URLs.
   */
  async materialize(taskId: string, job: VideoJob, ownVideo: (id: string, param: string) => Promise<string>): Promise<VideoJob> {
    if (!hasInputs(job)) return job;
    const inputs = jobInputs(job);
    const stored = await every(inputs.map(({ ref, param }, index) => this.#keep(ref, `inputs/${taskId}/${index}`, param, ownVideo)));
    return { ...job, ...bySlot(inputs, stored) };
  }

  /** One input, stored under `key` (plus its extension) where the task must keep it. */
  async #keep(ref: MediaRef, key: string, param: string, ownVideo: (id: string, param: string) => Promise<string>): Promise<MediaRef> {
    const mime = ref.kind === 'url' ? '' : ref.kind === 'video' ? 'video/mp4' : ref.mime;
    const keyed = `${key}.${EXTENSIONS[mime] ?? 'bin'}`;
    if (ref.kind === 'video' || ref.kind === 'stored') {
      await this.storage.copy(ref.kind === 'video' ? await ownVideo(ref.id, param) : ref.key, keyed);
      return { kind: 'stored', key: keyed, mime };
    }
    if (ref.kind === 'data') {
      await this.storage.putBuffer(keyed, this.#decoded(ref, param));
      return { kind: 'stored', key: keyed, mime: ref.mime };
    }
    if (ref.kind === 'upload') {
      await this.storage.putFile(keyed, ref.path);
      return { kind: 'stored', key: keyed, mime: ref.mime };
    }
    return ref;
  }

  /** A local file holding the input; the caller removes `directory` when done. */
  async toLocalFile(ref: MediaRef, directory: string, name: string, signal: AbortSignal): Promise<string> {
    await mkdir(directory, { recursive: true });
    switch (ref.kind) {
      case 'stored':
        return this.storage.localPath(ref.key, directory);
      case 'url': {
        const file = path.join(directory, name);
        await downloadToFile(ref.url, file, { ...this.guard, signal });
        return file;
      }
      default:
        // materialize() runs before a task is saved, so nothing inline reaches a renderer.
        throw new Error(`input of kind ${ref.kind} was not materialized`);
    }
  }

  /**
   * Refuses an input URL that can only lead to a private or reserved address (an IP
   * literal, localhost), before the task is made: the fetch would refuse it anyway, after
   * a hold and a wait. A name is judged when it is fetched, by the addresses it has then.
   */
  refusePrivate(ref: MediaRef, param: string): void {
    if (ref.kind === 'url' && checkTarget(new URL(ref.url), this.guard.allowedPrivateHosts) === 'refused') {
      throw new InvalidInput(`${param} points to ${NOT_PUBLIC}`, param, 'input_url_not_allowed');
    }
  }

  /**
   * What an input we hold is (frame, length), where it lies: a stored copy, an upload in
   * this process's folder, or inline data (written to scratch to be probed); null for a URL,
   * measured when the task runs, and for one of the key's videos, which its task describes.
   */
  async probe(ref: MediaRef, param: string): Promise<MediaInfo | null> {
    if (ref.kind === 'url' || ref.kind === 'video') return null;
    await mkdir(this.scratchDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(this.scratchDirectory, 'probe-'));
    try {
      const file = ref.kind === 'upload' ? ref.path : ref.kind === 'stored' ? await this.storage.localPath(ref.key, scratch) : path.join(scratch, 'input');
      if (ref.kind === 'data') await writeFile(file, this.#decoded(ref, param));
      return await probeMedia(file);
    } catch (error) {
      if (error instanceof InvalidInput) throw error;
      throw new InvalidInput(`${param} could not be read as ${ref.mime.startsWith('video/') ? 'a video' : 'an image'}`, param, 'invalid_media');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** The bytes of a data URI, refused when there are none or more than the input limit. */
  #decoded(ref: Extract<MediaRef, { kind: 'data' }>, param: string): Buffer {
    const data = Buffer.from(ref.base64, 'base64');
    if (data.length === 0) throw new InvalidInput(`${param} holds no data`, param, 'invalid_media');
    if (data.length > this.guard.maxBytes) {
      throw new InvalidInput(`${param} is larger than the input limit (${this.guard.maxBytes / 1024 / 1024} MB)`, param, 'input_too_large');
    }
    return data;
  }

  async deleteInputs(taskId: string): Promise<void> {
    await this.storage.deletePrefix(`inputs/${taskId}`);
  }
}
