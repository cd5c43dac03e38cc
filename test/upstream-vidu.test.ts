import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ffmpegPath } from '../src/media/ffmpeg.ts';
import type { RecordedRequest } from './fakes/server.ts';
import { type FakeVidu, startFakeVidu } from './fakes/vidu.ts';
import { gatewayDatabase } from './support/database.ts';
import { type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngDataUri, probe } from './support/media.ts';
import { sleep, waitUntil } from './support/wait.ts';

/**
 * The Vidu channel end to end, with only VIDU_API_KEY and VIDU_BASE_URL pointing at the fake
 * and PUBLIC_URL set (so Vidu is handed a callback URL): the endpoint by capability, the
 * Token header, off-peak, the cover kept as the thumbnail, failures as our short codes, and
 * callbacks that make us look at once but are never believed.
 */
const MIN_CHECK_MS = 2_000; // the gateway's shortest gap between two scheduled checks (README: Tracking)
const CALLBACK_TASK_MS = 5_000; // `#callback` tasks: long enough for several scheduled checks
const HELD_TASK_MS = 120_000; // `#held` tasks: pending for the whole file

let fake: FakeVidu;
let gateway: RunningGateway;
let client: Client;
let publicUrl: string;
/** When each request reached the fake (Date.now(), the fake's own clock). */
const arrivals = new WeakMap<RecordedRequest, number>();
/** The cover the fake serves: portrait, unlike the landscape video, so a thumbnail shows which it came from. */
const cover = execFileSync(ffmpegPath, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=90x160', '-frames:v', '1', '-f', 'mjpeg', 'pipe:1']);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  fake = await startFakeVidu({
    cover,
    completeAfterMs: (body) => {
      const prompt = String(body.prompt ?? '');
      return prompt.includes('#held') ? HELD_TASK_MS : prompt.includes('#callback') ? CALLBACK_TASK_MS : 300;
    },
  });
  const push = fake.requests.push.bind(fake.requests);
  fake.requests.push = (...items: RecordedRequest[]) => {
    for (const item of items) arrivals.set(item, Date.now());
    return push(...items);
  };
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  gateway = await startGateway({
    PORT: String(port),
    PUBLIC_URL: publicUrl,
    VIDU_API_KEY: 'vidu-test-key',
    VIDU_BASE_URL: fake.url,
    ALLOWED_PRIVATE_HOSTS: fake.hostPort,
  });
  assert.equal(gateway.url, publicUrl);
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await fake.close();
});

/** Creates a task on the legacy route (seed 002's) and answers its id. */
async function create(body: Record<string, unknown>): Promise<string> {
  const created = await client.json('POST', '/v1/video/generations', body);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body.id as string;
}

/** The one submit the fake received with this prompt (prompts are unique in this file). */
function submitOf(prompt: string): RecordedRequest {
  const submits = fake.requests.filter((request) => request.method === 'POST' && (request.body as { prompt?: string } | undefined)?.prompt === prompt);
  assert.equal(submits.length, 1, `one submit for "${prompt}"`);
  return submits[0]!;
}

function fakeTaskOf(prompt: string) {
  const task = [...fake.tasks.values()].find((candidate) => candidate.body.prompt === prompt);
  assert.ok(task, `the fake has a task for "${prompt}"`);
  return task;
}

