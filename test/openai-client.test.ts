import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import OpenAI, { NotFoundError, toFile } from 'openai';
import { gatewayPerFile, newClient } from './support/gateway.ts';
import { mp4File, pngDataUri, pngFile, probe } from './support/media.ts';
import { retryUntil } from './support/wait.ts';

/**
 * The official openai npm client, pointed at the gateway, for a grok and a vidu model:
 * create (multipart, as the client always sends), retrieve, list with auto-pagination,
 * downloadContent, delete. Our extra fields ride along as the client passes them through.
 */
const shared = gatewayPerFile({ RENDER_CONCURRENCY: '2' });
let client: OpenAI | undefined;
/** The SDK on the file's key, made once the gateway is up. */
const openai = () => (client ??= new OpenAI({ apiKey: shared.client.key, baseURL: `${shared.gateway.url}/v1`, maxRetries: 0 }));

/** The client's types know only OpenAI's own fields and values; ours pass through untouched. */
type Params = OpenAI.Videos.VideoCreateParams;
const params = (fields: Record<string, unknown>) => fields as unknown as Params;

function finished(id: string, client: OpenAI = openai()): Promise<OpenAI.Videos.Video> {
  return retryUntil(() => client.videos.retrieve(id), (video) => video.status !== 'queued' && video.status !== 'in_progress', `${id} to finish`, 60_000, 150);
}

async function download(id: string) {
  const response = await openai().videos.downloadContent(id);
  assert.equal(response.headers.get('content-type'), 'video/mp4');
  return probe(Buffer.from(await response.arrayBuffer()));
}

