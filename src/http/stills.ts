import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { probeMedia } from '../media/ffmpeg.ts';
import { type Still, STILLS } from '../media/stills.ts';
import type { Storage } from '../storage/storage.ts';
import type { TaskRow } from '../store/schema.ts';

/**
 * A video's thumbnail and spritesheet where the worker did not make them as it kept the
 * video (STILLS_ON_KEEP=0, a video kept before, a still that failed): made from the stored
 * video on first request and kept beside it; concurrent first requests share one ffmpeg run.
 */
export class StillMaker {
  private readonly making = new Map<string, Promise<string>>();

  constructor(
    private readonly storage: Storage,
    /** This process's scratch folder for stills being made (see src/scratch.ts). */
    private readonly scratchDirectory: string,
  ) {}

  async ensure(task: TaskRow, variant: Still): Promise<string> {
    const key = `videos/${task.id}/${STILLS[variant].file}`;
    // An empty one is none: a store that writes in place (not S3 itself) may show it mid-write.
    if (((await this.storage.stat(key))?.size ?? 0) > 0) return key;
    let pending = this.making.get(key);
    if (!pending) {
      pending = this.make(task, variant, key).finally(() => this.making.delete(key));
      this.making.set(key, pending);
    }
    return pending;
  }

  private async make(task: TaskRow, variant: Still, key: string): Promise<string> {
    await mkdir(this.scratchDirectory, { recursive: true });
    const scratch = await mkdtemp(path.join(this.scratchDirectory, 'still-'));
    try {
      const video = await this.storage.localPath(task.video_key!, scratch);
      const output = path.join(scratch, STILLS[variant].file);
      const { duration } = await probeMedia(video);
      await STILLS[variant].make(video, output, duration);
      await this.storage.putFile(key, output);
      return key;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
