import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { MediaRef, VideoJob } from '../src/catalog/types.ts';
import { validate, type Route } from '../src/catalog/validate.ts';
import { KeyRefused } from '../src/providers/http-json.ts';
import { ProviderFailure, type Operation } from '../src/providers/interface.ts';
import { RelayProvider } from '../src/providers/relay/provider.ts';
import type { ChannelSettings, CheckResult, UpstreamJob } from '../src/providers/upstream.ts';
import { UpstreamUnavailable } from '../src/providers/upstream-errors.ts';
import { assertNoKey, caught, signal } from './support/adapter-kit.ts';
import { closedPortUrl, startRecordingServer, type RecordingServer, type Reply } from './support/recording-server.ts';

const KEYS = ['relay-secret-key-AAAA', 'relay-secret-key-BBBB'];
const NOW = Date.parse('2026-11-02T10:00:00Z');
const IMAGE = 'data:image/png;base64,iVBORw0KGgo=';
const PHOTO = 'https://media.example.com/photo.jpg';
const LAST = 'https://media.example.com/last.png';
const VIDEO = 'https://media.example.com/in.mp4';
const CLIP = 'data:video/mp4;base64,AAAAIGZ0eXBpc29t';
const PROMPT = 'a paper boat in the rain';

let server: RecordingServer;
before(async () => {
  server = await startRecordingServer();
});
after(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.script();
});

function settings(overrides: Partial<ChannelSettings> = {}): ChannelSettings {
  return { name: 'relay-test', baseUrl: `${server.url}/v1`, keys: KEYS, fetch: globalThis.fetch, clock: { now: () => NOW }, ...overrides };
}

/** A ref as the engine hands it to an upstream: the URL, or the stored bytes as a data URI. */
function link(ref: MediaRef): string {
  if (ref.kind === 'url') return ref.url;
  if (ref.kind === 'data') return `data:${ref.mime};base64,${ref.base64}`;
  return assert.fail(`tests use url and data refs, not ${ref.kind}`);
}


const routeOf = (job: VideoJob): Route => (job.capability === 'edit_video' ? 'edit' : job.capability === 'video_extend' ? 'extend' : 'create');


function upstream(job: VideoJob, upstreamModel = job.model): UpstreamJob {
  return {
    taskId: 'video_0123abcd',
    job,
    upstreamModel,
    inputs: { images: job.images.map(link), lastImage: job.lastImage && link(job.lastImage), video: job.video && link(job.video), videos: job.videos.map(link) },
    callbackUrl: 'https://gw.example/callbacks/video_0123abcd',
  };
}

const textJob = () => validate('create', { model: 'grok-imagine', prompt: PROMPT, duration: 5, size: '480p', aspect_ratio: '9:16' });

async function startWith(reply: Reply): Promise<unknown> {
  server.script(reply);
  return caught(new RelayProvider(settings()).start(upstream(textJob()), signal()));
}

async function checkWith(...replies: Reply[]): Promise<CheckResult> {
  server.script(...replies);
  return new RelayProvider(settings()).check({ id: 'video_remote1', key: 0 }, signal());
}

/** A video object as vidgate presents it. */
function remote(fields: Record<string, unknown>): Reply {
  return {
    status: 200,
    json: {
      id: 'video_remote1',
      task_id: 'video_remote1',
      object: 'video',
      model: 'grok-imagine',
      status: 'queued',
      progress: 0,
      created_at: 1793613600,
      completed_at: null,
      expires_at: null,
      prompt: PROMPT,
      seconds: '5',
      size: '480p',
      error: null,
      remixed_from_video_id: null,
      video_url: '',
      ...fields,
    },
  };
}

