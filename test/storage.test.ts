import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, describe, test } from 'node:test';
import { LocalStorage } from '../src/storage/local.ts';
import { S3Storage } from '../src/storage/s3.ts';
import type { Storage } from '../src/storage/storage.ts';
import { s3Settings } from './support/s3.ts';

/** The same contract for the local folder and an S3-protocol server (s3rver): what the gateway relies on from either. */
const root = mkdtempSync(path.join(os.tmpdir(), 'vidgate-storage-'));
after(() => rmSync(root, { recursive: true, force: true }));

let made = 0;
function sourceFile(data: Buffer): string {
  const file = path.join(root, `source-${++made}`);
  writeFileSync(file, data);
  return file;
}

async function s3Storage(): Promise<S3Storage> {
  return new S3Storage(await s3Settings(path.join(root, `bucket-${++made}`)));
}

const kinds: [string, () => Promise<Storage>][] = [
  ['local folder', async () => new LocalStorage(path.join(root, `files-${++made}`))],
  ['S3 bucket', s3Storage],
];

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const [kind, open] of kinds) {
  describe(`storage: ${kind}`, () => {
    test('a file put is taken over, measured, and read back whole and by range', async () => {
      const storage = await open();
      const data = randomBytes(300_000);
      const source = sourceFile(data);
      assert.deepEqual(await storage.putFile('videos/v1/video.mp4', source), { size: data.length });
      assert.equal(existsSync(source), false, 'the local file is taken over');
      assert.deepEqual(await storage.stat('videos/v1/video.mp4'), { size: data.length });
      assert.equal(sha(await buffer(storage.openRead('videos/v1/video.mp4'))), sha(data));
      assert.deepEqual(await buffer(storage.openRead('videos/v1/video.mp4', { start: 1000, end: 1999 })), data.subarray(1000, 2000));
      assert.equal(await storage.stat('videos/v1/missing.mp4'), null);
    });

    test('a file larger than one upload part arrives whole (multipart on S3)', async () => {
      const storage = await open();
      const data = randomBytes(19 * 1024 * 1024);
      await storage.putFile('videos/big/video.mp4', sourceFile(data));
      assert.deepEqual(await storage.stat('videos/big/video.mp4'), { size: data.length });
      const scratch = mkdtempSync(path.join(root, 'scratch-'));
      assert.equal(sha(readFileSync(await storage.localPath('videos/big/video.mp4', scratch))), sha(data));
    });

    test('buffers, copies, children and prefix deletes', async () => {
      const storage = await open();
      await storage.putBuffer('inputs/t1/image-0', Buffer.from('one'));
      await storage.putBuffer('inputs/t2/image-0', Buffer.from('two'));
      await storage.putBuffer('inputs/t2/nested/x', Buffer.from('x'));
      await storage.copy('inputs/t1/image-0', 'inputs/t3/image-0');
      assert.equal((await buffer(storage.openRead('inputs/t3/image-0'))).toString(), 'one');
      assert.deepEqual((await storage.children('inputs')).sort(), ['t1', 't2', 't3']);
      assert.deepEqual((await storage.children('inputs/t2')).sort(), ['image-0', 'nested']);
      assert.deepEqual(await storage.children('nothing'), []);
      await storage.deletePrefix('inputs/t2');
      assert.equal(await storage.stat('inputs/t2/image-0'), null);
      assert.equal(await storage.stat('inputs/t2/nested/x'), null);
      assert.deepEqual((await storage.children('inputs')).sort(), ['t1', 't3']);
      await storage.deletePrefix('inputs/none');
    });

    test('a key that could leave its place is refused', async () => {
      const storage = await open();
      await assert.rejects(storage.putBuffer('../escape', Buffer.from('x')), /invalid storage key/);
      await assert.rejects(storage.putBuffer('videos/../../x', Buffer.from('x')), /invalid storage key/);
      assert.throws(() => storage.openRead('/etc/passwd'), /invalid storage key/);
    });

    test('ready() holds while writes can be made', async () => {
      const storage = await open();
      await storage.ready();
    });
  });
}

describe('storage: S3 only', () => {
  test('a download link serves the object without us, with the type asked for, presigned for the time asked', async () => {
    const storage = await s3Storage();
    const data = randomBytes(50_000);
    await storage.putFile('videos/l/video.mp4', sourceFile(data));
    const link = await storage.downloadLink('videos/l/video.mp4', { seconds: 60, contentType: 'video/mp4' })!;
    const response = await fetch(link);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'video/mp4');
    assert.equal(sha(Buffer.from(await response.arrayBuffer())), sha(data));
    const ranged = await fetch(link, { headers: { range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), data.subarray(10, 20));
    assert.match(new URL(link).search, /X-Amz-Expires=60&/);
  });

  test('the local folder has no download link', () => {
    assert.equal(new LocalStorage(root).downloadLink('videos/x/video.mp4', { seconds: 60, contentType: 'video/mp4' }), null);
  });

  test('ready() fails, naming why, when the bucket is missing', async () => {
    const storage = new S3Storage(await s3Settings(path.join(root, 'ready'), 'no-such-bucket'));
    await assert.rejects(storage.ready(), /bucket/i);
  });
});
