import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { ADMIN_KEY, Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { gateInFront } from './support/tcp-gate.ts';
import { retryUntil, waitUntil } from './support/wait.ts';

/**
 * Two api processes on one database and one Redis (127.0.0.1:6379, on every machine): a
 * key's requests per minute count across both, as they would behind a load balancer.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
let first: RunningGateway;
let second: RunningGateway;

before(async () => {
  first = await startGateway({ ROLE: 'api', REDIS_URL }, dataDir);
  second = await startGateway({ ROLE: 'api', REDIS_URL }, dataDir);
});
after(async () => {
  await Promise.all([first.stop(), second.stop()]);
  removeDataDir(dataDir);
});

test('a key limited to 3 creates a minute gets 3 in all, whichever process answers', async () => {
  const made = await fetch(`${first.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'limited', limits: { requests_per_minute: 3 } }),
  });
  assert.equal(made.status, 201);
  const { key } = (await made.json()) as { key: string };
  const body = { model: 'grok-imagine', prompt: 'a shared count', duration: 1, size: '480p' };
  const statuses: number[] = [];
  for (const gateway of [first, second, first, second]) statuses.push((await new Client(gateway.url, key).json('POST', '/v1/videos', body)).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
});

test('/readyz asks Redis too, and says when it does not answer', async () => {
  const ready = (await (await fetch(`${first.url}/readyz`)).json()) as { checks: Record<string, string> };
  assert.equal(ready.checks.redis, 'ok');
  // A process pointed at a Redis that is not there: ready says so, and creates still go on (uncounted).
  const lonely = await startGateway({ ROLE: 'api', REDIS_URL: 'redis://127.0.0.1:1' });
  try {
    const answer = await fetch(`${lonely.url}/readyz`);
    assert.equal(answer.status, 503);
    const { checks } = (await answer.json()) as { checks: Record<string, string> };
    assert.deepEqual([checks.database, checks.storage], ['ok', 'ok']);
    // Said in the operator's words, not the client library's ("Stream isn't writeable and enableOfflineQueue options is false").
    assert.match(checks.redis!, /^not connected/);
    const made = await fetch(`${lonely.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'k' }) });
    const { key } = (await made.json()) as { key: string };
    const created = await new Client(lonely.url, key).json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'uncounted', duration: 1, size: '480p' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
  } finally {
    await lonely.stop();
    removeDataDir(lonely.dataDir);
  }
  // The count lives in Redis under the gateway's own prefix.
  const redis = new Redis(REDIS_URL);
  try {
    assert.ok((await redis.keys('vidgate-rate-*')).length > 0);
  } finally {
    redis.disconnect();
  }
});

test('a Redis that stops answering neither holds creates nor /readyz: they go on uncounted, and counted again once it answers', async (t) => {
  const { gate, url } = await gateInFront(REDIS_URL, 6379);
  const silent = await startGateway({ ROLE: 'api', REDIS_URL: url });
  t.after(async () => {
    await silent.stop();
    removeDataDir(silent.dataDir);
    await gate.close();
  });
  const client = await newClient(silent, 'silent');
  const create = () => client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a silent count', duration: 1, size: '480p' });
  assert.equal((await create()).status, 200);
  gate.freeze();
  const frozen = await Promise.all([create(), create()]);
  assert.deepEqual(frozen.map((answer) => answer.status), [200, 200], JSON.stringify(frozen.map((answer) => answer.body)));
  const ready = await fetch(`${silent.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.notEqual(((await ready.json()) as { checks: Record<string, string> }).checks.redis, 'ok');
  // The silent connection is given up and another made, not kept for ever with every unanswered command queued on it.
  const connections = gate.accepted;
  await waitUntil(() => gate.accepted > connections, 'a new connection to Redis', 5000, 100);
  assert.ok(gate.accepted > connections, 'a new connection to Redis');
  gate.thaw();
  const readyChecks = async () => ((await (await fetch(`${silent.url}/readyz`)).json()) as { checks: Record<string, string> }).checks;
  const checks = await retryUntil(readyChecks, (answer) => answer.redis === 'ok', '/readyz to find Redis ok again', 5000, 100);
  assert.equal(checks.redis, 'ok');
  assert.equal((await create()).status, 200);
  // The operator is told, once, and once more when Redis answers again.
  await waitUntil(() => silent.logs.some((line) => line.includes('Redis works again')), 'the log line saying Redis works again', 3000, 100);
  const said = silent.logs.filter((line) => /Redis/.test(line)).map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.equal(said.filter((msg) => /failed/.test(msg)).length, 1, JSON.stringify(said));
  assert.equal(said.filter((msg) => /Redis works again/.test(msg)).length, 1, JSON.stringify(said));
});
