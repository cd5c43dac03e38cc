import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createXai } from '@ai-sdk/xai';
import { experimental_generateVideo as generateVideo } from 'ai';
import { type FakeVidu, startFakeVidu } from './fakes/vidu.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngFile, probe } from './support/media.ts';
import { retryUntil } from './support/wait.ts';

/**
 * The xAI-compatible surface, driven by the Vercel AI SDK (ai + @ai-sdk/xai) as an
 * application would drive xAI itself, only with its base URL pointed at vidgate: a grok
 * model on the preview renderer and a Vidu model through a Vidu channel (the fake).
 */
let vidu: FakeVidu;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  vidu = await startFakeVidu();
  gateway = await startGateway({ VIDU_API_KEY: 'vidu-test-key', VIDU_BASE_URL: vidu.url, ALLOWED_PRIVATE_HOSTS: vidu.hostPort });
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await vidu.close();
});

/**
 * The SDK downloads the finished video itself and, by default, refuses any private address
 * (its own SSRF guard); the gateway here is on 127.0.0.1, so the test hands it a plain fetch.
 */
const download = async ({ url }: { url: URL }) => {
  const response = await fetch(url);
  assert.equal(response.status, 200, `download of ${url.pathname}`);
  return { data: new Uint8Array(await response.arrayBuffer()), mediaType: response.headers.get('content-type') ?? undefined };
};

const xai = () => createXai({ baseURL: `${gateway.url}/xai/v1`, apiKey: client.key });
const fast = { xai: { pollIntervalMs: 200, pollTimeoutMs: 60_000 } };

describe('the xAI surface through @ai-sdk/xai', { concurrency: true }, () => {
  test('grok-imagine from an image: generateVideo gets the video, and it is what was asked for', async () => {
    const image = readFileSync(pngFile(640, 480));
    const result = await generateVideo({
      model: xai().video('grok-imagine'),
      prompt: { image, text: 'a paper boat drifts' },
      duration: 2,
      resolution: '854x480',
      providerOptions: fast,
      download,
    });
    assert.equal(result.video.mediaType, 'video/mp4');
    const video = probe(Buffer.from(result.video.uint8Array));
    // 480p in the image's own shape (4:3), as xAI makes an image's video.
    assert.deepEqual([video.codec, video.width, video.height], ['h264', 640, 480]);
    assert.ok(Math.abs(video.duration - 2) < 0.1, `duration ${video.duration}`);
    // Billed as the OpenAI-style routes bill it: 2 s at 480p, $0.05 a second plus the input image.
    const meta = result.providerMetadata.xai as { requestId: string; costInUsdTicks: number; duration: number };
    assert.equal(meta.duration, 2);
    assert.equal(meta.costInUsdTicks, (100_000 + 2_000) * 10_000);
    const task = (await client.json('GET', `/v1/videos/${meta.requestId}`)).body;
    assert.deepEqual([task.status, task.model, task.billing.cost], ['completed', 'grok-imagine', 102_000]);
  });

  test('a Vidu model behind the same base URL: the request reaches Vidu in its own dialect', async () => {
    const result = await generateVideo({
      model: xai().video('viduq3p-720p'),
      prompt: 'a lantern festival',
      duration: 2,
      aspectRatio: '16:9',
      providerOptions: fast,
      download,
    });
    const video = probe(Buffer.from(result.video.uint8Array));
    assert.equal(video.codec, 'h264');
    assert.ok(video.duration > 1.5, `duration ${video.duration}`);
    const sent = vidu.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/text2video')).map((request) => request.body as Record<string, unknown>);
    const mine = sent.find((body) => body.prompt === 'a lantern festival');
    assert.ok(mine, 'Vidu got the task');
    assert.deepEqual([mine.model, mine.duration, mine.resolution, mine.aspect_ratio], ['viduq3-pro', 2, '720p', '16:9']);
  });

  test('refusals come back before anything is spent, naming the field the SDK sent', async () => {
    // Vidu Q3 lasts 1–16 s: 20 is refused, as duration (the SDK's field), with our message.
    await assert.rejects(
      generateVideo({ model: xai().video('viduq3p-720p'), prompt: 'too long', duration: 20, providerOptions: fast, download }),
      (error: Error & { statusCode?: number; responseBody?: string }) => {
        assert.equal(error.statusCode, 400);
        assert.equal(JSON.parse(error.responseBody!).error.param, 'duration');
        return true;
      },
    );
    const unknown = await client.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'x', reference_audios: [{ voice_id: 'v' }] });
    assert.deepEqual([unknown.status, unknown.body.error.param, unknown.body.error.code], [400, 'reference_audios', 'unsupported_parameter']);
    const image = await client.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'x', image: 'https://example.com/a.png' });
    assert.deepEqual([image.status, image.body.error.param], [400, 'image']);
    // Nothing is dropped or read as something else: a first frame and references under one key, a lone reference, extra keys, a string for a number.
    const png = `data:image/png;base64,${readFileSync(pngFile(64, 64)).toString('base64')}`;
    for (const [body, param, code] of [
      [{ model: 'grok-video-3', prompt: 'x', image: { url: png }, reference_images: [{ url: png }, { url: png }] }, 'reference_images', 'conflicting_parameters'],
      [{ model: 'grok-video-1.5', prompt: 'x', reference_images: [{ url: png }] }, 'reference_images', 'ambiguous_parameter'],
      [{ model: 'grok-imagine', prompt: 'x', image: { url: png, detail: 'high' } }, 'image.detail', 'unsupported_parameter'],
      [{ model: 'grok-imagine', prompt: 'x', duration: '1' }, 'duration', 'invalid_value'],
    ] as const) {
      const answer = await client.json('POST', '/xai/v1/videos/generations', body);
      assert.deepEqual([answer.status, answer.body.error.param, answer.body.error.code], [400, param, code], JSON.stringify(answer.body));
    }
    const model = await client.json('POST', '/xai/v1/videos/generations', { model: 'sora-9', prompt: 'x' });
    assert.deepEqual([model.status, model.body.error.code], [400, 'model_not_found']);
    assert.equal((await client.json('GET', '/xai/v1/videos/video_00000000000000000000000000000000')).status, 404);
    assert.equal((await fetch(`${gateway.url}/xai/v1/videos/generations`, { method: 'POST' })).status, 401, 'the key first');
  });
});

