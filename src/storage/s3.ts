import { createReadStream, createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Logger } from 'pino';
import { Unavailable } from '../errors.ts';
import { isUnreachable } from '../net/unreachable.ts';
import { OutageNotice } from '../outage-notice.ts';
import { checkKey, type Storage } from './storage.ts';

export interface S3Settings {
  bucket: string;
  /** An S3-compatible server's URL (MinIO, R2, …); null: AWS S3 in `region`. */
  endpoint: string | null;
  /** The endpoint clients are sent to by presigned links, when it differs from the one this process uses (compose: a public host). */
  publicEndpoint: string | null;
  region: string;
  /** null: the SDK's own chain (AWS_* variables, an instance role, …). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
  forcePathStyle: boolean;
  /**
   * How long a request may wait for the bucket to connect, and then to answer (its headers;
   * an upload's part included), before it is given up as unreachable; default 30 s.
   */
  timeoutMs?: number;
}

/**
 * The SDK warns on every start under Node 20 (7 lines) that its releases after January 2027
 * will need Node 22. The lockfile pins the version we run; moving to Node 22 before taking
 * such a release is ours to do, not each operator's to read at each start.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Uploads at least this large go up in parts, four at a time: memory stays bounded whatever the video's size. */
const PART_BYTES = 8 * 1024 * 1024;

/**
 * Objects in an S3-compatible bucket. Every process (api and worker) sees the same files,
 * so any of them may serve, copy or remove what another stored.
 */
export class S3Storage implements Storage {
  readonly #client: S3Client;
  /** Signs links for clients; the same as #client unless a public endpoint is set. */
  readonly #signer: S3Client;
  readonly #bucket: string;

