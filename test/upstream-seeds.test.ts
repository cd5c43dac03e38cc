import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { FakeUpstream, RecordedRequest } from './fakes/server.ts';
import { startFakeVidu } from './fakes/vidu.ts';
import { startFakeXai } from './fakes/xai.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngDataUri, pngFile, probe } from './support/media.ts';
import { startOrigin } from './support/origin.ts';
import { EXAMPLE_COM_FILES, type ExampleComFile, exampleComFile, type SeedExample, type SeedKey, seedExamples, upstreamOf } from './support/seed-examples.ts';

/**
 * The "Done when" for the seeds: every request example of ../shared/seeds runs end
 * to end through an upstream adapter. One gateway has only XAI_API_KEY/XAI_BASE_URL (the
 * grok examples), another only VIDU_API_KEY/VIDU_BASE_URL (the Vidu ones), each pointing at
 * its fake. Each example must complete, serve byte for byte what the fake made, and reach
 * the fake as exactly the request the adapter should make of it (upstream-apis.md §2, §3, §5).
 * The seeds' example.com links become links to a local origin, which must reach the
 * upstream unchanged; seed 003's data URIs must reach it inline, as they were given.
 */

type Origin = Awaited<ReturnType<typeof startOrigin>>;
interface Upstream {
  fake: FakeUpstream;
  gateway: RunningGateway;
  client: Client;
}

const image = pngDataUri(320, 240);
const otherImage = pngDataUri(240, 320);
let origin: Origin;
let xai: Upstream;
let vidu: Upstream;
let examples: Record<SeedKey, SeedExample>;
/** Our task id of each example that completed, by key (for the expired-links test). */
const completed = new Map<string, { id: string; upstream: Upstream }>();

const link = (file: ExampleComFile) => `${origin.url}/${file}`;

before(async () => {
  origin = await startOrigin(Object.fromEntries(Object.keys(EXAMPLE_COM_FILES).map((file) => [`/${file}`, exampleComFile(file as ExampleComFile)])));
  examples = seedExamples({ link, image, otherImage });
  const start = async (kind: 'xai' | 'vidu'): Promise<Upstream> => {
    const fake = kind === 'xai' ? await startFakeXai({ completeAfterMs: 300 }) : await startFakeVidu({ completeAfterMs: 300 });
    const channel: Record<string, string> = kind === 'xai' ? { XAI_API_KEY: 'xai-test-key', XAI_BASE_URL: fake.url } : { VIDU_API_KEY: 'vidu-test-key', VIDU_BASE_URL: fake.url };
    const gateway = await startGateway({ ...channel, ALLOWED_PRIVATE_HOSTS: `${fake.hostPort},${origin.hostPort}` });
    return { fake, gateway, client: await newClient(gateway) };
  };
  [xai, vidu] = await Promise.all([start('xai'), start('vidu')]);
});
after(async () => {
  for (const upstream of [xai, vidu]) {
    if (!upstream) continue;
    await upstream.gateway.stop();
    removeDataDir(upstream.gateway.dataDir);
    await upstream.fake.close();
  }
  await origin?.close();
});

/**
 * What each example must become upstream: the endpoint and the exact JSON body. A function
 * of the media, since the links are only known once the origin listens.
 */
