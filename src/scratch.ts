import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Another host's folder in a shared DATA_DIR, untouched this long, belongs to a host that is gone. */
const OTHER_HOST_TTL_MS = 24 * 3600_000;

/**
 * Where a process keeps files nobody else needs: uploads being received, renders in
 * progress, stills being made, inputs being probed. Each process has its own folder,
 * DATA_DIR/scratch/<host>-<pid>-<start>, so that a process starting up can tell what is left
 * from one that died (kill -9 runs no clean-up) from what another live process on the
 * same DATA_DIR is using: a folder of this host whose process is gone is removed whole, and
 * so is one with this very pid (a container's process is pid 1 at every start: the one
 * before is surely gone). Another host's processes cannot be asked: its folders are left to
 * it, unless untouched for a day.
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
  static async open(dataDir: string, pid = process.pid, host = os.hostname()): Promise<Scratch> {
    const root = path.join(dataDir, 'scratch');
    await mkdir(root, { recursive: true });
    for (const entry of await readdir(root)) {
      // <host>-<pid>-<start>; earlier versions wrote <pid>-<start>, on this host.
      const match = /^(?:(.+)-)?(\d+)-[0-9a-z]+$/.exec(entry);
      const folder = path.join(root, entry);
      const owner = Number(match?.[2]);
      const ownHost = (match?.[1] ?? host) === host;
      const gone = !match || (ownHost ? owner === pid || !alive(owner) : await untouchedFor(folder, OTHER_HOST_TTL_MS));
      if (gone) await rm(folder, { recursive: true, force: true });
    }
    // Folders of earlier versions, which kept uploads and renders outside any process's folder.
    await Promise.all(['tmp', 'work'].map((legacy) => rm(path.join(dataDir, legacy), { recursive: true, force: true })));
    const directory = path.join(root, `${host}-${pid}-${Date.now().toString(36)}`);
    await mkdir(directory, { recursive: true });
    return new Scratch(directory);
  }
}

async function untouchedFor(folder: string, ms: number): Promise<boolean> {
  const info = await stat(folder).catch(() => null);
  return info !== null && Date.now() - info.mtimeMs > ms;
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
