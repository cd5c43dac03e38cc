import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, newClient, removeDataDir, ROOT, type RunningGateway, startGateway } from './support/gateway.ts';
import { storedKeys } from './support/s3.ts';
import { pngDataUri } from './support/media.ts';
import { retryUntil } from './support/wait.ts';

/** What an operator meets: configuration errors, the generated admin key, rate limits, split roles. */
const running: RunningGateway[] = [];
async function start(env: Record<string, string>, dataDir?: string) {
  const gateway = await startGateway(env, dataDir);
  running.push(gateway);
  return gateway;
}
after(async () => {
  for (const gateway of running) await gateway.stop();
  for (const dir of new Set(running.map((g) => g.dataDir))) removeDataDir(dir);
});

/** A DATA_DIR for a start that is expected to fail, removed when the file's tests end. */
const scratchDirs: string[] = [];
after(() => scratchDirs.forEach((dir) => removeDataDir(dir)));
function scratchDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-cfg-'));
  scratchDirs.push(dir);
  return dir;
}

describe('configuration', () => {
  test('bad values stop the start with a message naming each one', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', ROLE: 'boss', ALLOWED_PRIVATE_HOSTS: 'no-port-here', DATA_DIR: scratchDataDir() },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /PORT/);
    assert.match(result.stderr, /ROLE/);
  });

  test('a bad ALLOWED_PRIVATE_HOSTS entry is named', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ALLOWED_PRIVATE_HOSTS: 'no-port-here', DATA_DIR: scratchDataDir() },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /ALLOWED_PRIVATE_HOSTS/);
  });

  test('without ADMIN_KEY one is generated into DATA_DIR/admin.key (mode 600) and never logged', async () => {
    const gateway = await start({ ADMIN_KEY: '', ROLE: 'api' });
    const file = path.join(gateway.dataDir, 'admin.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const key = readFileSync(file, 'utf8').trim();
    assert.ok(key.length >= 32);
    assert.ok(gateway.logs.some((line) => line.includes('admin.key')), 'the log says where the key is');
    assert.ok(!gateway.logs.some((line) => line.includes(key)), 'the log never holds the key');
    const response = await fetch(`${gateway.url}/admin/keys`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(response.status, 200);
  });
});

describe('rate limits', () => {
  test('each key has its own budget of creates; past it, a 429 in the envelope with retry-after', async () => {
    const gateway = await start({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '3' });
    const [alice, bob] = [await newClient(gateway, 'alice'), await newClient(gateway, 'bob')];
    const body = { model: 'grok-imagine', prompt: 'p', duration: 1 };
    for (let i = 0; i < 3; i++) assert.equal((await alice.json('POST', '/v1/videos', body)).status, 200);
    const limited = await alice.json('POST', '/v1/videos', body);
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.type, 'rate_limit_error');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await bob.json('POST', '/v1/videos', body)).status, 200);
    // Reading is not limited.
    assert.equal((await alice.json('GET', '/v1/videos')).status, 200);
  });

  test('the budget is the key’s across every create route, not one budget per route', async () => {
    const gateway = await start({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '3' });
    const carol = await newClient(gateway, 'carol');
    const body = { model: 'grok-imagine', prompt: 'p', duration: 1 };
    const spent = [
      await carol.json('POST', '/v1/videos', body),
      await carol.json('POST', '/v1/video/generations', body),
      await carol.json('POST', '/xai/v1/videos/generations', body),
    ];
    assert.deepEqual(
      spent.map((answer) => [answer.status, answer.headers.get('x-ratelimit-remaining')]),
      [
        [200, '2'],
        [200, '1'],
        [200, '0'],
      ],
    );
    for (const url of ['/v1/videos', '/v1/videos/generations', '/xai/v1/videos/generations']) {
      const limited = await carol.json('POST', url, body);
      assert.equal(limited.status, 429, url);
      assert.equal(limited.body.error.code, 'rate_limit_exceeded', url);
    }
  });
});