const XAI_MODEL = 'grok-imagine-video';
const UPSTREAM_REQUESTS: Record<SeedKey, () => { path: string; body: Record<string, unknown>; warns?: RegExp }> = {
  '000 text-to-video': () => ({
    path: '/v1/videos/generations',
    body: { model: XAI_MODEL, prompt: ' camera, fast, camera. ', duration: 6, resolution: '720p', aspect_ratio: '16:9' },
  }),
  // xAI takes the shape from the image: the seed's 9:16 is not sent, and the task says so.
  '000 single-image-to-video': () => ({
    path: '/v1/videos/generations',
    body: { model: XAI_MODEL, prompt: ' camera, camera. ', duration: 10, resolution: '480p', image: { url: link('portrait.png') } },
    warns: /aspect_ratio/,
  }),
  '001 7.1 text-to-video': () => ({
    path: '/v1/videos/generations',
    body: { model: XAI_MODEL, prompt: ' camera, fast, camera. ', duration: 6, resolution: '720p', aspect_ratio: '16:9' },
  }),
  '001 7.2 single-image-to-video': () => ({
    path: '/v1/videos/generations',
    body: { model: XAI_MODEL, prompt: ' camera, camera. ', duration: 10, resolution: '480p', image: { url: link('portrait.png') } },
  }),
  '001 7.3 reference-image-to-video': () => ({
    path: '/v1/videos/generations',
    body: {
      model: XAI_MODEL,
      prompt: ' @Image1 @Image2, slow camera push-in. ',
      duration: 10,
      resolution: '720p',
      aspect_ratio: '4:3',
      reference_images: [{ url: link('person.png') }, { url: link('street.png') }],
    },
  }),
  // An edit takes no duration, aspect or resolution upstream: the output follows the input.
  '001 7.4 video editing': () => ({
    path: '/v1/videos/edits',
    body: { model: XAI_MODEL, prompt: 'to change videointo, reserved action and. ', video: { url: link('source.mp4') } },
  }),
  '001 7.5 video extension': () => ({
    path: '/v1/videos/extensions',
    body: { model: XAI_MODEL, prompt: ' camera, video and Orientation. ', video: { url: link('source.mp4') }, duration: 6 },
  }),
  '002 text-to-video': () => ({
    path: '/ent/v2/text2video',
    // bgm: false asks for what Q3 does anyway, and Q3 takes no bgm: it is not sent.
    body: { model: 'viduq3-pro', prompt: ' camera, and, slow camera push-in. ', resolution: '720p', duration: 5, aspect_ratio: '16:9', seed: 42, audio: false },
  }),
  '002 single-image-to-video': () => ({
    path: '/ent/v2/img2video',
    body: { model: 'viduq3-turbo', prompt: ' camera, natural motion, camera. ', resolution: '540p', duration: 5, seed: 42, images: [link('source.png')] },
  }),
  '002 first-and-last-frame': () => ({
    path: '/ent/v2/start-end2video',
    body: { model: 'viduq3-pro', prompt: ', keep identity stable, action. ', resolution: '1080p', duration: 6, off_peak: true, images: [link('head.png'), link('tail.png')] },
  }),
  '002 reference-image-to-video': () => ({
    path: '/ent/v2/reference2video',
    body: {
      model: 'viduq3-mix',
      prompt: 'A @Image1 walking through a beach in the visual style of @Image2',
      resolution: '720p',
      duration: 5,
      aspect_ratio: '16:9',
      seed: 42,
      audio: false,
      images: [link('ref-1.png'), link('ref-2.png')],
    },
  }),
  '003 text-to-video': () => ({
    path: '/v1/videos/generations',
    body: {
      model: XAI_MODEL,
      prompt: 'A city street in the early morning, sunlight filtering through leaves, camera slowly moving forward',
      duration: 8,
      resolution: '720p',
      aspect_ratio: '16:9',
    },
  }),
  '003 single image': () => ({
    path: '/v1/videos/generations',
    body: {
      model: XAI_MODEL,
      prompt: 'Have the person in the reference image turn around naturally, keeping a soft depth of field in the background',
      duration: 6,
      resolution: '720p',
      image: { url: image },
    },
    warns: /aspect_ratio/,
  }),
  '003 multiple images': () => ({
    path: '/v1/videos/generations',
    body: {
      model: XAI_MODEL,
      prompt: 'Reference the subject features from multiple images to generate a coherent product showcase video',
      duration: 10,
      resolution: '720p',
      aspect_ratio: '16:9',
      reference_images: [{ url: image }, { url: otherImage }],
    },
  }),
};

/** The submit the fake received for one of our tasks: xAI gets our task id as its idempotency key; Vidu's prompts are unique here. */
function submitFor(upstream: Upstream, taskId: string, prompt: unknown): RecordedRequest {
  const posts = upstream.fake.requests.filter((request) => request.method === 'POST');
  const mine = upstream === xai ? posts.filter((request) => request.headers['idempotency-key'] === taskId) : posts.filter((request) => (request.body as { prompt?: unknown }).prompt === prompt);
  assert.equal(mine.length, 1, `exactly one submit for ${taskId}`);
  return mine[0]!;
}

