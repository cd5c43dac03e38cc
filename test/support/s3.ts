import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from '@20minutes/s3rver';
import type { S3Settings } from '../../src/storage/s3.ts';
import { BucketAlreadyExists, BucketAlreadyOwnedByYou, CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/**
 * Where the gateways the tests start keep their files: the local folder (npm test) or an
 * S3-protocol server (npm run test:postgres, VIDGATE_TEST_STORAGE=s3): @20minutes/s3rver,
 * started in the test file's own process on a free port, a bucket per gateway data folder.
 */
export const TEST_STORAGE: 'local' | 's3' = process.env.VIDGATE_TEST_STORAGE === 's3' ? 's3' : 'local';

/** s3rver's fixed credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  endpoint: string;
  port: number;
  directory: string;
  client: S3Client;
  close(): Promise<void>;
}

/** An S3-protocol server of its own (on `port`, keeping its objects in `directory`, to start one again), gone with the process. */
export async function startS3Server(port = 0, directory = mkdtempSync(path.join(os.tmpdir(), 'vidgate-s3-'))): Promise<S3TestServer> {
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  // allowMismatchedSignatures: s3rver signs a bucket's own path as `/bucket` where the SDK
  // (3.11xx) signs `/bucket/`, so every bucket-level call (create, list, multi-delete) would
  // be refused; object calls match. Signatures are S3's to check, not what these tests prove.
  const server = new S3rver({ port, address: '127.0.0.1', directory, silent: true, allowMismatchedSignatures: true });
  const address = await server.run();
  // Never what keeps a test process alive: the gateways it serves are gone by then.
  server.httpServer.unref();
  const sockets = new Set<import('node:net').Socket>();
  server.httpServer.on('connection', (socket) => {
    socket.unref();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS });
  return {
    endpoint,
    port: address.port,
    directory,
    client,
    async close() {
      for (const socket of sockets) socket.destroy();
      await server.close();
    },
  };
}

let started: Promise<S3TestServer> | null = null;

/** The S3 server of this test process, started on first use and gone with the process. */
export function s3Server(): Promise<S3TestServer> {
  started ??= startS3Server();
  return started;
}

/** A gateway's bucket, named by its data folder: a restart on the same folder finds its files. */
export function bucketOf(dataDir: string): string {
  return `b-${createHash('sha1').update(path.resolve(dataDir)).digest('hex').slice(0, 16)}`;
}

/** The settings a gateway on `dataDir` needs for its bucket (on `server`, else this process's), made here if missing. */
export async function s3Env(dataDir: string, server?: S3TestServer): Promise<Record<string, string>> {
  const { endpoint, client } = server ?? (await s3Server());
  const bucket = bucketOf(dataDir);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    // A restart on the same folder: s3rver says it exists, S3 that we own it.
    if (!(error instanceof BucketAlreadyOwnedByYou || error instanceof BucketAlreadyExists)) throw error;
  }
  return { S3_BUCKET: bucket, S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, S3_FORCE_PATH_STYLE: '1' };
}

/** Settings for an S3Storage made in the test's own process, on the bucket of `dataDir` (or another bucket). */
export async function s3Settings(dataDir: string, bucket?: string): Promise<S3Settings> {
  const env = await s3Env(dataDir);
  return { bucket: bucket ?? env.S3_BUCKET!, endpoint: env.S3_ENDPOINT!, publicEndpoint: null, region: 'us-east-1', credentials: CREDENTIALS, forcePathStyle: true };
}

/** What a gateway's environment needs for the storage the tests run on. */
export async function storageEnv(dataDir: string): Promise<Record<string, string>> {
  return TEST_STORAGE === 's3' ? s3Env(dataDir) : {};
}

/** The keys a gateway on `dataDir` has stored under `prefix/`, wherever it keeps them. */
export async function storedKeys(dataDir: string, prefix: string): Promise<string[]> {
  if (TEST_STORAGE === 'local') {
    const root = path.join(dataDir, 'files');
    const folder = path.join(root, prefix);
    if (!existsSync(folder)) return [];
    return readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
      .sort();
  }
  return bucketKeys(dataDir, prefix);
}

/** The keys under `prefix/` in the bucket of a gateway on `dataDir` (on `server`, else this process's). */
export async function bucketKeys(dataDir: string, prefix: string, server?: S3TestServer): Promise<string[]> {
  const { client } = server ?? (await s3Server());
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucketOf(dataDir), Prefix: `${prefix}/` }));
  return (page.Contents ?? []).map((object) => object.Key!).sort();
}
