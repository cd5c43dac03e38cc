import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gatewayDatabase } from './support/database.ts';
import { ffmpegPath } from '../src/media/ffmpeg.ts';
import { mp4File, pngDataUri, pngFile, probe } from './support/media.ts';
import { startOrigin } from './support/origin.ts';
import { ADMIN_KEY, type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';

/**
 * End to end on the embedded default: tasks render on the local preview renderer, and the
 * MP4s we download are checked with ffprobe for duration, frame size and codec.
 */
let gateway: RunningGateway;
let client: Client;
let origin: Awaited<ReturnType<typeof startOrigin>>;
let blocked: Awaited<ReturnType<typeof startOrigin>>;

before(async () => {
  const png = { type: 'image/png', body: readFileSync(pngFile(300, 500)) };
  const originFiles: Parameters<typeof startOrigin>[0] = { '/portrait.png': png };
  origin = await startOrigin(originFiles);
  blocked = await startOrigin({ '/portrait.png': png });
  // An allowed host that sends the fetch on to one that is not.
  originFiles['/to-blocked.png'] = { location: `${blocked.url}/portrait.png` };
  gateway = await startGateway({ ALLOWED_PRIVATE_HOSTS: origin.hostPort, RENDER_CONCURRENCY: '2' });
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  await origin.close();
  await blocked.close();
  removeDataDir(gateway.dataDir);
});

async function render(body: Record<string, unknown> | FormData) {
  const created = await client.json('POST', '/v1/videos', body);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const task = await client.waitFor(created.body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  const response = await client.request('GET', `/v1/videos/${task.id}/content`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'video/mp4');
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(Number(response.headers.get('content-length')), bytes.length);
  return { task, bytes, info: probe(bytes) };
}

function assertVideo(info: ReturnType<typeof probe>, seconds: number, width: number, height: number) {
  assert.equal(info.codec, 'h264');
  assert.equal(info.pixelFormat, 'yuv420p');
  assert.equal(info.width, width);
  assert.equal(info.height, height);
  assert.ok(Math.abs(info.duration - seconds) <= 0.1, `duration ${info.duration} ≠ ${seconds}`);
}

describe('text-to-video', () => {
  let completed: Awaited<ReturnType<typeof render>>;

  test('completes with an MP4 of the requested length and frame', async () => {
    completed = await render({ model: 'grok-imagine', prompt: 'a red kite over the sea', duration: 2, size: '480p', aspect_ratio: '16:9' });
    assertVideo(completed.info, 2, 854, 480);
    const { task } = completed;
    assert.equal(task.progress, 100);
    assert.ok(task.completed_at >= task.created_at);
    assert.ok(task.expires_at > task.completed_at);
    assert.equal(task.seconds, '2');
    assert.equal(task.metadata.url, task.video_url);
  });

  test('metadata.url downloads without an Authorization header', async () => {
    const response = await fetch(completed.task.metadata.url);
    assert.equal(response.status, 200);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(completed.bytes));
    assert.ok(completed.task.metadata.url.startsWith(gateway.url));
  });

  test('a tampered, foreign or expired link is refused with 403', async () => {
    const link = new URL(completed.task.metadata.url);
    const tampered = new URL(link);
    tampered.searchParams.set('signature', `${link.searchParams.get('signature')!.slice(0, -2)}xx`);
    const later = new URL(link);
    later.searchParams.set('expires', String(Number(link.searchParams.get('expires')) + 3600));
    const other = (await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'other', duration: 1, size: '480p' })).body;
    const foreign = new URL(link.toString().replace(completed.task.id, other.id));
    // A correctly signed link whose time is up.
    const db = gatewayDatabase(gateway.dataDir);
    const secret = await db.selectFrom('settings').select('value').where('name', '=', 'url_signing_secret').executeTakeFirstOrThrow();
    await db.destroy();
    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = new URL(link);
    expired.searchParams.set('expires', String(past));
    expired.searchParams.set('signature', createHmac('sha256', secret.value).update(`${completed.task.id}.${past}`).digest('base64url'));
    for (const url of [tampered, later, foreign, expired]) {
      const response = await fetch(url);
      assert.equal(response.status, 403, url.toString());
      const body = (await response.json()) as { error: { code: string } };
      assert.match(body.error.code, url === expired ? /expired/ : /invalid/);
    }
  });

  test('Range, HEAD and conditional requests let a player seek', async () => {
    const route = `/v1/videos/${completed.task.id}/content`;
    const size = completed.bytes.length;
    const first = await client.request('GET', route, undefined, { range: 'bytes=0-99' });
    assert.equal(first.status, 206);
    assert.equal(first.headers.get('content-range'), `bytes 0-99/${size}`);
    assert.ok(Buffer.from(await first.arrayBuffer()).equals(completed.bytes.subarray(0, 100)));
    const tail = await client.request('GET', route, undefined, { range: 'bytes=-50' });
    assert.equal(tail.status, 206);
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(completed.bytes.subarray(size - 50)));
    const open = await client.request('GET', route, undefined, { range: `bytes=${size - 10}-` });
    assert.equal((await open.arrayBuffer()).byteLength, 10);
    const outside = await client.request('GET', route, undefined, { range: `bytes=${size + 10}-` });
    assert.equal(outside.status, 416);
    assert.equal(outside.headers.get('content-range'), `bytes */${size}`);
    const head = await client.request('HEAD', route);
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), size);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const etag = head.headers.get('etag')!;
    assert.ok(head.headers.get('last-modified'));
    const cached = await client.request('GET', route, undefined, { 'if-none-match': etag });
    assert.equal(cached.status, 304);
  });

  test('content before completion is a 409 in the envelope', async () => {
    const { body: task } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'not yet', duration: 3, size: '480p' });
    const { status, body } = await client.json('GET', `/v1/videos/${task.id}/content`);
    assert.equal(status, 409);
    assert.equal(body.error.code, 'video_not_ready');
    await client.waitFor(task.id);
  });
});