describe('relay: the requests it sends', () => {
  const cases: { name: string; route: Route; client: Record<string, unknown>; path: string; body: unknown }[] = [
    {
      name: 'grok-imagine text_to_video',
      route: 'create',
      client: { model: 'grok-imagine', prompt: PROMPT, seconds: 5, resolution: '480p', aspect_ratio: '9:16' },
      path: '/v1/videos',
      body: { model: 'grok-imagine', prompt: PROMPT, duration: 5, size: '480p', aspect_ratio: '9:16' },
    },
    {
      name: 'grok-imagine reference images and videos',
      route: 'create',
      client: { model: 'grok-imagine', prompt: PROMPT, duration: 5, image_urls: [IMAGE, PHOTO], videos: [VIDEO] },
      path: '/v1/videos',
      body: { model: 'grok-imagine', prompt: PROMPT, duration: 5, size: '720p', aspect_ratio: '16:9', images: [IMAGE, PHOTO], videos: [VIDEO] },
    },
    {
      name: 'grok-imagine edit (its own route; extra_body nested)',
      route: 'edit',
      client: { model: 'grok-imagine', prompt: PROMPT, video: { url: CLIP }, size: '480p', extra_body: { input_video_seconds: 5 } },
      path: '/v1/videos/edits',
      body: { model: 'grok-imagine', prompt: PROMPT, size: '480p', video: CLIP, extra_body: { input_video_seconds: 5 } },
    },
    {
      name: 'grok-imagine extension',
      route: 'extend',
      client: { model: 'grok-imagine', prompt: PROMPT, video: VIDEO, seconds: 4 },
      path: '/v1/videos/extensions',
      body: { model: 'grok-imagine', prompt: PROMPT, duration: 4, video: VIDEO },
    },
    {
      name: 'grok-video-3 image_to_video (input_reference as one string)',
      route: 'create',
      client: { model: 'grok-video-3', prompt: PROMPT, input_reference: { image_url: PHOTO }, size: '1080P' },
      path: '/v1/videos',
      body: { model: 'grok-video-3', prompt: PROMPT, duration: 6, size: '1080P', input_reference: PHOTO },
    },
    {
      name: 'viduq3 first_last_frame off-peak (tier and off-peak stay in the name; options under extra_body)',
      route: 'create',
      client: { model: 'viduq3t-540p-offpeak', prompt: PROMPT, image: IMAGE, last_image: LAST, aspect_ratio: '1:1', extra_body: { seed: 7, audio: false } },
      path: '/v1/videos',
      body: { model: 'viduq3t-540p-offpeak', prompt: PROMPT, duration: 5, image: IMAGE, last_image: LAST, extra_body: { seed: 7, audio: false } },
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const job = validate(c.route, c.client);
      server.script(remote({}));
      const operation = await new RelayProvider(settings()).start(upstream(job), signal());
      assert.deepEqual(operation, { id: 'video_remote1', key: 0 });
      assert.equal(server.requests.length, 1);
      const request = server.requests[0]!;
      assert.equal(request.method, 'POST');
      assert.equal(request.path, c.path);
      assert.equal(request.headers.authorization, `Bearer ${KEYS[0]}`);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['idempotency-key'], 'video_0123abcd');
      assert.deepEqual(request.body, c.body);
    });
  }

  test("the upstream's own model id is sent", async () => {
    server.script(remote({}));
    await new RelayProvider(settings()).start(upstream(textJob(), 'their-grok'), signal());
    assert.equal((server.requests[0]!.body as { model: string }).model, 'their-grok');
  });

  /**
   * What a vidgate upstream will make of the body: our own validator reads it back into
   * the very job we relayed, for every family and capability.
   */
  const clients: Record<string, unknown>[] = [
    { model: 'grok-imagine', prompt: PROMPT, duration: 5, size: '480p', aspect_ratio: '9:16' },
    { model: 'grok-imagine', prompt: PROMPT, duration: 3, image: IMAGE },
    { model: 'grok-imagine', prompt: PROMPT, duration: 5, images: [IMAGE, PHOTO], videos: [VIDEO, CLIP] },
    { model: 'grok-imagine', prompt: PROMPT, duration: 5, videos: [CLIP] },
    { model: 'grok-imagine', prompt: PROMPT, video: CLIP, extra_body: { operation: 'edit_video', input_video_seconds: 6 } },
    { model: 'grok-imagine', prompt: PROMPT, video: VIDEO, duration: 8, extra_body: { operation: 'video_extend' } },
    { model: 'grok-imagine-video', prompt: PROMPT, size: '1280x720' },
    { model: 'grok-imagine-video', prompt: PROMPT, seconds: 4, resolution: '480p', aspect_ratio: '21:9' },
    { model: 'grok-imagine-video', prompt: PROMPT, input_reference: { image_url: IMAGE }, aspect_ratio: '4:3' },
    { model: 'grok-imagine-video', prompt: PROMPT, images: [IMAGE, { url: PHOTO }] },
    { model: 'grok-video-1.5', prompt: PROMPT, image_url: PHOTO, size: '540P' },
    { model: 'grok-video-3', prompt: PROMPT, input_reference: [IMAGE, PHOTO], size: '720P', aspect_ratio: '3:2' },
    { model: 'grok-video-3-pro', prompt: PROMPT },
    { model: 'grok-video-3-max', prompt: PROMPT, input_reference: PHOTO },
    { model: 'viduq3p-720p', prompt: PROMPT, duration: 8, aspect_ratio: '1:1', extra_body: { seed: 42, audio: true, bgm: false } },
    { model: 'viduq3p-1080p', prompt: PROMPT, image: IMAGE, aspect_ratio: '16:9' },
    { model: 'viduq3t-540p-offpeak', prompt: PROMPT, input_reference: PHOTO, last_image: IMAGE },
    { model: 'viduq3p-mix-1080p-offpeak', prompt: PROMPT, reference_image_urls: [IMAGE, PHOTO, LAST], aspect_ratio: '9:16' },
  ];
  for (const client of clients) {
    const job = validate('create', client);
    test(`${job.model} ${job.capability}: vidgate reads the relayed body back as the same job`, async () => {
      server.script(remote({}));
      await new RelayProvider(settings()).start(upstream(job), signal());
      const request = server.requests[0]!;
      const route: Route = request.path === '/v1/videos/edits' ? 'edit' : request.path === '/v1/videos/extensions' ? 'extend' : 'create';
      assert.equal(route, routeOf(job));
      const relayed = validate(route, request.body);
      // Warnings are the first hop's to give (an ignored field is not relayed, so none is repeated);
      // the names its inputs were sent under are each request's own.
      assert.deepEqual({ ...relayed, warnings: [], inputParams: undefined }, { ...job, warnings: [], inputParams: undefined });
    });
  }

  test('keys are used in turn, and a task is checked with the key that made it', async () => {
    const provider = new RelayProvider(settings());
    server.script(remote({}), remote({}), remote({}), remote({ status: 'in_progress', progress: 10 }));
    const operations: Operation[] = [];
    for (let i = 0; i < 3; i++) operations.push(await provider.start(upstream(textJob()), signal()));
    assert.deepEqual(operations.map((operation) => operation.key), [0, 1, 0]);
    assert.deepEqual(server.requests.map((request) => request.headers.authorization), [0, 1, 0].map((index) => `Bearer ${KEYS[index]}`));
    await provider.check(operations[1]!, signal());
    const check = server.requests[3]!;
    assert.equal(check.method, 'GET');
    assert.equal(check.path, '/v1/videos/video_remote1');
    assert.equal(check.headers.authorization, `Bearer ${KEYS[1]}`);
    assert.ok(!JSON.stringify(operations).includes('secret'));
  });

  test('its fixed properties', () => {
    const provider = new RelayProvider(settings());
    assert.equal(provider.idempotentStart, true);
    assert.deepEqual(provider.inline, { image: 4 * 1024 * 1024, video: 4 * 1024 * 1024 });
    assert.equal(provider.unsupported(textJob(), 'grok-imagine'), null);
  });
});

