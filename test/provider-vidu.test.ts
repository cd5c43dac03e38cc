import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { VideoJob } from '../src/catalog/types.ts';
import { KeyRefused } from '../src/providers/http-json.ts';
import { ProviderFailure, type Operation } from '../src/providers/interface.ts';
import type { ChannelSettings, CheckResult } from '../src/providers/upstream.ts';
import { UpstreamUnavailable } from '../src/providers/upstream-errors.ts';
import { ViduProvider } from '../src/providers/vidu/provider.ts';
import { assertNoKey, baseJob, caught, ratio, signal, upstreamJob, url } from './support/adapter-kit.ts';
import { closedPortUrl, startRecordingServer, type RecordingServer, type Reply } from './support/recording-server.ts';

const KEYS = ['vidu-secret-key-AAAA', 'vidu-secret-key-BBBB'];
const NOW = Date.parse('2026-11-02T10:00:00Z');
const FIRST = 'data:image/png;base64,iVBORw0KGgo=';
const LAST = 'https://media.example.com/last.jpg';
const TASK = '916198342210367488';

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
  return { name: 'vidu-test', baseUrl: `${server.url}/ent/v2`, keys: KEYS, fetch: globalThis.fetch, clock: { now: () => NOW }, ...overrides };
}

const upstream = (videoJob: VideoJob, upstreamModel = 'viduq3-pro', callbackUrl: string | null = null) => upstreamJob(videoJob, upstreamModel, callbackUrl);

function job(overrides: Partial<VideoJob> = {}): VideoJob {
  return baseJob({
    model: 'viduq3p-720p',
    capability: 'text_to_video',
    prompt: 'a lantern drifting down a river',
    seconds: 5,
    resolution: { label: '720p', shortSide: 720 },
    aspectRatio: ratio('16:9', 16, 9),
    ...overrides,
  });
}

async function startWith(reply: Reply, videoJob = job()): Promise<unknown> {
  server.script(reply);
  return caught(new ViduProvider(settings()).start(upstream(videoJob), signal()));
}

async function checkWith(...replies: Reply[]): Promise<CheckResult> {
  server.script(...replies);
  return new ViduProvider(settings()).check({ task_id: TASK, key: 0 }, signal());
}

const created: Reply = {
  status: 200,
  json: { task_id: TASK, state: 'created', model: 'viduq3-pro', duration: 5, credits: 10, created_at: '2025-01-01T15:41:31.968916Z' },
};