describe('every capability renders what it claims', () => {
  test('image-to-video at 9:16 from a data URI', async () => {
    const { info } = await render({ model: 'grok-imagine', prompt: 'turn', image: pngDataUri(320, 240), duration: 2, size: '480p', aspect_ratio: '9:16' });
    assertVideo(info, 2, 480, 854);
  });
  test('image-to-video with aspect_ratio auto follows a fetched image (300×500)', async () => {
    const { info } = await render({ model: 'grok-imagine', prompt: 'look', image: `${origin.url}/portrait.png`, duration: 1, size: '480p', aspect_ratio: 'auto' });
    assertVideo(info, 1, 480, 800);
    assert.ok(origin.hits.includes('/portrait.png'));
  });
  test('reference images at a custom 1:1', async () => {
    const { info } = await render({ model: 'grok-imagine-video', prompt: 'compose', images: [pngDataUri(200, 200), pngDataUri(320, 180)], seconds: '2', aspect_ratio: '1:1', resolution: '480P' });
    assertVideo(info, 2, 480, 480);
  });
  test('reference videos alone, and beside an image, each shown by its first frame (a new user\'s trial: accepted, then failed)', async () => {
    const clip = `data:video/mp4;base64,${readFileSync(mp4File(1, 320, 240)).toString('base64')}`;
    const alone = await render({ model: 'grok-imagine', prompt: 'compose', videos: [clip], duration: 2, size: '480p' });
    assertVideo(alone.info, 2, 854, 480);
    const mixed = await render({ model: 'grok-imagine', prompt: 'compose', images: [pngDataUri(200, 200)], videos: [clip, clip], duration: 1, size: '480p', aspect_ratio: '1:1' });
    assertVideo(mixed.info, 1, 480, 480);
  });
  test('first and last frame on a Vidu model (fixed 540p)', async () => {
    const { info, task } = await render({ model: 'viduq3t-540p', prompt: 'morph', image: pngDataUri(320, 180), last_image: pngDataUri(320, 180), duration: 2 });
    assertVideo(info, 2, 960, 540);
    assert.equal(task.size, '540p');
  });
  test('edit of an uploaded video keeps its length', async () => {
    const form = new FormData();
    form.append('model', 'grok-imagine');
    form.append('prompt', 'make it night');
    form.append('size', '480p');
    form.append('extra_body[operation]', 'edit_video');
    form.append('video', new Blob([readFileSync(mp4File(2, 320, 240))], { type: 'video/mp4' }), 'in.mp4');
    const { info, task } = await render(form);
    assertVideo(info, 2, 640, 480);
    assert.equal(task.seconds, '2');
  });
  test('extension appends the requested seconds', async () => {
    const video = `data:video/mp4;base64,${readFileSync(mp4File(2, 320, 240)).toString('base64')}`;
    const { info, task } = await render({ model: 'grok-imagine', prompt: 'go on', video, duration: 2, extra_body: { operation: 'video_extend' } });
    assertVideo(info, 4, 320, 240);
    // The task reports the file it serves: the input plus the new part, in the input's frame.
    assert.equal(task.seconds, '4');
    assert.equal(task.size, '320x240');
  });
  test('an edit reports the length of the file it made, not the input_video_seconds it was told', async () => {
    const video = `data:video/mp4;base64,${readFileSync(mp4File(4, 320, 240)).toString('base64')}`;
    const { info, task } = await render({ model: 'grok-imagine', prompt: 'dusk', video, size: '480p', extra_body: { operation: 'edit_video', input_video_seconds: 8 } });
    assertVideo(info, 4, 640, 480);
    assert.equal(task.seconds, '4');
    assert.equal(task.size, '480p');
  });
  test('a size given as WIDTHxHEIGHT is answered in that form, and made in that frame', async () => {
    const { info, task } = await render({ model: 'grok-imagine', prompt: 'tall', duration: 1, size: '480x854' });
    assertVideo(info, 1, 480, 854);
    assert.equal(task.size, '480x854');
  });
});