describe('expiry', () => {
  test('past expires_at the content is refused and its files, inputs too, are removed', async () => {
    // 0.002 h = 7.2 s: long enough to download once on a busy machine, short enough to wait out.
    const gateway = await start({ VIDEO_TTL_HOURS: '0.002', EXPIRY_SWEEP_SECONDS: '1' });
    const client = await newClient(gateway);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'short-lived', image: pngDataUri(64, 48), duration: 1, size: '480p' });
    const task = await client.waitFor(body.id);
    assert.ok([7, 8].includes(task.expires_at - task.completed_at), 'expires 7.2 s after completion (whole seconds)');
    assert.equal((await client.request('GET', `/v1/videos/${body.id}/content`)).status, 200);
    const kept = async () => [...(await storedKeys(gateway.dataDir, `videos/${body.id}`)), ...(await storedKeys(gateway.dataDir, `inputs/${body.id}`))];
    assert.deepEqual(await kept(), [...['spritesheet.jpg', 'thumbnail.webp', 'video.mp4'].map((file) => `videos/${body.id}/${file}`), `inputs/${body.id}/0.png`]);
    await retryUntil(kept, (keys) => keys.length === 0, 'the sweep to remove the files', 30_000, 200);
    const { status, body: answer } = await client.json('GET', `/v1/videos/${body.id}/content`);
    assert.equal(status, 404);
    assert.equal(answer.error.code, 'video_expired');
    assert.equal((await fetch(task.metadata.url)).status, 403);
    assert.equal((await client.json('GET', `/v1/videos/${body.id}`)).body.status, 'completed');
    // Its inputs went with it: there is nothing left to remix.
    const remix = await client.json('POST', `/v1/videos/${body.id}/remix`, { prompt: 'again' });
    assert.equal(remix.status, 404);
    assert.equal(remix.body.error.code, 'video_expired');
  });
});

describe('roles', () => {
  test('ROLE=api serves and runs nothing; a ROLE=worker on the same DATA_DIR renders its tasks', async () => {
    const api = await start({ ROLE: 'api' });
    const client = await newClient(api);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'split roles', duration: 1, size: '480p' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await client.json('GET', `/v1/videos/${body.id}`)).body.status, 'queued');
    const worker = await start({ ROLE: 'worker', METRICS_TOKEN: 'metrics-token-0123456789' }, api.dataDir);
    const task = await new Client(api.url, client.key).waitFor(body.id);
    assert.equal(task.status, 'completed');
    const content = await client.request('GET', `/v1/videos/${body.id}/content`);
    assert.equal(content.status, 200);

    // A worker serves what a load balancer, a container runtime and a scraper ask of it, on its own PORT.
    assert.equal((await fetch(`${worker.url}/healthz`)).status, 200);
    const ready = await fetch(`${worker.url}/readyz`);
    assert.deepEqual([ready.status, await ready.json()], [200, { status: 'ready', checks: { database: 'ok', storage: 'ok' } }]);
    assert.equal((await fetch(`${worker.url}/metrics`)).status, 401);
    const scraped = await fetch(`${worker.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    assert.equal(scraped.status, 200);
    // The render's series is the worker's own: the api process never rendered.
    assert.match(await scraped.text(), /^vidgate_render_duration_seconds_count\{model="grok-imagine"\} 1$/m);
    const asked = await fetch(`${worker.url}/v1/videos/${body.id}`, { headers: { authorization: `Bearer ${client.key}` } });
    const refused = (await asked.json()) as { error: { code: string; message: string } };
    assert.equal(asked.status, 404);
    assert.equal(refused.error.code, 'route_not_found');
    assert.match(refused.error.message, /ROLE=worker.*api process/);
    assert.equal(asked.headers.get('x-content-type-options'), 'nosniff', 'the headers every answer carries');
  });
});
