import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { schemaOf, tamper, TEST_DATABASE_URL, TEST_STORE } from './support/database.ts';
import { ADMIN_KEY, Client, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { retryUntil } from './support/wait.ts';

/**
 * Two api processes on one database, each with its read cache warm: what one changes, the
 * other answers at once (SQLite: data_version; PostgreSQL: change notices), a deleted task
 * is gone from both, and so is a change made behind both their backs.
 */
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
let first: RunningGateway;
let second: RunningGateway;
let a: Client;
let b: Client;

before(async () => {
  // No worker: tasks stay queued until a test changes them.
  first = await startGateway({ ROLE: 'api' }, dataDir);
  second = await startGateway({ ROLE: 'api' }, dataDir);
  const made = await fetch(`${first.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'shared' }),
  });
  const { key } = (await made.json()) as { key: string };
  a = new Client(first.url, key);
  b = new Client(second.url, key);
});
after(async () => {
  await Promise.all([first.stop(), second.stop()]);
  removeDataDir(dataDir);
});

const body = { model: 'grok-imagine', prompt: 'seen from both sides', duration: 1, size: '480p' };

/**
 * Retries `check` for up to 300 ms. A change reaches the other process as a notice
 * (PostgreSQL) that may arrive a moment after the answer that made it, when the machine is
 * busy; a cache that missed it would keep the old row for a second (its age limit), so
 * 300 ms still tells the two apart.
 */
async function soon(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 300;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Polled on both, so both hold it in memory. */
async function warm(id: string): Promise<void> {
  for (let i = 0; i < 3; i++) for (const client of [a, b]) assert.equal((await client.json('GET', `/v1/videos/${id}`)).body.status, 'queued');
}

test('a cancel on one process is answered by the other at once (within a moment), 20 times running', async () => {
  for (let round = 0; round < 20; round++) {
    const { body: task } = await a.json('POST', '/v1/videos', body);
    await warm(task.id);
    const [canceller, other] = round % 2 === 0 ? [a, b] : [b, a];
    assert.equal((await canceller.json('POST', `/v1/videos/${task.id}/cancel`)).body.status, 'cancelled');
    await soon(async () => assert.equal((await other.json('GET', `/v1/videos/${task.id}`)).body.status, 'cancelled', `round ${round}`));
  }
});

test('a task deleted on one process is gone from the other at once', async () => {
  const { body: task } = await a.json('POST', '/v1/videos', body);
  await warm(task.id);
  await a.json('POST', `/v1/videos/${task.id}/cancel`);
  await soon(async () => assert.equal((await b.json('GET', `/v1/videos/${task.id}`)).body.status, 'cancelled'));
  assert.equal((await a.json('DELETE', `/v1/videos/${task.id}`)).status, 200);
  await soon(async () => assert.equal((await b.json('GET', `/v1/videos/${task.id}`)).status, 404));
});

test('a change made behind both processes (an operator on the database) is seen by both, and a key revoked on one is refused by both', async () => {
  const { body: task } = await a.json('POST', '/v1/videos', body);
  await warm(task.id);
  await tamper(dataDir, [["UPDATE tasks SET progress = 42, status = 'in_progress' WHERE id = $1", [task.id]]]);
  for (const client of [a, b]) {
    await soon(async () => {
      const seen = (await client.json('GET', `/v1/videos/${task.id}`)).body;
      assert.deepEqual([seen.status, seen.progress], ['in_progress', 42]);
    });
  }
  const made = await fetch(`${first.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'to revoke' }),
  });
  const { key, id } = (await made.json()) as { key: string; id: string };
  for (const gateway of [first, second]) assert.equal((await new Client(gateway.url, key).json('GET', '/v1/videos')).status, 200);
  assert.equal((await fetch(`${second.url}/admin/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status, 200);
  for (const gateway of [first, second]) await soon(async () => assert.equal((await new Client(gateway.url, key).json('GET', '/v1/videos')).status, 401));
});

/** The backends LISTENing for this gateway's change notices. */
async function listeners(admin: pg.Client): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1', [`LISTEN "vidgate_${schemaOf(dataDir)}"`]);
  return rows.map((row) => row.pid);
}

test('PostgreSQL: with the notice connections cut, and once they are back, every change is still seen at once', { skip: TEST_STORE !== 'postgres' && 'change notices are PostgreSQL’s' }, async () => {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    const { body: task } = await a.json('POST', '/v1/videos', body);
    await warm(task.id);
    const cut = await listeners(admin);
    assert.equal(cut.length, 2, 'one listener per process');
    for (const pid of cut) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    // The processes hear of the cut (PostgreSQL tells the client), then read from the database.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await tamper(dataDir, [['UPDATE tasks SET progress = 10 WHERE id = $1', [task.id]]]);
    for (const client of [a, b]) await soon(async () => assert.equal((await client.json('GET', `/v1/videos/${task.id}`)).body.progress, 10));
    // Back within a few seconds, on new connections.
    await retryUntil(() => listeners(admin), (now) => now.length === 2 && now.every((pid) => !cut.includes(pid)), 'both to listen again, on new connections', 10_000, 100);
    await warm(task.id).catch(() => undefined);
    await tamper(dataDir, [['UPDATE tasks SET progress = 20 WHERE id = $1', [task.id]]]);
    for (const client of [a, b]) await soon(async () => assert.equal((await client.json('GET', `/v1/videos/${task.id}`)).body.progress, 20));
  } finally {
    await admin.end();
  }
});
