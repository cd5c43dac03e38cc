import type { Readable } from 'node:stream';

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

/** Keys come from our own code, but a bad one must never escape the folder or the bucket. */
export function checkKey(key: string): void {
  if (!KEY.test(key) || key.split('/').includes('..')) throw new Error(`invalid storage key: ${key}`);
}

/**
 * Where task files live: finished videos and the inputs a client uploaded. Keys are
 * slash-separated paths such as `videos/<task>/video.mp4`; one interface for the local
 * disk (local.ts) and S3-compatible buckets (s3.ts).
 */
export interface Storage {
  /** Takes over a finished local file (moves it where it can). */
  putFile(key: string, sourcePath: string): Promise<{ size: number }>;
  putBuffer(key: string, data: Buffer): Promise<{ size: number }>;
  copy(fromKey: string, toKey: string): Promise<void>;
  stat(key: string): Promise<{ size: number } | null>;
  /** Reads a byte range (inclusive `end`), or the whole object. */
  openRead(key: string, range?: { start: number; end: number }): Readable;
  /** The object's own path when it lives on this machine's disk, else null (a remote store). */
  filePath(key: string): string | null;
  /** A local path to read the object from; a remote store downloads it into `scratchDirectory`. */
  localPath(key: string, scratchDirectory: string): Promise<string>;
  /**
   * The names one level below `prefix/` (as `a` and `b` for `prefix/a/x` and `prefix/b`),
   * none when nothing is there; for sweeping what no task owns any more.
   */
  children(prefix: string): Promise<string[]>;
  /** Removes every object whose key starts with `prefix/`. */
  deletePrefix(prefix: string): Promise<void>;
  /** Throws unless objects can be written now (GET /readyz). */
  ready(): Promise<void>;
  /**
   * A short-lived link a client may download the object from without us (CONTENT_REDIRECT),
   * served as `contentType`; null where there is no such thing (the local disk).
   */
  downloadLink(key: string, options: { seconds: number; contentType: string }): Promise<string> | null;
  close(): void;
}
