import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { probe } from './support/media.ts';
import { bucketKeys, type S3TestServer, s3Env, s3Server, startS3Server } from './support/s3.ts';
import { startTcpGate } from './support/tcp-gate.ts';

/**
 * A gateway on an S3-protocol server (s3rver), whatever storage the rest of the run uses:
 * videos are made, kept in the bucket, served from it with Range, or handed out as a
 * presigned link with CONTENT_REDIRECT=1, and removed from it with their task.
 */
const running: RunningGateway[] = [];
after(async () => {
  for (const gateway of running) await gateway.stop();
  for (const gateway of running) removeDataDir(gateway.dataDir);
});

/** A gateway on a bucket of its own (named by its data folder) on `server` (else the file's), whatever storage the run uses. */
async function startOnS3(env: Record<string, string> = {}, server?: S3TestServer) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  const gateway = await startGateway({ ...(await s3Env(dataDir, server)), ...env }, dataDir);
  running.push(gateway);
  return gateway;
}

describe('S3 storage', () => {
  test('a video is kept in the bucket, not on disk, served whole and by range, with stills, and gone with its task', async () => {
    const gateway = await startOnS3();
    const client = await newClient(gateway);
    const created = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a red kite over the sea', duration: 3, size: '480p' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const done = await client.waitFor(created.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));

    // The stills were made by the worker as it kept the video, before anyone asked.
    assert.deepEqual(await bucketKeys(gateway.dataDir, `videos/${done.id}`), ['spritesheet.jpg', 'thumbnail.webp', 'video.mp4'].map((file) => `videos/${done.id}/${file}`));
    assert.equal(existsSync(path.join(gateway.dataDir, 'files', 'videos')), false, 'nothing is kept on local disk');

    const whole = await client.request('GET', `/v1/videos/${done.id}/content`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-type'), 'video/mp4');
    const bytes = Buffer.from(await whole.arrayBuffer());
    assert.equal(Number(whole.headers.get('content-length')), bytes.length);
    const info = probe(bytes);
    assert.equal(info.codec, 'h264');
    assert.equal(info.height, 480);
    assert.ok(Math.abs(info.duration - 3) < 0.2, `duration ${info.duration}`);

    const part = await client.request('GET', `/v1/videos/${done.id}/content`, undefined, { range: 'bytes=100-1099' });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-1099/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 1100));

    const thumbnail = await client.request('GET', `/v1/videos/${done.id}/content?variant=thumbnail`);
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp');
    assert.equal(Buffer.from(await thumbnail.arrayBuffer()).subarray(8, 12).toString(), 'WEBP');

    assert.equal((await client.json('DELETE', `/v1/videos/${done.id}`)).status, 200);
    assert.deepEqual(await bucketKeys(gateway.dataDir, `videos/${done.id}`), []);
  });

  test('with CONTENT_REDIRECT=1 content is a 302 to a short-lived bucket link that serves the video', async () => {
    const gateway = await startOnS3({ CONTENT_REDIRECT: '1' });
    const client = await newClient(gateway);
    const created = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'rain on a window', duration: 2, size: '480p' });
    const done = await client.waitFor(created.body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));

    const answer = await client.request('GET', `/v1/videos/${done.id}/content`, undefined, {});
    // fetch follows redirects by default: ask it not to, to see ours.
    const redirect = await fetch(`${gateway.url}/v1/videos/${done.id}/content`, { headers: { authorization: `Bearer ${client.key}` }, redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('cache-control'), 'no-store');
    const location = new URL(redirect.headers.get('location')!);
    const { endpoint } = await s3Server();
    assert.equal(location.origin, endpoint, 'the bytes come from the bucket');
    assert.equal(location.searchParams.get('X-Amz-Expires'), '300');

    // Followed (as the client above did), it is the video.
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'video/mp4');
    assert.equal(probe(Buffer.from(await answer.arrayBuffer())).codec, 'h264');

    // A signed link of ours (no key) redirects too; a spritesheet is served as a JPEG.
    const sprites = await fetch(`${gateway.url}/v1/videos/${done.id}/content?variant=spritesheet`, { redirect: 'manual', headers: { authorization: `Bearer ${client.key}` } });
    assert.equal(sprites.status, 302);
    const sheet = await fetch(sprites.headers.get('location')!);
    assert.equal(sheet.headers.get('content-type'), 'image/jpeg');

    // Refusals are answered before any link is made.
    const wrongKey = await fetch(`${gateway.url}/v1/videos/${done.id}/content`, { redirect: 'manual', headers: { authorization: `Bearer ${(await newClient(gateway, 'other')).key}` } });
    assert.equal(wrongKey.status, 404);
  });

  test('while the bucket cannot be reached, content and a delete are 503 storage_unavailable and change nothing; once it can, the task goes with its files', async () => {
    const own = await startS3Server();
    const gateway = await startOnS3({}, own);
    const dataDir = gateway.dataDir;
    const client = await newClient(gateway);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'kept through an outage', duration: 1, size: '480p' });
    assert.equal((await client.waitFor(body.id)).status, 'completed');
    await own.close();
    for (const variant of ['', '?variant=thumbnail']) {
      const content = await client.json('GET', `/v1/videos/${body.id}/content${variant}`);
      assert.equal(content.status, 503, JSON.stringify(content.body));
      assert.deepEqual([content.body.error.type, content.body.error.code], ['server_error', 'storage_unavailable']);
      assert.equal(content.headers.get('retry-after'), '2');
    }
    const refused = await client.json('DELETE', `/v1/videos/${body.id}`);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'storage_unavailable');
    assert.equal(refused.headers.get('retry-after'), '2');
    assert.equal((await client.json('GET', `/v1/videos/${body.id}`)).body.status, 'completed', 'the task is still there, whole');
    const back = await startS3Server(own.port, own.directory);
    assert.equal((await client.json('DELETE', `/v1/videos/${body.id}`)).status, 200);
    assert.equal((await client.json('GET', `/v1/videos/${body.id}`)).status, 404);
    assert.deepEqual(await bucketKeys(dataDir, `videos/${body.id}`, back), []);
    assert.deepEqual(await bucketKeys(dataDir, `inputs/${body.id}`, back), []);
  });

  test('a bucket that keeps the connection but answers nothing is 503 storage_unavailable after S3_TIMEOUT_SECONDS, and serves again once it answers', async (t) => {
    const own = await startS3Server();
    const gate = await startTcpGate('127.0.0.1', own.port);
    t.after(() => gate.close());
    const client = await newClient(await startOnS3({ S3_ENDPOINT: `http://127.0.0.1:${gate.port}`, S3_TIMEOUT_SECONDS: '2' }, own));
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'kept through a silence', duration: 1, size: '480p' });
    assert.equal((await client.waitFor(body.id)).status, 'completed');
    gate.freeze();
    const started = performance.now();
    const content = await client.json('GET', `/v1/videos/${body.id}/content`);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(content.status, 503, JSON.stringify(content.body));
    // Given up at the limit, not after the SDK's three tries of it. The bound is the documented
    // deadline with room for a loaded machine, not a speed claim.
    assert.ok(seconds < 3.5, `answered after ${seconds.toFixed(1)} s; the limit is 2 s`);
    assert.deepEqual([content.body.error.type, content.body.error.code], ['server_error', 'storage_unavailable']);
    gate.thaw();
    const video = await client.request('GET', `/v1/videos/${body.id}/content`);
    assert.equal(video.status, 200);
    assert.ok(Math.abs(probe(Buffer.from(await video.arrayBuffer())).duration - 1) < 0.2);
  });

  test('a video asked for while the bucket cannot be reached waits for it, spending none of its attempts, and is kept once it is back; the outage is logged once, and its end', async () => {
    const own = await startS3Server();
    const gateway = await startOnS3({}, own);
    const client = await newClient(gateway);
    await own.close();
    const { status, body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'made through an outage', duration: 1, size: '480p' });
    assert.equal(status, 200, JSON.stringify(body));
    // Longer than five failed attempts take (2 + 4 + 8 + 16 s of backoff, and the renders).
    await new Promise((resolve) => setTimeout(resolve, 36_000));
    const waiting = (await client.json('GET', `/v1/videos/${body.id}`)).body;
    assert.ok(['queued', 'in_progress'].includes(waiting.status), JSON.stringify(waiting));
    await startS3Server(own.port, own.directory);
    const done = await client.waitFor(body.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    const video = await client.request('GET', `/v1/videos/${body.id}/content`);
    assert.equal(video.status, 200);
    assert.ok(Math.abs(probe(Buffer.from(await video.arrayBuffer())).duration - 1) < 0.2);
    // The task was tried again every few seconds through the outage: said once, not at each try.
    const said = gateway.logs.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level >= 40).map((line) => line.msg);
    assert.deepEqual(said, ['reaching the bucket failed: storage_unavailable; trying on, quietly until it works again']);
    assert.ok(gateway.logs.some((line) => line.includes('reaching the bucket works again')), 'the end of the outage is said too');
  });

  test('CONTENT_REDIRECT without a bucket stops the start, naming it', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
    try {
      // An empty S3_BUCKET is no bucket, also where the run gives gateways one.
      await assert.rejects(startGateway({ CONTENT_REDIRECT: '1', S3_BUCKET: '' }, dataDir), /CONTENT_REDIRECT: needs S3_BUCKET/);
    } finally {
      removeDataDir(dataDir);
    }
  });

  test('GET /readyz names storage while the bucket is missing', async () => {
    const gateway = await startOnS3({ S3_BUCKET: 'missing-bucket' });
    const answer = await fetch(`${gateway.url}/readyz`);
    assert.equal(answer.status, 503);
    const body = (await answer.json()) as { checks: Record<string, string> };
    assert.equal(body.checks.database, 'ok');
    assert.match(body.checks.storage!, /bucket/i);
  });
});