describe('relay: what a check answers', () => {
  test('queued and in_progress: pending with the progress', async () => {
    assert.deepEqual(await checkWith(remote({ status: 'queued', progress: 0 })), { state: 'pending', progress: 0 });
    assert.deepEqual(await checkWith(remote({ status: 'in_progress', progress: 37 })), { state: 'pending', progress: 37 });
    assert.deepEqual(await checkWith({ status: 200, json: { id: 'video_remote1', status: 'in_progress' } }), { state: 'pending', progress: null });
  });

  test('completed: the content and its thumbnail, fetched with the key', async () => {
    const result = await checkWith(remote({ status: 'completed', progress: 100, video_url: 'https://remote/signed' }));
    const headers = { authorization: `Bearer ${KEYS[0]}` };
    assert.deepEqual(result, {
      state: 'completed',
      video: { url: `${server.url}/v1/videos/video_remote1/content`, headers },
      cover: { url: `${server.url}/v1/videos/video_remote1/content?variant=thumbnail`, headers },
      usage: null,
    });
  });

  test("failed: the remote's code passes through when it is a plain code, with its message", async () => {
    const moderated = await checkWith(remote({ status: 'failed', error: { code: 'content_moderated', message: 'xAI withheld the video under its usage rules' } }));
    assert.deepEqual(
      { ...moderated, detail: undefined },
      { state: 'failed', code: 'content_moderated', message: 'xAI withheld the video under its usage rules', detail: undefined },
    );
    const odd = await checkWith(remote({ status: 'failed', error: { code: 'Weird Code!', message: 'x'.repeat(1000) } }));
    assert.equal(odd.state === 'failed' && odd.code, 'upstream_error');
    assert.ok(odd.state === 'failed' && odd.message.length <= 301);
    const bare = await checkWith(remote({ status: 'failed', error: null }));
    assert.ok(bare.state === 'failed' && bare.code === 'upstream_error' && bare.message.length > 0);
  });

  test('cancelled: upstream_cancelled', async () => {
    const result = await checkWith(remote({ status: 'cancelled' }));
    assert.equal(result.state === 'failed' && result.code, 'upstream_cancelled');
  });

  test('404: the task is lost', async () => {
    const error = await caught(checkWith({ status: 404, json: { error: { message: 'No video video_remote1', type: 'invalid_request_error', param: null, code: 'not_found' } } }));
    assert.ok(error instanceof ProviderFailure);
    assert.equal(error.code, 'upstream_task_lost');
  });

  test('a status we do not know, or unreadable JSON: unavailable, look again later', async () => {
    for (const reply of [remote({ status: 'mystery' }), { status: 200, text: '<html>' }] satisfies Reply[]) {
      const error = await caught(checkWith(reply));
      assert.ok(error instanceof UpstreamUnavailable);
      assert.equal(error.created, true);
    }
  });
});