describe('the URL guard', () => {
  // What can only lead to a private address is refused before anything is made or held.
  for (const [name, body] of [
    ['a loopback address not in ALLOWED_PRIVATE_HOSTS', () => ({ image: `${blocked.url}/portrait.png` })],
    ['localhost on the port of an allowed 127.0.0.1 entry', () => ({ image: `http://localhost:${new URL(origin.url).port}/portrait.png` })],
    ['a name under localhost', () => ({ image: { url: `http://api.localhost:${new URL(blocked.url).port}/portrait.png` } })],
    ['localhost spelled with the root dot', () => ({ image: 'http://LocalHost./portrait.png' })],
    ['a name under localhost with the root dot', () => ({ image: 'http://api.localhost./portrait.png' })],
    ['the cloud metadata address', () => ({ image: 'http://169.254.169.254/latest/meta-data' })],
    ['a private IPv6 address', () => ({ image: 'http://[fd00::1]/portrait.png' })],
  ] as const) {
    test(`${name} is refused at once with a 400 naming the field, never reached`, async () => {
      const before = (await client.json('GET', '/v1/videos?limit=100')).body.data.length;
      const refused = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'x', duration: 1, size: '480p', ...body() });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error.param, 'image');
      assert.equal(refused.body.error.code, 'input_url_not_allowed');
      assert.match(refused.body.error.message, /^image points to a private or reserved network address/);
      assert.equal((await client.json('GET', '/v1/videos?limit=100')).body.data.length, before, 'no task made');
      assert.equal(blocked.hits.length, 0);
    });
  }
  test('an allowed host that redirects to a private one fails the task with a clear code, never reaching it', async () => {
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'x', image: `${origin.url}/to-blocked.png`, duration: 1, size: '480p' });
    const task = await client.waitFor(body.id);
    assert.equal(task.status, 'failed');
    assert.equal(task.error.code, 'input_url_not_allowed');
    assert.equal(blocked.hits.length, 0);
  });
  test('a missing file fails the task with input_bad_status', async () => {
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'x', image: `${origin.url}/missing.png`, duration: 1, size: '480p' });
    const task = await client.waitFor(body.id);
    assert.equal(task.status, 'failed');
    assert.equal(task.error.code, 'input_bad_status');
  });
});

