import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkKey, type Storage } from './storage.ts';

/** Files under one folder on the local disk (the embedded default: DATA_DIR/files). */
export class LocalStorage implements Storage {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    checkKey(key);
    return path.join(this.root, key);
  }

  async putFile(key: string, sourcePath: string) {
    const target = this.file(key);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(sourcePath, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      // Another filesystem (e.g. /tmp on tmpfs): copy, then drop the source.
      await copyFile(sourcePath, `${target}.partial`);
      await rename(`${target}.partial`, target);
      await unlink(sourcePath).catch(() => undefined);
    }
    return { size: (await stat(target)).size };
  }

  async ready() {
    // A file written and removed: the folder exists, is a folder, and takes writes.
    await mkdir(this.root, { recursive: true });
    const probe = path.join(this.root, `.ready-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  }

  async putBuffer(key: string, data: Buffer) {
    const target = this.file(key);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(`${target}.partial`, data);
    await rename(`${target}.partial`, target);
    return { size: data.length };
  }

  async copy(fromKey: string, toKey: string) {
    const target = this.file(toKey);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(this.file(fromKey), `${target}.partial`);
    await rename(`${target}.partial`, target);
  }

  async stat(key: string) {
    try {
      const info = await stat(this.file(key));
      return info.isFile() ? { size: info.size } : null;
    } catch {
      return null;
    }
  }

  openRead(key: string, range?: { start: number; end: number }) {
    // 1 MiB reads: the socket, not the syscalls, should be the limit (stack.md).
    return createReadStream(this.file(key), { highWaterMark: 1024 * 1024, ...range });
  }

  filePath(key: string) {
    return this.file(key);
  }

  async localPath(key: string, _scratchDirectory: string) {
    return this.file(key);
  }

  async children(prefix: string) {
    try {
      return await readdir(this.file(prefix));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** The bytes of a local file pass through us: there is no link to send a client to. */
  downloadLink(_key: string, _options: { seconds: number; contentType: string }) {
    return null;
  }

  close() {}

  async deletePrefix(prefix: string) {
    await rm(this.file(prefix), { recursive: true, force: true });
  }
}
