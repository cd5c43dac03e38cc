import path from 'node:path';
import type { Logger } from 'pino';
import { LocalStorage } from './local.ts';
import type { S3Settings } from './s3.ts';
import type { Storage } from './storage.ts';

/**
 * The bucket when S3_BUCKET is set, else the folder DATA_DIR/files. The S3 client is loaded
 * only for a bucket: the AWS SDK costs a one-machine gateway some 15 MB and its start-up time.
 * `log` hears when the bucket cannot be reached, once, and when it can again.
 */
export async function openStorage(s3: S3Settings | null, dataDir: string, log: Logger | null = null): Promise<Storage> {
  if (!s3) return new LocalStorage(filesFolder(dataDir));
  const { S3Storage } = await import('./s3.ts');
  return new S3Storage(s3, log);
}

/** Where the files are kept without a bucket. */
export const filesFolder = (dataDir: string): string => path.join(dataDir, 'files');