describe('Vidu: what is sent', { concurrency: true }, () => {
  const image = pngDataUri(320, 240);
  const lastImage = pngDataUri(240, 320);
  const cases: { name: string; body: Record<string, unknown>; path: string; expected: Record<string, unknown> }[] = [
    {
      name: 'text → /text2video',
      body: { model: 'viduq3t-720p', prompt: 'vidu: text', duration: 4, aspect_ratio: '9:16' },
      path: '/ent/v2/text2video',
      expected: { model: 'viduq3-turbo', prompt: 'vidu: text', resolution: '720p', duration: 4, aspect_ratio: '9:16' },
    },
    {
      name: 'one image → /img2video',
      body: { model: 'viduq3p-540p', prompt: 'vidu: one image', image, duration: 3, extra_body: { seed: 7, audio: true } },
      path: '/ent/v2/img2video',
      expected: { model: 'viduq3-pro', prompt: 'vidu: one image', resolution: '540p', duration: 3, seed: 7, audio: true, images: [image] },
    },
    {
      name: 'image + last_image → /start-end2video',
      body: { model: 'viduq3t-1080p', prompt: 'vidu: first and last', image, last_image: lastImage, duration: 2 },
      path: '/ent/v2/start-end2video',
      expected: { model: 'viduq3-turbo', prompt: 'vidu: first and last', resolution: '1080p', duration: 2, images: [image, lastImage] },
    },
    {
      name: 'reference images → /reference2video',
      body: { model: 'viduq3p-mix-1080p', prompt: 'vidu: references', reference_image_urls: [image, lastImage, image], aspect_ratio: '1:1', duration: 2 },
      path: '/ent/v2/reference2video',
      expected: { model: 'viduq3-mix', prompt: 'vidu: references', resolution: '1080p', duration: 2, aspect_ratio: '1:1', images: [image, lastImage, image] },
    },
    {
      name: 'an off-peak name sends off_peak: true',
      body: { model: 'viduq3t-540p-offpeak', prompt: 'vidu: off-peak', duration: 2 },
      path: '/ent/v2/text2video',
      expected: { model: 'viduq3-turbo', prompt: 'vidu: off-peak', resolution: '540p', duration: 2, aspect_ratio: '16:9', off_peak: true },
    },
  ];
  for (const { name, body, path, expected } of cases) {
    test(name, async () => {
      const id = await create(body);
      const done = await client.waitFor(id, 30_000);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      const sent = submitOf(String(body.prompt));
      assert.equal(sent.path, path);
      assert.equal(sent.headers.authorization, 'Token vidu-test-key', 'Vidu takes Token, not Bearer');
      const { callback_url: callbackUrl, ...rest } = sent.body as Record<string, unknown>;
      assert.deepEqual(rest, expected);
      assert.match(String(callbackUrl), new RegExp(`^${publicUrl}/v1/upstream-callbacks/${id}\\?expires=\\d+&signature=[\\w-]+$`));
      const content = await client.request('GET', `/v1/videos/${id}/content`);
      assert.ok(Buffer.from(await content.arrayBuffer()).equals(fake.videoBytes), 'the video is the one Vidu served');
    });
  }
});

