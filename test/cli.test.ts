import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { type FakeXai, startFakeXai } from './fakes/xai.ts';
import { type Client, newClient, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { pngFile, probe } from './support/media.ts';
import { xaiChannel } from './support/upstream-kit.ts';
import { TEST_STORE } from './support/database.ts';
import { startRecordingProxy } from './support/recording-proxy.ts';

/**
 * `vidgate` as a user runs it against a started gateway: generate with a progress bar and
 * the video saved (probed), the videos commands, usage, --json for scripts, and exit codes a
 * script can test: 1 a failed video, 2 a wrong command line, 3 a refusal, 4 no gateway.
 */
const run = promisify(execFile);
let gateway: RunningGateway;
let fake: FakeXai;
let client: Client;
const folder = mkdtempSync(path.join(os.tmpdir(), 'vidgate-cli-'));


/** Run once, by `npm test`, for the reason it gives. */
const skip = TEST_STORE === 'postgres' && "the CLI's user commands are an HTTP client, the same over either database; the SQLite run tries them";

before(async () => {
  if (skip) return;
  fake = await startFakeXai({ completeAfterMs: 300 });
  gateway = await startGateway({ CHANNELS: JSON.stringify([xaiChannel('x', fake, { models: ['grok-video-1.5'] })]), ALLOWED_PRIVATE_HOSTS: fake.hostPort });
  client = await newClient(gateway, 'cli user');
});
after(async () => {
  await gateway?.stop();
  if (gateway) removeDataDir(gateway.dataDir);
  await fake?.close();
  rmSync(folder, { recursive: true, force: true });
});

/** Runs the CLI as the user; never throws: the exit code is part of the answer. */
async function vidgate(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['bin/vidgate.js', ...args], { cwd: ROOT, env: { ...process.env, VIDGATE_URL: gateway.url, VIDGATE_API_KEY: client.key, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

test('generate: progress from the event stream, then the video saved as asked', { skip }, async () => {
  const output = path.join(folder, 'kite.mp4');
  const { code, stdout, stderr } = await vidgate(['generate', '--model', 'grok-imagine', '--prompt', 'a red kite over the sea', '--seconds', '2', '--size', '480p', '-o', output]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^video_\w+ queued, at most \$0\.10\n/);
  assert.match(stdout, new RegExp(`saved ${output.replaceAll('/', '\\/')} \\(2 s, 480p\\)`));
  // Not a terminal here: one line per change, rising to the end.
  const percents = [...stderr.matchAll(/ (queued|in_progress|completed) (\d+)%/g)].map((match) => Number(match[2]));
  assert.ok(percents.length >= 2, stderr);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress only rises');
  assert.match(stderr, /completed 100%\n$/);
  const info = probe(output);
  assert.ok(Math.abs(info.duration - 2) <= 0.1);
  assert.deepEqual([info.width, info.height, info.codec], [854, 480, 'h264']);
  assert.ok(!existsSync(`${output}.part`));
});

test('generate with an image file (the model\'s own field name) and --json; a video that fails upstream is exit 1', { skip }, async () => {
  const output = path.join(folder, 'animated.mp4');
  const { code, stdout, stderr } = await vidgate(['generate', '--model', 'grok-video-1.5', '--prompt', 'animate it', '--image', pngFile(320, 240), '--seconds', '2', '-o', output, '--json']);
  assert.equal(code, 0, stderr);
  const answer = JSON.parse(stdout) as { id: string; status: string; saved_to: string };
  assert.deepEqual([answer.status, answer.saved_to], ['completed', output]);
  // The grok-video family reads the image from input_reference.
  const sent = [...fake.tasks.values()].find((task) => task.body.prompt === 'animate it');
  assert.ok(sent && typeof sent.body.image === 'object', JSON.stringify(sent?.body).slice(0, 200));
  assert.ok(probe(output).duration > 1);

  const failed = await vidgate(['generate', '--model', 'grok-video-1.5', '--prompt', 'doomed #fail', '--seconds', '2', '-o', path.join(folder, 'never.mp4')]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /failed: \w+: /);
  assert.ok(!existsSync(path.join(folder, 'never.mp4')));
});

test('videos list, get, download (the thumbnail too), cancel, delete; usage', { skip }, async () => {
  const listed = await vidgate(['videos', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const videos = (JSON.parse(listed.stdout) as { data: { id: string; status: string; prompt: string }[] }).data;
  const kite = videos.find((video) => video.prompt === 'a red kite over the sea')!;
  assert.equal(kite.status, 'completed');
  assert.match((await vidgate(['videos', 'list'])).stdout, new RegExp(`${kite.id}\\s+completed\\s+grok-imagine`));
  assert.equal(JSON.parse((await vidgate(['videos', 'get', kite.id])).stdout).id, kite.id);

  const thumbnail = path.join(folder, 'kite.webp');
  assert.equal((await vidgate(['videos', 'download', kite.id, '--variant', 'thumbnail', '-o', thumbnail])).code, 0);
  assert.equal(readFileSync(thumbnail).subarray(8, 12).toString(), 'WEBP');
  const copy = path.join(folder, 'copy.mp4');
  assert.equal((await vidgate(['videos', 'download', kite.id, '-o', copy])).code, 0);
  assert.ok(Math.abs(probe(copy).duration - 2) <= 0.1);

  const cancel = await vidgate(['videos', 'cancel', kite.id]);
  assert.equal(cancel.code, 3, 'a finished video cannot be cancelled: the gateway refuses');
  assert.match(cancel.stderr, /^vidgate: .*completed/);

  const usage = await vidgate(['usage', '--json']);
  assert.equal(usage.code, 0, usage.stderr);
  const lines = (JSON.parse(usage.stdout) as { data: { group: string; spend: number }[] }).data;
  assert.equal(lines.find((line) => line.group === 'grok-imagine')?.spend, 100_000);

  assert.equal((await vidgate(['videos', 'delete', kite.id])).code, 0);
  const gone = await vidgate(['videos', 'get', kite.id]);
  assert.equal(gone.code, 3);
  assert.match(gone.stderr, /not_found|No video/i);
});

test('generate through a load balancer that answers 503 once to the create, the event stream and the download: each is asked again, and the video saved', { skip }, async (t) => {
  const refused = new Set<string>();
  const proxy = await startRecordingProxy(gateway.url, ({ method, path: route }) => {
    const what = method === 'POST' ? 'create' : route.endsWith('/events') ? 'events' : route.includes('/content') ? 'content' : null;
    if (what === null || refused.has(what)) return false;
    refused.add(what);
    return true;
  });
  t.after(() => proxy.close());
  const output = path.join(folder, 'through-503s.mp4');
  const { code, stderr } = await vidgate(['generate', '--model', 'grok-imagine', '--prompt', 'a kite through a flaky balancer', '--seconds', '1', '--size', '480p', '-o', output], { VIDGATE_URL: proxy.url });
  assert.equal(code, 0, stderr);
  assert.deepEqual([...refused].sort(), ['content', 'create', 'events']);
  const creates = proxy.requests.filter((request) => request.method === 'POST');
  assert.deepEqual(creates.map((request) => request.status), [503, 200]);
  assert.equal(creates[0]!.headers['idempotency-key'], creates[1]!.headers['idempotency-key'], 'the create asked again is the same create');
  assert.ok(Math.abs(probe(output).duration - 1) <= 0.1);
});

test('exit codes: 2 for a wrong command line, 3 for a refusal with the gateway\'s message, 4 when no gateway answers', { skip }, async () => {
  const missing = await vidgate(['generate', '--model', 'grok-imagine']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /generate needs --model M and --prompt P/);
  const noKey = await vidgate(['videos', 'list'], { VIDGATE_API_KEY: '' });
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /VIDGATE_API_KEY/);
  const badFile = await vidgate(['generate', '--model', 'grok-imagine', '--prompt', 'p', '--image', path.join(folder, 'nope.png')]);
  assert.equal(badFile.code, 2);
  assert.match(badFile.stderr, /nope\.png: no such file/);

  const tooLong = await vidgate(['generate', '--model', 'grok-imagine', '--prompt', 'p', '--seconds', '99']);
  assert.equal(tooLong.code, 3);
  assert.match(tooLong.stderr, /^vidgate: .+ \(duration\) \[\w+\]\n$/);
  const wrongKey = await vidgate(['videos', 'list'], { VIDGATE_API_KEY: 'sk-not-a-key' });
  assert.equal(wrongKey.code, 3);
  assert.match(wrongKey.stderr, /API key/i);

  const nobody = await vidgate(['videos', 'list'], { VIDGATE_URL: 'http://127.0.0.1:9' });
  assert.equal(nobody.code, 4);
  assert.match(nobody.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:9/);
});
