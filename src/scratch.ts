import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where a process keeps files nobody else needs: uploads being received, renders in
 * progress, stills being made, inputs being probed. Each process has its own folder,
 * DATA_DIR/scratch/<pid>-<start>, so that a process starting up can tell what is left
 * from one that died (kill -9 runs no clean-up) from what another live process on the
 * same DATA_DIR is using: a folder whose process is gone is removed whole.
 */
export class Scratch {
  private constructor(readonly directory: string) {}

  /** A folder for one purpose (`uploads`, `renders`, …) inside this process's scratch. */
  folder(name: string): string {
    return path.join(this.directory, name);
  }

  /** Removes this process's folder: on a clean stop, or a start that failed. */
  async remove(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }

  /** Clears what dead processes left, then makes this process's own folder. */
  static async open(dataDir: string, pid = process.pid): Promise<Scratch> {
    const root = path.join(dataDir, 'scratch');
    await mkdir(root, { recursive: true });
    for (const entry of await readdir(root)) {
      const owner = Number(/^(\d+)-/.exec(entry)?.[1]);
      if (!Number.isInteger(owner) || !alive(owner)) await rm(path.join(root, entry), { recursive: true, force: true });
    }
    // Folders of earlier versions, which kept uploads and renders outside any process's folder.
    await Promise.all(['tmp', 'work'].map((legacy) => rm(path.join(dataDir, legacy), { recursive: true, force: true })));
    const directory = path.join(root, `${pid}-${Date.now().toString(36)}`);
    await mkdir(directory, { recursive: true });
    return new Scratch(directory);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