test('the status route answers in xAI shapes: 202 while pending, done with a signed link, failed when cancelled', async () => {
  // No duration: xAI's own default of 8 s, as a client of xAI counts on; a callback_url as on every create.
  const made = await client.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'a slow dawn', resolution: '720p', callback_url: `http://${vidu.hostPort}/hook` });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  assert.deepEqual(Object.keys(made.body), ['request_id']);
  assert.equal(made.headers.get('x-vidgate-price'), String(8 * 70_000));
  assert.equal((await client.json('GET', `/v1/videos/${made.body.request_id}`)).body.seconds, '8');
  const pending = await client.json('GET', `/xai/v1/videos/${made.body.request_id}`);
  assert.equal(pending.status, 202);
  assert.equal(pending.body.status, 'pending');
  await client.json('POST', `/v1/videos/${made.body.request_id}/cancel`);
  const cancelled = await client.json('GET', `/xai/v1/videos/${made.body.request_id}`);
  assert.deepEqual([cancelled.status, cancelled.body.status, cancelled.body.error.code], [200, 'failed', 'cancelled']);

  // A finished one: done, with a link that opens without a key.
  const source = await client.json('POST', '/xai/v1/videos/generations', { model: 'grok-imagine', prompt: 'a tide', duration: 2, resolution: '480p' });
  const pollSource = async (): Promise<Record<string, any>> => (await client.json('GET', `/xai/v1/videos/${source.body.request_id}`)).body;
  const done = await retryUntil(pollSource, (body) => body.status === 'done', 'the xAI-shaped task to be done', 30_000, 100);
  assert.equal(done.status, 'done');
  assert.equal(done.video.respect_moderation, true);
  const file = await fetch(done.video.url);
  assert.equal(file.status, 200, 'the link opens with no key');
  assert.equal(probe(Buffer.from(await file.arrayBuffer())).width, 854);

  // A link of ours that no longer opens is refused at once, not after a failed download.
  const altered = done.video.url.replace(/signature=[^&]+/, 'signature=forged');
  const refused = await client.json('POST', '/xai/v1/videos/extensions', { model: 'grok-imagine', prompt: 'x', video: { url: altered } });
  assert.deepEqual([refused.status, refused.body.error.param, refused.body.error.code], [400, 'video.url', 'invalid_link']);
  // The OpenAI extension route reads {"url": …} as the xAI one does: refused when altered, our own video when valid.
  const openaiRefused = await client.json('POST', '/v1/videos/extensions', { model: 'grok-imagine', prompt: 'x', seconds: '2', video: { url: altered } });
  assert.deepEqual([openaiRefused.status, openaiRefused.body.error.param, openaiRefused.body.error.code], [400, 'video.url', 'invalid_link']);
  const openaiExtended = await client.json('POST', '/v1/videos/extensions', { model: 'grok-imagine', prompt: 'x', seconds: '2', video: { url: done.video.url } });
  assert.equal(openaiExtended.status, 200, JSON.stringify(openaiExtended.body));
  assert.equal((await client.waitFor(openaiExtended.body.id)).status, 'completed', 'read as our own video, not fetched from 127.0.0.1');
  // A key beside our link is refused by name, as beside any URL; it was dropped when the link was read as our video (a trial).
  const beside = await client.json('POST', '/v1/videos/extensions', { model: 'grok-imagine', prompt: 'x', seconds: '2', video: { url: done.video.url, detail: 'high' } });
  assert.deepEqual([beside.status, beside.body.error?.param], [400, 'video.detail'], JSON.stringify(beside.body));

  // The SDK extends it by that link: vidgate knows its own video (a fetch of 127.0.0.1 would be refused).
  const extended = await generateVideo({
    model: xai().video('grok-imagine'),
    prompt: 'and the tide turns',
    duration: 2,
    providerOptions: { xai: { ...fast.xai, mode: 'extend-video', videoUrl: done.video.url } },
    download,
  });
  const meta = extended.providerMetadata.xai as { requestId: string };
  const task = (await client.json('GET', `/v1/videos/${meta.requestId}`)).body;
  assert.equal(task.status, 'completed');
  assert.ok(Math.abs(probe(Buffer.from(extended.video.uint8Array)).duration - 4) < 0.15, 'the 2 s source and 2 s more');

  // Deleted, its link names a video that is gone: said so, not refused as a private address (a trial).
  assert.equal((await client.json('DELETE', `/v1/videos/${source.body.request_id}`)).status, 200);
  for (const route of ['/xai/v1/videos/extensions', '/v1/videos/extensions']) {
    const gone = await client.json('POST', route, { model: 'grok-imagine', prompt: 'x', duration: 2, video: { url: done.video.url } });
    assert.deepEqual([gone.status, gone.body.error?.code, gone.body.error?.param], [400, 'invalid_link', 'video.url'], `${route}: ${JSON.stringify(gone.body)}`);
    assert.match(gone.body.error.message, /no longer exists/);
  }
});

test('xAI routes take JSON only, as xAI does: a form is a 415 that says so, and nothing is made', async () => {
  const form = new FormData();
  form.set('model', 'grok-imagine');
  form.set('prompt', 'a form');
  for (const path of ['generations', 'edits', 'extensions']) {
    const response = await fetch(`${gateway.url}/xai/v1/videos/${path}`, { method: 'POST', headers: { authorization: `Bearer ${client.key}` }, body: form });
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.deepEqual([response.status, body.error.code], [415, 'unsupported_media_type'], path);
    assert.match(body.error.message, /xAI's routes take a JSON body \(application\/json\)/);
    assert.doesNotMatch(body.error.message, /or multipart/, 'not offered a form where none is taken');
  }
  assert.equal((await client.json('GET', '/v1/videos?limit=100')).body.data.filter((video: { prompt: string }) => video.prompt === 'a form').length, 0);
});