describe('signed links and revoked keys', () => {
  test('a signed link stops working once its owner key is revoked', async () => {
    const dave = await newClient(gateway, 'dave');
    const created = await dave.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a link to revoke', duration: 1, size: '480p' });
    const task = await dave.waitFor(created.body.id);
    assert.equal(task.status, 'completed');
    assert.equal((await fetch(task.metadata.url)).status, 200);
    const keys = (await (await fetch(`${gateway.url}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()) as { data: { id: string; name: string }[] };
    const id = keys.data.find((key) => key.name === 'dave')!.id;
    assert.equal((await fetch(`${gateway.url}/admin/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status, 200);
    const after = await fetch(task.metadata.url);
    assert.equal(after.status, 403);
    assert.equal(((await after.json()) as { error: { code: string } }).error.code, 'link_revoked');
  });
});

describe('inputs measured when the task is made', () => {
  const upload = async (bytes: Buffer, type: string) => {
    const form = new FormData();
    form.append('model', 'grok-imagine');
    form.append('prompt', 'from an upload');
    form.append('duration', '1');
    form.append('input_reference', new Blob([new Uint8Array(bytes)], { type }), 'in.png');
    return client.json('POST', '/v1/videos', form);
  };

  test('an uploaded image over 50 megapixels is a 400 naming it, before any render', async () => {
    const huge = path.join(gateway.dataDir, 'huge.png');
    execFileSync(ffmpegPath, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=teal:s=8000x6400', '-frames:v', '1', huge]);
    const { status, body } = await upload(readFileSync(huge), 'image/png');
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.error.code, 'input_too_large');
    assert.equal(body.error.param, 'input_reference', 'the field the request sent');
    assert.match(body.error.message, /8000×6400/);
  });

  test('an uploaded video that is not one is a 400 naming it, not a task that fails later', async () => {
    const form = new FormData();
    form.append('prompt', 'edit noise');
    form.append('video', new Blob([new Uint8Array(randomBytes(20_000))], { type: 'video/mp4' }), 'noise.mp4');
    const { status, body } = await client.json('POST', '/v1/videos/edits', form);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.error.code, 'invalid_media');
    assert.equal(body.error.param, 'video');
  });

  test('the content of a cancelled video says it has none, not that it is coming', async () => {
    const { body: task } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'never', duration: 15, size: '480p' });
    await client.json('POST', `/v1/videos/${task.id}/cancel`);
    const { status, body } = await client.json('GET', `/v1/videos/${task.id}/content`);
    assert.equal(status, 409);
    assert.equal(body.error.code, 'video_not_available');
    assert.match(body.error.message, /cancelled; it has no content/);
  });

  test('a picture that is none is named as the request sent it: a reference in a list, or the xAI route\'s image', async () => {
    const bad = 'data:image/png;base64,AAAA';
    const good = `data:image/png;base64,${execFileSync(ffmpegPath, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=red:s=64x64', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-']).toString('base64')}`;
    const listed = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'two references', duration: 1, images: [good, bad] });
    assert.deepEqual([listed.status, listed.body.error?.code, listed.body.error?.param], [400, 'invalid_media', 'images[1]'], JSON.stringify(listed.body));
    const xai = await client.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'one frame', duration: 1, image: { url: bad } });
    assert.deepEqual([xai.status, xai.body.error?.code, xai.body.error?.param], [400, 'invalid_media', 'image'], JSON.stringify(xai.body));
  });

  test('a reference video that is none is a 400 naming it at create, as every other stored input is, not a task that fails later', async () => {
    const clip = `data:video/mp4;base64,${readFileSync(mp4File(1, 320, 240)).toString('base64')}`;
    const noise = `data:video/mp4;base64,${randomBytes(4000).toString('base64')}`;
    const { status, body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'two references', duration: 1, videos: [clip, noise] });
    assert.deepEqual([status, body.error?.code, body.error?.param], [400, 'invalid_media', 'videos[1]'], JSON.stringify(body));
    assert.match(body.error.message, /could not be read as a video/);
  });

  test('an upload that is not a picture is a 400 naming it', async () => {
    const { status, body } = await upload(Buffer.from('this is not a png at all'), 'image/png');
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.error.code, 'invalid_media');
    assert.equal(body.error.param, 'input_reference', 'the field the request sent');
  });

  test('an image input must be a still picture: random bytes sent as octet-stream, a video, a GIF are each a 400 naming it (a trial: random bytes made a 480×3750 video, the others failed at render)', async () => {
    const gif = execFileSync(ffmpegPath, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=s=64x48:d=1', '-f', 'gif', '-']);
    const cases: [string, Promise<{ status: number; body: { error?: { code?: string; param?: string } } }>][] = [
      ['random bytes as octet-stream', upload(randomBytes(200_000), 'application/octet-stream')],
      ['a video labelled as a picture', upload(readFileSync(mp4File(1, 320, 240)), 'image/png')],
      ['a GIF', upload(gif, 'image/gif')],
      ['a video as an image data URI', client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'x', duration: 1, images: [pngDataUri(64, 64), `data:image/png;base64,${readFileSync(mp4File(1, 320, 240)).toString('base64')}`] })],
    ];
    for (const [name, sent] of cases) {
      const { status, body } = await sent;
      assert.deepEqual([status, body.error?.code], [400, 'invalid_media'], `${name}: ${JSON.stringify(body)}`);
    }
    assert.equal((await cases[3]![1]).body.error?.param, 'images[1]');
  });
});