describe('Vidu: the requests it sends', () => {
  const prompt = 'a lantern drifting down a river';
  const cases: { name: string; job: VideoJob; model?: string; callbackUrl?: string; path: string; body: unknown }[] = [
    {
      name: 'text_to_video',
      job: job(),
      path: '/ent/v2/text2video',
      body: { model: 'viduq3-pro', prompt, duration: 5, aspect_ratio: '16:9', resolution: '720p' },
    },
    {
      name: 'text_to_video with every option, off-peak and a callback',
      job: job({ model: 'viduq3t-1080p-offpeak', resolution: { label: '1080p', shortSide: 1080 }, options: { seed: 42, audio: true, bgm: false, offPeak: true } }),
      model: 'viduq3-turbo',
      callbackUrl: 'https://gw.example/callbacks/video_0123abcd?sig=abc',
      path: '/ent/v2/text2video',
      body: {
        model: 'viduq3-turbo',
        prompt,
        duration: 5,
        seed: 42,
        aspect_ratio: '16:9',
        resolution: '1080p',
        audio: true,
        off_peak: true,
        callback_url: 'https://gw.example/callbacks/video_0123abcd?sig=abc',
      },
    },
    {
      name: 'image_to_video (one start frame, no aspect_ratio)',
      job: job({ capability: 'image_to_video', aspectRatio: { kind: 'auto' }, images: [url(FIRST)], seconds: 8 }),
      path: '/ent/v2/img2video',
      body: { model: 'viduq3-pro', prompt, duration: 8, resolution: '720p', images: [FIRST] },
    },
    {
      name: 'first_last_frame',
      job: job({ capability: 'first_last_frame', aspectRatio: { kind: 'auto' }, images: [url(FIRST)], lastImage: url(LAST) }),
      path: '/ent/v2/start-end2video',
      body: { model: 'viduq3-pro', prompt, duration: 5, resolution: '720p', images: [FIRST, LAST] },
    },
    {
      name: 'reference_to_video',
      job: job({ model: 'viduq3p-mix-1080p', capability: 'reference_to_video', resolution: { label: '1080p', shortSide: 1080 }, aspectRatio: ratio('9:16', 9, 16), images: [url(FIRST), url(LAST), url(FIRST)] }),
      model: 'viduq3-mix',
      path: '/ent/v2/reference2video',
      body: { model: 'viduq3-mix', prompt, duration: 5, aspect_ratio: '9:16', resolution: '1080p', images: [FIRST, LAST, FIRST] },
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      server.script(created);
      const operation = await new ViduProvider(settings()).start(upstream(c.job, c.model, c.callbackUrl ?? null), signal());
      assert.deepEqual(operation, { task_id: TASK, key: 0 });
      assert.equal(server.requests.length, 1);
      const request = server.requests[0]!;
      assert.equal(request.method, 'POST');
      assert.equal(request.path, c.path);
      assert.equal(request.headers.authorization, `Token ${KEYS[0]}`);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.deepEqual(request.body, c.body);
    });
  }

  test('a task id given as a (safe) number is kept as a string', async () => {
    server.script({ status: 200, json: { task_id: 12345, state: 'created' } });
    assert.deepEqual(await new ViduProvider(settings()).start(upstream(job()), signal()), { task_id: '12345', key: 0 });
  });

  test('keys are used in turn, and a task is checked with the key that made it', async () => {
    const provider = new ViduProvider(settings());
    server.script(created, created, created, { status: 200, json: { state: 'queueing' } });
    const operations: Operation[] = [];
    for (let i = 0; i < 3; i++) operations.push(await provider.start(upstream(job()), signal()));
    assert.deepEqual(operations.map((operation) => operation.key), [0, 1, 0]);
    assert.deepEqual(server.requests.map((request) => request.headers.authorization), [0, 1, 0].map((index) => `Token ${KEYS[index]}`));
    await provider.check(operations[1]!, signal());
    const check = server.requests[3]!;
    assert.equal(check.method, 'GET');
    assert.equal(check.path, `/ent/v2/tasks/${TASK}/creations`);
    assert.equal(check.headers.authorization, `Token ${KEYS[1]}`);
    assert.ok(!JSON.stringify(operations).includes('secret'));
  });

  test('its fixed properties', () => {
    const provider = new ViduProvider(settings());
    assert.equal(provider.idempotentStart, false);
    assert.deepEqual(provider.inline, { image: 2 * 1024 * 1024, video: 0 });
    // Seven inline images at the limit, as base64, stay under Vidu's 20 MB body.
    assert.ok(7 * Math.ceil((2 * 1024 * 1024) / 3) * 4 < 20_000_000 - 100_000);
  });
});