describe('openai client', () => {
  test('grok-imagine: create with OpenAI seconds and size, poll, download', async () => {
    const created = await openai().videos.create(params({ model: 'grok-imagine', prompt: 'a kite on the wind', seconds: '2', size: '854x480' }));
    assert.equal(created.object, 'video');
    assert.equal(created.status, 'queued');
    assert.equal(created.seconds, '2');
    const video = await finished(created.id);
    assert.equal(video.status, 'completed');
    assert.equal(video.progress, 100);
    const info = await download(video.id);
    assert.equal(info.width, 854);
    assert.equal(info.height, 480);
    assert.ok(Math.abs(info.duration - 2) <= 0.1);
  });

  test('grok-imagine-video: input_reference as an uploaded file, extra aspect_ratio passed through', async () => {
    const file = await toFile(readFileSync(pngFile(320, 240)), 'first-frame.png', { type: 'image/png' });
    const created = await openai().videos.create(params({ model: 'grok-imagine-video', prompt: 'it moves', input_reference: file, seconds: '1', aspect_ratio: '9:16', resolution: '480P' }));
    const video = await finished(created.id);
    assert.equal(video.status, 'completed', JSON.stringify(video.error));
    const info = await download(video.id);
    assert.equal(info.width, 480);
    assert.equal(info.height, 854);
  });

  test('a Vidu model: input_reference as {image_url}, duration and extra_body passed through', async () => {
    const created = await openai().videos.create(
      params({ model: 'viduq3t-540p', prompt: 'slow push-in', input_reference: { image_url: pngDataUri(320, 180) }, duration: 1, extra_body: { seed: 42, audio: true } }),
    );
    assert.equal(created.size, '540p');
    const video = await finished(created.id);
    assert.equal(video.status, 'completed', JSON.stringify(video.error));
    const info = await download(video.id);
    assert.equal(info.height, 540);
    assert.equal(info.width, 960);
  });

  test('a rejected request surfaces as the SDK error with our param', async () => {
    await assert.rejects(
      openai().videos.create(params({ model: 'viduq3p-720p', prompt: 'x', duration: 17 })),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && (error.error as { param?: string }).param === 'duration',
    );
  });

  test('list auto-paginates in both orders; delete removes the video and its content', async () => {
    const key = await newClient(shared.gateway, 'pager');
    const own = new OpenAI({ apiKey: key.key, baseURL: `${shared.gateway.url}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await own.videos.create(params({ model: 'grok-imagine', prompt: `page ${i}`, seconds: '1', size: '480p' }))).id);
    const walk = async (order: 'asc' | 'desc') => {
      const seen: string[] = [];
      for await (const video of own.videos.list({ limit: 2, order })) seen.push(video.id);
      return seen;
    };
    assert.deepEqual(await walk('asc'), ids);
    assert.deepEqual(await walk('desc'), [...ids].reverse());

    const removed = await own.videos.delete(ids[0]!);
    assert.deepEqual(removed, { id: ids[0], object: 'video.deleted', deleted: true });
    await assert.rejects(own.videos.retrieve(ids[0]!), NotFoundError);
    await assert.rejects(own.videos.downloadContent(ids[0]!), NotFoundError);
  });
});

describe('content variants', () => {
  test('thumbnail (WebP) and spritesheet (JPEG, 5×2 frames) are made once and served with the same rules', async () => {
    const created = await openai().videos.create(params({ model: 'grok-imagine', prompt: 'variants', seconds: '2', size: '854x480' }));
    await finished(created.id);
    const thumbnail = await openai().videos.downloadContent(created.id, { variant: 'thumbnail' });
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp');
    const webp = Buffer.from(await thumbnail.arrayBuffer());
    assert.equal(webp.subarray(0, 4).toString(), 'RIFF');
    assert.equal(webp.subarray(8, 12).toString(), 'WEBP');
    const still = probe(webp);
    assert.deepEqual([still.width, still.height], [854, 480]);

    const sprites = await openai().videos.downloadContent(created.id, { variant: 'spritesheet' });
    assert.equal(sprites.headers.get('content-type'), 'image/jpeg');
    const jpeg = Buffer.from(await sprites.arrayBuffer());
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
    const sheet = probe(jpeg);
    assert.deepEqual([sheet.width, sheet.height], [5 * 160, 2 * 90]);

    // Kept in storage: the second answer is the same file, and Range works on it.
    const again = await shared.client.request('GET', `/v1/videos/${created.id}/content?variant=thumbnail`, undefined, { range: 'bytes=0-11' });
    assert.equal(again.status, 206);
    assert.ok(Buffer.from(await again.arrayBuffer()).equals(webp.subarray(0, 12)));
    const unknown = await shared.client.json('GET', `/v1/videos/${created.id}/content?variant=poster`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.param, 'variant');
  });
});

describe('remix, edit and extend', () => {
  let sourceId = '';
  const source = async () => {
    if (!sourceId) {
      const created = await openai().videos.create(params({ model: 'grok-imagine', prompt: 'the source', seconds: '2', size: '854x480' }));
      sourceId = (await finished(created.id)).id;
    }
    return sourceId;
  };

  test('remix makes a new task on the same model and settings, with the new prompt', async () => {
    const id = await source();
    const remixed = await openai().videos.remix(id, { prompt: 'the same, at night' });
    assert.notEqual(remixed.id, id);
    assert.equal(remixed.remixed_from_video_id, id);
    assert.equal(remixed.prompt, 'the same, at night');
    assert.equal(remixed.model, 'grok-imagine');
    const video = await finished(remixed.id);
    assert.equal(video.status, 'completed');
    const info = await download(video.id);
    assert.deepEqual([info.width, info.height], [854, 480]);
    assert.ok(Math.abs(info.duration - 2) <= 0.1);
  });

  test('edit with an uploaded video: the length is probed, the output keeps it', async () => {
    const file = await toFile(readFileSync(mp4File(2, 320, 240)), 'in.mp4', { type: 'video/mp4' });
    const edited = await openai().videos.edit({ prompt: 'make it winter', video: file });
    assert.equal(edited.model, 'grok-imagine');
    assert.equal(edited.seconds, '2');
    const video = await finished(edited.id);
    assert.equal(video.status, 'completed', JSON.stringify(video.error));
    assert.ok(Math.abs((await download(video.id)).duration - 2) <= 0.1);
  });

  test('extend an uploaded video: the new seconds are appended to it', async () => {
    const file = await toFile(readFileSync(mp4File(2, 320, 240)), 'in.mp4', { type: 'video/mp4' });
    const extended = await openai().videos.extend(params({ prompt: 'and then', seconds: '3', video: file }) as unknown as OpenAI.Videos.VideoExtendParams);
    const video = await finished(extended.id);
    assert.equal(video.status, 'completed', JSON.stringify(video.error));
    const info = await download(video.id);
    assert.ok(Math.abs(info.duration - 5) <= 0.1, `extended to ${info.duration}`);
    assert.deepEqual([info.width, info.height], [320, 240]);
  });

  test('edit and extend one of my own videos by {id}', async () => {
    const id = await source();
    const edited = await finished((await openai().videos.edit({ prompt: 'sepia', video: { id } })).id);
    assert.equal(edited.status, 'completed', JSON.stringify(edited.error));
    const extended = await openai().videos.extend(params({ prompt: 'keep going', seconds: '2', video: { id } }) as unknown as OpenAI.Videos.VideoExtendParams);
    assert.equal(extended.seconds, '2');
    const done = await finished(extended.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const info = await download(done.id);
    assert.ok(Math.abs(info.duration - 4) <= 0.1, `extended to ${info.duration}`);
    assert.deepEqual([info.width, info.height], [854, 480]);
  });

  test("another key's video id is a 404; a too-long upload is a 400 naming video", async () => {
    const id = await source();
    const stranger = new OpenAI({ apiKey: (await newClient(shared.gateway, 'stranger')).key, baseURL: `${shared.gateway.url}/v1`, maxRetries: 0 });
    await assert.rejects(stranger.videos.edit({ prompt: 'mine now', video: { id } }), NotFoundError);
    await assert.rejects(stranger.videos.remix(id, { prompt: 'mine now' }), NotFoundError);
    const long = await toFile(readFileSync(mp4File(10, 160, 120)), 'long.mp4', { type: 'video/mp4' });
    await assert.rejects(
      openai().videos.edit({ prompt: 'too long', video: long }),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && (error.error as { param?: string }).param === 'video',
    );
  });
});

describe('a Vidu video through the whole cycle', () => {
  test('create, poll, download, list, remix, edit by id (on grok-imagine), delete', async () => {
    const key = await newClient(shared.gateway, 'vidu-cycle');
    const own = new OpenAI({ apiKey: key.key, baseURL: `${shared.gateway.url}/v1`, maxRetries: 0 });
    const created = await own.videos.create(params({ model: 'viduq3p-540p', prompt: 'waves', duration: 1, aspect_ratio: '1:1' }));
    const wait = (id: string) => finished(id, own);
    assert.equal((await wait(created.id)).status, 'completed');
    const info = probe(Buffer.from(await (await own.videos.downloadContent(created.id)).arrayBuffer()));
    assert.deepEqual([info.width, info.height], [540, 540]);

    const remixed = await own.videos.remix(created.id, { prompt: 'waves at dawn' });
    assert.equal(remixed.model, 'viduq3p-540p');
    assert.equal((await wait(remixed.id)).status, 'completed');
    // Vidu has no edit capability: an edit by id runs on the default editing model.
    const edited = await own.videos.edit({ prompt: 'storm', video: { id: created.id } });
    assert.equal(edited.model, 'grok-imagine');
    assert.equal((await wait(edited.id)).status, 'completed');

    const listed: string[] = [];
    for await (const video of own.videos.list({ limit: 1 })) listed.push(video.id);
    assert.deepEqual(listed, [edited.id, remixed.id, created.id]);
    for (const id of listed) await own.videos.delete(id);
    await assert.rejects(own.videos.retrieve(created.id), NotFoundError);
  });
});