describe('Vidu: results and failures', () => {
  test("Vidu's cover becomes the thumbnail (image/webp)", async () => {
    const id = await create({ model: 'viduq3p-720p', prompt: 'vidu: a cover', duration: 2 });
    const done = await client.waitFor(id, 30_000);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const fakeId = fakeTaskOf('vidu: a cover').id;
    assert.ok(fake.requests.some((request) => request.path === `/files/${fakeId}.jpg`), 'the cover was fetched');
    const thumbnail = await client.request('GET', `/v1/videos/${id}/content?variant=thumbnail`);
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp');
    const bytes = Buffer.from(await thumbnail.arrayBuffer());
    assert.equal(bytes.subarray(8, 12).toString('latin1'), 'WEBP');
    // The cover is 90×160, the video 320×240: a portrait thumbnail came from the cover.
    const { width, height } = probe(bytes);
    assert.ok(height > width, `a portrait thumbnail (the cover), got ${width}×${height}`);

    // Vidu's links last a day; ours do not depend on them.
    fake.expireLinks();
    assert.equal((await fetch(`${fake.origin}/files/${fakeId}.mp4`)).status, 404, "Vidu's link is gone");
    const again = await client.request('GET', `/v1/videos/${id}/content`);
    assert.ok(Buffer.from(await again.arrayBuffer()).equals(fake.videoBytes), 'the video still downloads');
    const thumbnailAgain = await client.request('GET', `/v1/videos/${id}/content?variant=thumbnail`);
    assert.ok(Buffer.from(await thumbnailAgain.arrayBuffer()).equals(bytes), 'and so does the thumbnail');
  });

  for (const [marker, code, upstreamCode] of [
    ['#fail', 'upstream_error', 'InternalServiceFailure'],
    ['#moderated', 'content_moderated', 'CreationPolicyViolation'],
  ] as const) {
    test(`a ${marker} task ends failed with ${code} and none of Vidu's own words`, async () => {
      const id = await create({ model: 'viduq3p-720p', prompt: `vidu: ${marker}`, duration: 2 });
      const done = await client.waitFor(id, 30_000);
      assert.equal(done.status, 'failed');
      assert.equal(done.error.code, code);
      assert.equal(typeof done.error.message, 'string');
      assert.ok(done.error.message.length > 0 && done.error.message.length <= 120, `a short message: ${done.error.message}`);
      const text = JSON.stringify(done);
      for (const word of [upstreamCode, 'err_code', 'creations', fake.origin, 'vidu-test-key']) assert.ok(!text.includes(word), `the task shows no "${word}"`);
      const content = await client.request('GET', `/v1/videos/${id}/content`);
      assert.notEqual(content.status, 200, 'a failed task has no content');
    });
  }
});