describe('Vidu: what a check answers', () => {
  test('created, queueing, processing: pending, with a progress when there is one', async () => {
    for (const state of ['created', 'queueing', 'processing']) {
      assert.deepEqual(await checkWith({ status: 200, json: { state, err_code: '', creations: [] } }), { state: 'pending', progress: null });
    }
    assert.deepEqual(await checkWith({ status: 200, json: { state: 'processing', progress: 30 } }), { state: 'pending', progress: 30 });
  });

  test('success: the first creation, its cover, the credits', async () => {
    const json = {
      state: 'success',
      err_code: '',
      credits: 4,
      creations: [{ id: 'c1', url: 'https://cdn.vidu.com/v.mp4', cover_url: 'https://cdn.vidu.com/c.jpg', watermarked_url: 'https://cdn.vidu.com/w.mp4' }],
    };
    assert.deepEqual(await checkWith({ status: 200, json }), {
      state: 'completed',
      video: { url: 'https://cdn.vidu.com/v.mp4' },
      cover: { url: 'https://cdn.vidu.com/c.jpg' },
      usage: { credits: 4 },
    });
    const bare = { state: 'success', creations: [{ url: 'https://cdn.vidu.com/v.mp4', cover_url: '' }] };
    assert.deepEqual(await checkWith({ status: 200, json: bare }), { state: 'completed', video: { url: 'https://cdn.vidu.com/v.mp4' }, cover: null, usage: null });
  });

  test('success without a creation: upstream_error', async () => {
    const result = await checkWith({ status: 200, json: { state: 'success', creations: [] } });
    assert.equal(result.state === 'failed' && result.code, 'upstream_error');
  });

  test("failed: Vidu's err_code as ours, its words in the detail only", async () => {
    const table: [string, string][] = [
      ['TaskPromptPolicyViolation', 'content_moderated'],
      ['AuditSubmitIllegal', 'content_moderated'],
      ['CreationPolicyViolation', 'content_moderated'],
      ['AuditResultIllegal', 'content_moderated'],
      ['ImageDownloadFailure', 'upstream_rejected'],
      ['FieldInvalid', 'upstream_rejected'],
      ['ImageCheckFaceFailed', 'upstream_rejected'],
      ['UserCancelled', 'upstream_cancelled'],
      ['InternalServiceFailure', 'upstream_error'],
      ['', 'upstream_error'],
    ];
    for (const [code, ours] of table) {
      const result = await checkWith({ status: 200, json: { state: 'failed', err_code: code, message: 'upstream words 7f3a' } });
      assert.equal(result.state, 'failed', code);
      if (result.state !== 'failed') continue;
      assert.equal(result.code, ours, code);
      assert.ok(!result.message.includes('7f3a'));
      assert.ok(result.detail?.includes('upstream words 7f3a'));
    }
  });

  test('404 TaskNotFound: the task is lost', async () => {
    const error = await caught(checkWith({ status: 404, json: { code: 'TaskNotFound', message: 'task not found' } }));
    assert.ok(error instanceof ProviderFailure);
    assert.equal(error.code, 'upstream_task_lost');
  });

  test('an operation without its id or with a key no longer configured: the task is lost', async () => {
    for (const operation of [{ key: 0 }, { task_id: TASK, key: 2 }]) {
      const error = await caught(new ViduProvider(settings()).check(operation, signal()));
      assert.ok(error instanceof ProviderFailure);
      assert.equal(error.code, 'upstream_task_lost');
    }
    assert.equal(server.requests.length, 0);
  });

  test('a state we do not know, or unreadable JSON: unavailable, look again later', async () => {
    for (const reply of [{ status: 200, json: { state: 'mystery' } }, { status: 200, text: '{"state":' }] satisfies Reply[]) {
      const error = await caught(checkWith(reply));
      assert.ok(error instanceof UpstreamUnavailable);
      assert.equal(error.created, true);
    }
  });
});

