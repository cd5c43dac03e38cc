import path from 'node:path';
import { LocalStorage } from './local.ts';
import { S3Storage, type S3Settings } from './s3.ts';
import type { Storage } from './storage.ts';

/** The bucket when S3_BUCKET is set, else the folder DATA_DIR/files. */
export function openStorage(s3: S3Settings | null, dataDir: string): Storage {
  return s3 ? new S3Storage(s3) : new LocalStorage(path.join(dataDir, 'files'));
}