describe('Vidu: callbacks', () => {
  test('a callback makes us look at once: completed well before the next scheduled check', async () => {
    // Three tasks, each done 5 s after it was made: without callbacks each would be found by
    // a scheduled check, at least 2 s after the check before it.
    const prompts = ['vidu: #callback one', 'vidu: #callback two', 'vidu: #callback three'];
    const ids = await Promise.all(prompts.map((prompt) => create({ model: 'viduq3t-540p', prompt, duration: 2 })));
    const completedAt = new Map<string, number>();
    await waitUntil(async () => {
      for (const id of ids) {
        if (completedAt.has(id)) continue;
        const { body } = await client.json('GET', `/v1/videos/${id}`);
        if (body.status === 'completed') completedAt.set(id, Date.now());
        else assert.ok(['queued', 'in_progress'].includes(body.status), JSON.stringify(body));
      }
      return completedAt.size === ids.length;
    }, 'the callback tasks complete', 30_000, 20);

    let beatTheSchedule = 0;
    prompts.forEach((prompt, index) => {
      const task = fakeTaskOf(prompt);
      const checks = fake.requests.filter((request) => request.path === `/ent/v2/tasks/${task.id}/creations`).map((request) => arrivals.get(request)!);
      const before = checks.filter((at) => at < task.doneAt);
      const found = checks.find((at) => at >= task.doneAt);
      assert.ok(before.length > 0 && found !== undefined, `checked before and after done: ${JSON.stringify(checks)}`);
      const lastBefore = Math.max(...before);
      const ourLag = completedAt.get(ids[index]!)! - task.doneAt;
      // Upstream done → our check: only a callback can make that quicker than a scheduled check could.
      assert.ok(found - task.doneAt < 600, `${prompt}: looked ${found - task.doneAt} ms after Vidu finished`);
      assert.ok(ourLag < MIN_CHECK_MS, `${prompt}: completed for us ${ourLag} ms after Vidu finished`);
      assert.ok(fake.callbacks.some((delivery) => delivery.taskId === task.id && delivery.state === 'success' && delivery.status === 200), 'the success callback was answered 200');
      if (found < lastBefore + MIN_CHECK_MS) beatTheSchedule += 1;
    });
    // A scheduled check comes at least 2 s after the one before; a quicker one was the callback's.
    assert.ok(beatTheSchedule > 0, 'at least one task was found before any scheduled check could have found it');
  });

  test('a callback with a forged or missing signature is refused (403)', async () => {
    const prompt = 'vidu: #held for forged callbacks';
    const id = await create({ model: 'viduq3t-540p', prompt, duration: 2 });
    await waitUntil(() => fake.requests.some((request) => request.method === 'POST' && (request.body as { prompt?: string }).prompt === prompt), 'the submit');
    const url = new URL(String((submitOf(prompt).body as { callback_url: string }).callback_url));
    const expires = url.searchParams.get('expires')!;
    const signature = url.searchParams.get('signature')!;
    const forged = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const body = JSON.stringify({ id: fakeTaskOf(prompt).id, state: 'success', err_code: '', creations: [{ id: '1', url: `${fake.origin}/files/x.mp4` }] });
    for (const query of [`expires=${expires}&signature=${forged}`, `expires=${expires}`, '', `expires=${Number(expires) + 1}&signature=${signature}`]) {
      const answer = await fetch(`${publicUrl}${url.pathname}${query ? `?${query}` : ''}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(answer.status, 403, `?${query}`);
    }
    // Another task's signature does not open this one.
    const other = String((submitOf('vidu: a cover').body as { callback_url: string }).callback_url);
    const otherQuery = new URL(other).search;
    assert.equal((await fetch(`${publicUrl}${url.pathname}${otherQuery}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 403);
    assert.equal((await client.json('GET', `/v1/videos/${id}`)).body.status, 'in_progress');
    await client.json('POST', `/v1/videos/${id}/cancel`);
  });

  test("a callback's body is never trusted: a forged success leaves a pending task pending", async () => {
    const prompt = 'vidu: #held for a lying callback';
    const id = await create({ model: 'viduq3t-540p', prompt, duration: 2 });
    await waitUntil(() => fake.requests.some((request) => request.method === 'POST' && (request.body as { prompt?: string }).prompt === prompt), 'the submit');
    const task = fakeTaskOf(prompt);
    const callbackUrl = String((submitOf(prompt).body as { callback_url: string }).callback_url);
    // Let the first scheduled check pass, so that the check the callback causes is its own.
    await waitUntil(() => task.checks >= 1, 'the first check');
    const checksBefore = task.checks;
    // When the next check is due by the schedule: the one the callback causes must come before it.
    const db = gatewayDatabase(gateway.dataDir);
    await waitUntil(async () => (await db.selectFrom('tasks').select('lease_owner').where('id', '=', id).executeTakeFirstOrThrow()).lease_owner === null, 'the first check let go');
    const { run_after: scheduled } = await db.selectFrom('tasks').select('run_after').where('id', '=', id).executeTakeFirstOrThrow();
    await db.destroy();
    const lie = {
      id: task.id,
      state: 'success',
      err_code: '',
      credits: 4,
      progress: 100,
      creations: [{ id: 'forged', url: `${fake.origin}/files/${task.id}.mp4`, cover_url: `${fake.origin}/files/${task.id}.jpg` }],
    };
    const answer = await fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(lie) });
    assert.equal(answer.status, 200, await answer.text());
    // It made us ask Vidu at once, before the next scheduled check…
    await waitUntil(() => task.checks > checksBefore, 'a check caused by the callback');
    assert.ok(Date.now() < scheduled, `the check came ${Date.now() - scheduled} ms after the scheduled one was due`);
    await sleep(300);
    // …and Vidu says it is still processing: the task stays pending, nothing was downloaded.
    const { body } = await client.json('GET', `/v1/videos/${id}`);
    assert.equal(body.status, 'in_progress');
    assert.ok(body.progress < 100);
    assert.equal(body.completed_at, null);
    assert.ok(!fake.requests.some((request) => request.path.startsWith(`/files/${task.id}.`)), 'nothing was downloaded');
    assert.notEqual((await client.request('GET', `/v1/videos/${id}/content`)).status, 200);
    await client.json('POST', `/v1/videos/${id}/cancel`);
  });
});