describe('Vidu: errors', () => {
  test('CreditInsufficient, under any of the likely field names: nothing made, another channel may serve', async () => {
    for (const field of ['code', 'err_code', 'reason']) {
      const error = await startWith({ status: 400, json: { [field]: 'CreditInsufficient', message: 'not enough credits' } });
      assert.ok(error instanceof UpstreamUnavailable, field);
      assert.equal(error.created, false);
      assert.ok(!error.message.includes('not enough credits'));
    }
  });

  test('a submit refused for its content: content_moderated', async () => {
    const error = await startWith({ status: 400, json: { code: 'TaskPromptPolicyViolation', msg: 'prompt refused' } });
    assert.ok(error instanceof ProviderFailure);
    assert.equal(error.code, 'content_moderated');
  });

  test('other 400s: upstream_rejected, the raw body in the detail only', async () => {
    const replies: Reply[] = [
      { status: 400, json: { code: 'FieldInvalid', message: 'duration must be 1-16 9c1e' } },
      { status: 400, json: { reason: 'SomethingNew', error: 'odd thing 9c1e' } },
      { status: 400, text: 'plain words 9c1e' },
    ];
    for (const reply of replies) {
      const error = await startWith(reply);
      assert.ok(error instanceof ProviderFailure);
      assert.equal(error.code, 'upstream_rejected');
      assert.ok(!error.message.includes('9c1e'));
      assert.ok(error.detail?.includes('9c1e'));
    }
    const download = await startWith({ status: 400, json: { code: 'ImageDownloadFailure' } });
    assert.ok(download instanceof ProviderFailure);
    assert.match(download.message, /download/);
  });

  test('429 QuotaExceeded: nothing made, Retry-After read', async () => {
    const error = await startWith({ status: 429, json: { code: 'QuotaExceeded' }, headers: { 'retry-after': '3' } });
    assert.ok(error instanceof UpstreamUnavailable);
    assert.equal(error.created, false);
    assert.equal(error.retryAfterMs, 3000);
  });

  test('500 on a submit: the task may exist; on a check: look again', async () => {
    const submit = await startWith({ status: 500, json: { code: 'InternalServiceFailure' } });
    assert.ok(submit instanceof UpstreamUnavailable);
    assert.equal(submit.created, true);
    const check = await caught(checkWith({ status: 502, text: '<html>bad gateway</html>' }));
    assert.ok(check instanceof UpstreamUnavailable);
  });

  test("401: the channel's key was refused", async () => {
    const error = await startWith({ status: 401, json: { code: 'Unauthorized', message: `bad token ${KEYS[0]}` } });
    assert.ok(error instanceof KeyRefused);
    assert.equal(error.created, false);
    assert.match(error.message, /key/);
    assertNoKey(error, KEYS);
  });

  test('a submit answered with unreadable JSON or without a task_id: the outcome is unknown', async () => {
    for (const reply of [{ status: 200, text: '{"task_id": 9' }, { status: 200, json: { state: 'created' } }] satisfies Reply[]) {
      const error = await startWith(reply);
      assert.ok(error instanceof UpstreamUnavailable);
      assert.equal(error.created, true);
    }
  });

  test('connection refused: nothing made; dropped after sending: the task may exist', async () => {
    const refused = await caught(new ViduProvider(settings({ baseUrl: `${await closedPortUrl()}/ent/v2` })).start(upstream(job()), signal()));
    assert.ok(refused instanceof UpstreamUnavailable);
    assert.equal(refused.created, false);
    const reset = await startWith({ reset: true });
    assert.ok(reset instanceof UpstreamUnavailable);
    assert.equal(reset.created, true);
  });

  test('no key in any message or detail, even when the upstream echoes it', async () => {
    const echo = `token ${KEYS[0]} / ${KEYS[1]}`;
    for (const reply of [
      { status: 400, json: { code: 'FieldInvalid', message: echo } },
      { status: 400, json: { code: 'CreditInsufficient', message: echo } },
      { status: 500, text: echo },
      { status: 200, text: echo },
    ] satisfies Reply[]) {
      assertNoKey(await startWith(reply), KEYS);
    }
    const failed = await checkWith({ status: 200, json: { state: 'failed', err_code: 'InternalServiceFailure', message: echo } });
    assert.ok(failed.state === 'failed' && !`${failed.message}${failed.detail}`.includes('secret-key'));
  });
});

describe('Vidu: what it cannot do', () => {
  const provider = () => new ViduProvider(settings());
  test('viduq3-mix below 720p', () => {
    const at540 = job({ model: 'viduq3p-mix-540p', capability: 'reference_to_video', resolution: { label: '540p', shortSide: 540 }, images: [url(FIRST)] });
    assert.equal(provider().unsupported(at540, 'viduq3-mix')?.slot, 'resolution');
    assert.equal(provider().unsupported({ ...at540, resolution: { label: '720p', shortSide: 720 } }, 'viduq3-mix'), null);
    // The same tier is fine on the other models.
    assert.equal(provider().unsupported(job({ resolution: { label: '540p', shortSide: 540 } }), 'viduq3-pro'), null);
  });

  test('a prompt over 5000 characters', () => {
    assert.equal(provider().unsupported(job({ prompt: 'x'.repeat(5001) }), 'viduq3-pro')?.slot, 'prompt');
    assert.equal(provider().unsupported(job({ prompt: 'x'.repeat(5000) }), 'viduq3-pro'), null);
    assert.equal(provider().unsupported(job({ options: { bgm: true } }), 'viduq3-pro')?.slot, 'bgm', 'Q3 makes no background music');
    assert.equal(provider().unsupported(job({ options: { bgm: false } }), 'viduq3-pro'), null);
  });

  test('edits and extensions', () => {
    assert.equal(provider().unsupported(job({ capability: 'edit_video', video: url(LAST) }), 'viduq3-pro')?.slot, 'video');
  });
});