describe('relay: cancel', () => {
  test('POST /videos/{id}/cancel with the key that made it; 404 and 409 are no matter', async () => {
    const provider = new RelayProvider(settings());
    server.script(remote({ status: 'cancelled' }), { status: 404, json: { error: { code: 'not_found' } } }, { status: 409, json: { error: { code: 'video_not_cancellable' } } });
    for (let i = 0; i < 3; i++) await provider.cancel({ id: 'video_remote1', key: 1 }, signal());
    assert.deepEqual(
      server.requests.map((request) => [request.method, request.path, request.headers.authorization]),
      Array.from({ length: 3 }, () => ['POST', '/v1/videos/video_remote1/cancel', `Bearer ${KEYS[1]}`]),
    );
  });

  test('an outage is told to the caller, who treats cancelling as best effort', async () => {
    server.script({ status: 503 });
    const error = await caught(new RelayProvider(settings()).cancel({ id: 'video_remote1', key: 0 }, signal()));
    assert.ok(error instanceof UpstreamUnavailable);
  });
});

describe('relay: errors', () => {
  test('409 idempotency_key_reused: a task exists there that we cannot name; not sent again', async () => {
    const error = await startWith({ status: 409, json: { error: { message: 'This Idempotency-Key was used with a different request', code: 'idempotency_key_reused' } } });
    assert.ok(error instanceof ProviderFailure);
    assert.equal(error.code, 'submit_outcome_unknown');
  });

  test('400: upstream_rejected, the remote body in the detail only', async () => {
    const error = await startWith({ status: 400, json: { error: { message: 'prompt must be at most 4096 characters 5d2b', param: 'prompt', code: 'invalid_value' } } });
    assert.ok(error instanceof ProviderFailure);
    assert.equal(error.code, 'upstream_rejected');
    assert.ok(!error.message.includes('5d2b'));
    assert.ok(error.detail?.includes('5d2b'));
  });

  test('429 with Retry-After; 5xx; a refused key', async () => {
    const limited = await startWith({ status: 429, headers: { 'retry-after': '12' }, json: { error: { code: 'rate_limit_exceeded' } } });
    assert.ok(limited instanceof UpstreamUnavailable);
    assert.equal(limited.created, false);
    assert.equal(limited.retryAfterMs, 12_000);
    const failed = await startWith({ status: 500, json: { error: { code: 'internal_error' } } });
    assert.ok(failed instanceof UpstreamUnavailable);
    assert.equal(failed.created, true);
    const refused = await startWith({ status: 401, json: { error: { message: `Invalid API key ${KEYS[0]}`, code: 'invalid_api_key' } } });
    assert.ok(refused instanceof KeyRefused);
    assert.equal(refused.created, false);
    assertNoKey(refused, KEYS);
  });

  test('a submit answered with unreadable JSON: the outcome is unknown', async () => {
    const error = await startWith({ status: 200, text: '{"id":' });
    assert.ok(error instanceof UpstreamUnavailable);
    assert.equal(error.created, true);
  });

  test('connection refused: nothing made; dropped after sending: the task may exist', async () => {
    const refused = await caught(new RelayProvider(settings({ baseUrl: `${await closedPortUrl()}/v1` })).start(upstream(textJob()), signal()));
    assert.ok(refused instanceof UpstreamUnavailable);
    assert.equal(refused.created, false);
    const reset = await startWith({ reset: true });
    assert.ok(reset instanceof UpstreamUnavailable);
    assert.equal(reset.created, true);
  });

  test('no key in any message or detail, even when the remote echoes it', async () => {
    const echo = `key ${KEYS[0]} ${KEYS[1]}`;
    for (const reply of [{ status: 400, json: { error: { message: echo } } }, { status: 502, text: echo }, { status: 200, text: echo }] satisfies Reply[]) {
      assertNoKey(await startWith(reply), KEYS);
    }
    const failed = await checkWith(remote({ status: 'failed', error: { code: 'upstream_error', message: echo } }));
    assert.ok(failed.state === 'failed' && !`${failed.message}${failed.detail}`.includes('secret-key'));
  });
});