  constructor(settings: S3Settings, log: Logger | null = null) {
    const timeoutMs = settings.timeoutMs ?? 30_000;
    const base: S3ClientConfig = {
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      // Checksums only where an operation requires them: since 3.729 the SDK adds CRC32 to every
      // upload, which MinIO, R2 and others refuse (aws/aws-sdk-js-v3#6810).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        // Content downloads stream from S3 while clients read them: more than the SDK's 50 sockets.
        httpAgent: { keepAlive: true, maxSockets: 256 },
        httpsAgent: { keepAlive: true, maxSockets: 256 },
        // A bucket that takes the connection and says nothing would hold the request for ever:
        // the SDK waits without limit by default, and only warns at its requestTimeout unless
        // told to throw. Not an inactivity limit: a download paused by a slow client is not the bucket's silence.
        connectionTimeout: timeoutMs,
        requestTimeout: timeoutMs,
        throwOnRequestTimeout: true,
      },
    };
    this.#client = new S3Client({ ...base, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
    const outage = log && new OutageNotice(log, 'reaching the bucket');
    // Around every call (retries included, uploads' parts too): a bucket that cannot be reached
    // is the client's 503 storage_unavailable, to be tried again, not a 500. The SDK tries a
    // timed-out request twice more, so a silent bucket would hold the caller three limits long:
    // the caller is answered at the limit, the tries left end on their own, and an answer that
    // comes after it is let go.
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        const sent = next(args);
        let timer: NodeJS.Timeout | undefined;
        let timedOut = false;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(Object.assign(new Error(`The bucket did not answer within ${timeoutMs} ms`), { name: 'TimeoutError' }));
          }, timeoutMs);
        });
        try {
          const answer = await Promise.race([sent, late]);
          outage?.worked();
          return answer;
        } catch (error) {
          // A late answer is nobody's: a download's body must not hold its socket.
          if (timedOut) void sent.then(({ output }) => (output as { Body?: { destroy?: () => void } }).Body?.destroy?.(), () => undefined);
          const out = unavailable(error);
          // Any other error is an answer from the bucket (a missing key): it works.
          if (out) outage?.failed(out);
          else outage?.worked();
          throw out ?? error;
        } finally {
          clearTimeout(timer);
        }
      },
      { step: 'initialize', name: 'storageUnavailable' },
    );
    const publicEndpoint = settings.publicEndpoint ?? settings.endpoint;
    this.#signer = publicEndpoint === settings.endpoint ? this.#client : new S3Client({ ...base, ...(publicEndpoint ? { endpoint: publicEndpoint } : {}) });
    this.#bucket = settings.bucket;
  }

  async putFile(key: string, sourcePath: string) {
    checkKey(key);
    const { size } = await stat(sourcePath);
    // lib-storage sends a small file in one PutObject and a large one as a multipart upload,
    // aborting the parts when it fails (a crash leaves them to the bucket's lifecycle rule, README).
    await new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: createReadStream(sourcePath, { highWaterMark: 1024 * 1024 }), ContentLength: size },
      partSize: PART_BYTES,
      queueSize: 4,
    }).done();
    // The local file is taken over, as the local store's move does.
    await unlink(sourcePath).catch(() => undefined);
    return { size };
  }

  async putBuffer(key: string, data: Buffer) {
    checkKey(key);
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: data }));
    return { size: data.length };
  }

  async copy(fromKey: string, toKey: string) {
    checkKey(fromKey);
    checkKey(toKey);
    // Keys are [A-Za-z0-9_./-] (checkKey): nothing in them needs escaping in x-amz-copy-source.
    await this.#client.send(new CopyObjectCommand({ Bucket: this.#bucket, Key: toKey, CopySource: `${this.#bucket}/${fromKey}` }));
  }

  async stat(key: string) {
    checkKey(key);
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  openRead(key: string, range?: { start: number; end: number }): Readable {
    checkKey(key);
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    const abort = new AbortController();
    // The reader went away (a client hung up): stop the download, free the socket.
    out.on('close', () => abort.abort());
    this.#client
      .send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }), { abortSignal: abort.signal })
      .then((object) => pipeline(object.Body as Readable, out))
      .catch((error: unknown) => out.destroy(error as Error));
    return out;
  }

  filePath() {
    return null;
  }

  async localPath(key: string, scratchDirectory: string) {
    const file = path.join(scratchDirectory, path.basename(key));
    await pipeline(this.openRead(key), createWriteStream(file));
    return file;
  }

  async children(prefix: string) {
    checkKey(prefix);
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: `${prefix}/`, Delimiter: '/', ContinuationToken: token }));
      for (const common of page.CommonPrefixes ?? []) names.add(common.Prefix!.slice(prefix.length + 1, -1));
      for (const object of page.Contents ?? []) names.add(object.Key!.slice(prefix.length + 1));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...names];
  }

  async deletePrefix(prefix: string) {
    checkKey(prefix);
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      const objects = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
      // A listing page holds at most 1,000 keys: one DeleteObjects call takes them all.
      if (objects.length > 0) await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: objects, Quiet: true } }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async ready() {
    // A write and its removal: the bucket exists and these credentials may write to it.
    const probe = `.ready-${process.pid}`;
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: probe, Body: Buffer.alloc(0) }));
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: probe }));
  }

  async downloadLink(key: string, options: { seconds: number; contentType: string }) {
    checkKey(key);
    return getSignedUrl(this.#signer, new GetObjectCommand({ Bucket: this.#bucket, Key: key, ResponseContentType: options.contentType }), { expiresIn: options.seconds });
  }

  close() {
    this.#client.destroy();
    if (this.#signer !== this.#client) this.#signer.destroy();
  }
}

/** The bucket could not be reached, or said it cannot serve now (a 5xx: SlowDown, InternalError). */
function unavailable(error: unknown): Unavailable | null {
  const refused = error instanceof S3ServiceException && error.$metadata.httpStatusCode !== undefined && error.$metadata.httpStatusCode >= 500;
  if (!refused && !isUnreachable(error) && (error as { name?: unknown } | null)?.name !== 'TimeoutError') return null;
  return new Unavailable('The file storage cannot be reached now; try again', 'storage_unavailable', { cause: error });
}

function isNotFound(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404);
}