async function contentOf(client: Client, id: string): Promise<Buffer> {
  const response = await client.request('GET', `/v1/videos/${id}/content`);
  assert.equal(response.status, 200, `content of ${id}`);
  assert.equal(response.headers.get('content-type'), 'video/mp4');
  return Buffer.from(await response.arrayBuffer());
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function runToCompletion(upstream: Upstream, route: string, body: Record<string, unknown> | FormData): Promise<Record<string, any>> {
  const created = await upstream.client.json('POST', route, body);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const done = await upstream.client.waitFor(created.body.id, 30_000);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  return done;
}

describe('every seed example, end to end through its adapter', { concurrency: true }, () => {
  test('every seed example is here', () => {
    assert.deepEqual(Object.keys(examples).sort(), Object.keys(UPSTREAM_REQUESTS).sort());
  });
  // The keys are static; the bodies are read once the origin listens.
  for (const key of Object.keys(UPSTREAM_REQUESTS) as SeedKey[]) {
    test(key, async () => {
      const example = examples[key];
      const upstream = upstreamOf(example) === 'xai' ? xai : vidu;
      const done = await runToCompletion(upstream, example.route, example.body);
      completed.set(key, { id: done.id, upstream });
      assert.equal(done.model, example.body.model);

      const expected = UPSTREAM_REQUESTS[key]();
      const sent = submitFor(upstream, done.id, example.body.prompt);
      assert.equal(sent.path, expected.path);
      assert.equal(sent.headers.authorization, upstream === xai ? 'Bearer xai-test-key' : 'Token vidu-test-key');
      assert.deepEqual(sent.body, expected.body);
      if (expected.warns) assert.match(String(done.warnings), expected.warns);
      else assert.equal(done.warnings, undefined);

      const bytes = await contentOf(upstream.client, done.id);
      assert.ok(bytes.equals(upstream.fake.videoBytes), 'byte-identical to what the upstream served');
      assert.equal(done.seconds, String(Math.round(probe(bytes).duration)), 'seconds is the length of what we serve');
    });
  }
});

describe("seed 003's grok-video-1.5 / -3 table, through xAI", { concurrency: true }, () => {
  test('grok-video-3, multipart, size 1080P → grok-imagine-video-1.5 at 1080p', async () => {
    const form = new FormData();
    form.set('model', 'grok-video-3');
    form.set('prompt', 'grok-video-3 at 1080P');
    form.set('size', '1080P');
    form.set('seconds', '4');
    const done = await runToCompletion(xai, '/v1/videos', form);
    assert.equal(done.size, '1080P');
    const sent = submitFor(xai, done.id, 'grok-video-3 at 1080P');
    assert.equal(sent.path, '/v1/videos/generations');
    assert.deepEqual(sent.body, { model: 'grok-imagine-video-1.5', prompt: 'grok-video-3 at 1080P', duration: 4, resolution: '1080p', aspect_ratio: '16:9' });
    assert.ok((await contentOf(xai.client, done.id)).equals(xai.fake.videoBytes));
  });

  test('grok-video-3-pro, an uploaded input_reference → fixed 10 s, the image inline as a data URI', async () => {
    const png = readFileSync(pngFile(320, 240));
    const form = new FormData();
    form.set('model', 'grok-video-3-pro');
    form.set('prompt', 'grok-video-3-pro from an upload');
    form.set('size', '480P');
    form.set('input_reference', new Blob([png], { type: 'image/png' }), 'frame.png');
    const done = await runToCompletion(xai, '/v1/videos', form);
    const sent = submitFor(xai, done.id, 'grok-video-3-pro from an upload');
    assert.deepEqual(sent.body, {
      model: 'grok-imagine-video-1.5',
      prompt: 'grok-video-3-pro from an upload',
      duration: 10,
      resolution: '480p',
      image: { url: `data:image/png;base64,${png.toString('base64')}` },
    });
    assert.ok((await contentOf(xai.client, done.id)).equals(xai.fake.videoBytes));
  });
});

describe('what the xAI channel cannot make as asked is a 400 naming the field, with nothing sent upstream', () => {
  /** A channel that maps grok-video-1.5 to grok-imagine-video, which has no 1080p: only the adapter can know. */
  let older: Upstream;
  before(async () => {
    const channels = [{ name: 'xai-older', type: 'xai', base_url: xai.fake.url, keys: ['xai-test-key'], models: { 'grok-video-1.5': 'grok-imagine-video' } }];
    const gateway = await startGateway({ CHANNELS: JSON.stringify(channels), ALLOWED_PRIVATE_HOSTS: xai.fake.hostPort });
    older = { fake: xai.fake, gateway, client: await newClient(gateway) };
  });
  after(async () => {
    await older?.gateway.stop();
    if (older) removeDataDir(older.gateway.dataDir);
  });

  const refusals: { name: string; route: string; body: () => Record<string, unknown> | FormData; param: string; code: string; on?: () => Upstream }[] = [
    {
      name: "540P (seed 003's grok-video-1.5 size)",
      route: '/v1/videos',
      body: () => {
        const form = new FormData();
        form.set('model', 'grok-video-1.5');
        form.set('prompt', 'refused: 540P');
        form.set('size', '540P');
        return form;
      },
      param: 'size',
      code: 'unsupported_by_upstream',
    },
    {
      name: "1080P with reference images (grok-video-3: xAI's references stop at 720p)",
      route: '/v1/videos',
      body: () => {
        const form = new FormData();
        form.set('model', 'grok-video-3');
        form.set('prompt', 'refused: references at 1080P');
        form.set('size', '1080P');
        form.append('input_reference', image);
        form.append('input_reference', otherImage);
        return form;
      },
      param: 'size',
      code: 'unsupported_by_upstream',
    },
    {
      name: '1080P on a channel whose upstream model has no 1080p (grok-video-1.5 → grok-imagine-video)',
      route: '/v1/videos',
      body: () => ({ model: 'grok-video-1.5', prompt: 'refused: 1080P on grok-imagine-video', size: '1080P', duration: 6 }),
      param: 'size',
      code: 'unsupported_by_upstream',
      on: () => older,
    },
    {
      name: '1080p on grok-imagine (a model without it)',
      route: '/v1/video/generations',
      body: () => ({ model: 'grok-imagine', prompt: 'refused: 1080p on grok-imagine', size: '1080p', aspect_ratio: '16:9', duration: 6 }),
      param: 'size',
      // The catalog's own rule: grok-imagine has no 1080p on any channel.
      code: 'invalid_value',
    },
    {
      name: "reference videos (seed 001's `videos`)",
      route: '/v1/videos',
      body: () => ({ model: 'grok-imagine', prompt: 'refused: reference videos', videos: [link('source.mp4')], size: '720p', duration: 6 }),
      param: 'videos',
      code: 'unsupported_by_upstream',
    },
  ];
  for (const { name, route, body, param, code, on } of refusals) {
    test(name, async () => {
      const { client } = on?.() ?? xai;
      const form = body();
      const prompt = form instanceof FormData ? form.get('prompt') : form.prompt;
      const { status, body: answer } = await client.json('POST', route, form);
      assert.equal(status, 400, JSON.stringify(answer));
      assert.equal(answer.error.param, param, answer.error.message);
      assert.equal(answer.error.code, code, answer.error.message);
      assert.equal(answer.error.type, 'invalid_request_error');
      const { body: list } = await client.json('GET', '/v1/videos?limit=100');
      assert.ok(!list.data.some((task: { prompt: string }) => task.prompt === prompt), 'no task was made');
      assert.ok(!xai.fake.requests.some((request) => JSON.stringify(request.body ?? '').includes(String(prompt))), 'nothing reached xAI');
    });
  }
});

describe('after the upstream links expired', () => {
  test('every completed example still downloads, byte for byte (our copy)', async () => {
    assert.equal(completed.size, Object.keys(UPSTREAM_REQUESTS).length, 'every example completed');
    for (const upstream of [xai, vidu]) upstream.fake.expireLinks();
    for (const [key, { id, upstream }] of completed) {
      // The upstream's link is gone…
      const fakeTask = [...upstream.fake.tasks.values()].find((task) => task.body.prompt === examples[key as SeedKey].body.prompt);
      assert.ok(fakeTask);
      const gone = await fetch(`${upstream.fake.origin}/files/${fakeTask.id}.mp4`);
      assert.equal(gone.status, 404, `${key}: the upstream link expired`);
      await gone.arrayBuffer();
      // …and ours still serves the same bytes.
      assert.ok((await contentOf(upstream.client, id)).equals(upstream.fake.videoBytes), key);
    }
  });
});
