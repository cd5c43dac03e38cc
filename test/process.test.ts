import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ADMIN_KEY, removeDataDir, ROOT, startGateway } from './support/gateway.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import pg from 'pg';
import { databaseEnv, schemaOf, TEST_DATABASE_URL, TEST_STORE } from './support/database.ts';
import { TEST_STORAGE } from './support/s3.ts';
import { gateInFront } from './support/tcp-gate.ts';
import { waitUntil } from './support/wait.ts';

/** The gateway as an operator meets it: started by npm, stopped by a process manager, on a busy port, asked for help. */
const run = promisify(execFile);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('SIGTERM to `npm start` stops the gateway itself, as process managers and containers stop services', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-npm-'));
  const npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, PORT: '0', DATA_DIR: dataDir, ...databaseEnv(dataDir), ADMIN_KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const started = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('npm start did not start the gateway in time')), 30_000);
      createInterface({ input: npm.stdout! }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as { msg?: string; url?: string; pid: number };
        if (entry.msg === 'vidgate started') {
          clearTimeout(timer);
          resolve({ url: entry.url!, pid: entry.pid });
        }
      });
    });
    assert.equal((await fetch(`${started.url}/healthz`)).status, 200);
    const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    npm.kill('SIGTERM');
    await npmExited;
    await waitUntil(() => !alive(started.pid), 'the server process to exit', 10_000, 100);
    assert.equal(alive(started.pid), false, 'the server process is gone');
    await assert.rejects(fetch(`${started.url}/healthz`), 'nothing answers on the port any more');
  } finally {
    npm.kill('SIGKILL');
    removeDataDir(dataDir);
  }
});

test('a port already in use is one clear line and exit code 2, not a stack trace', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as AddressInfo;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-port-'));
  try {
    const failure = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, ...databaseEnv(dataDir), ADMIN_KEY },
    }).then(
      () => assert.fail('the gateway started on a busy port'),
      (error: { code: number; stderr: string; stdout: string }) => error,
    );
    assert.equal(failure.code, 2);
    assert.equal(failure.stderr.trim(), `vidgate: cannot listen on 127.0.0.1:${port}: the port is already in use (set PORT or HOST)`);
    assert.doesNotMatch(failure.stdout, /start failed|EADDRINUSE/, 'no stack in the log either: the line says it all');
    assert.deepEqual(readdirSync(path.join(dataDir, 'scratch')), [], 'the failed start leaves no scratch folder');
  } finally {
    holder.close();
    removeDataDir(dataDir);
  }
});

test('vidgate --help prints the usage and exits 0', async () => {
  const { stdout } = await run(process.execPath, ['bin/vidgate.js', '--help'], { cwd: ROOT });
  assert.match(stdout, /vidgate keys create --name NAME/);
  const unknown = await run(process.execPath, ['bin/vidgate.js', '--nonsense'], { cwd: ROOT }).then(
    () => assert.fail('an unknown option passed'),
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Usage:/);
  const frob = await run(process.execPath, ['bin/vidgate.js', 'frob'], { cwd: ROOT }).then(
    () => assert.fail('an unknown command passed'),
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal(frob.code, 2);
  assert.match(frob.stderr, /^vidgate: unknown command: frob\n/);
});

test('processes started together on a new DATA_DIR all come up: one migrates the database, the others wait for it', async () => {
  for (let round = 0; round < 3; round++) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
    const started = await Promise.allSettled(['all', 'api', 'worker', 'all'].map((role) => startGateway({ ROLE: role }, dataDir)));
    for (const one of started) if (one.status === 'fulfilled') await one.value.stop('SIGKILL');
    removeDataDir(dataDir);
    for (const one of started) assert.equal(one.status, 'fulfilled', one.status === 'rejected' ? String(one.reason) : '');
  }
});

test('a process that starts while another migrates the database says it is waiting, and starts once the migration lock is let go', { skip: TEST_STORE !== 'postgres' && 'PostgreSQL only' }, async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  // Another process's migration, as the gateway sees it: its schema's advisory lock held.
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock(hashtext($1))', [`vidgate migrations ${schemaOf(dataDir)}`]);
  const logs: string[] = [];
  const waiting = () => logs.filter((line) => (JSON.parse(line) as { msg: string }).msg === 'waiting for another process to finish migrating the database').length;
  let started = false;
  const starting = startGateway({}, dataDir, logs).then((gateway) => {
    started = true;
    return gateway;
  });
  t.after(async () => {
    await holder.end().catch(() => undefined);
    await (await starting.catch(() => null))?.stop();
    removeDataDir(dataDir);
  });
  // However long the process takes to start on a loaded machine: until it says it waits.
  await waitUntil(() => waiting() !== 0, 'the start to say it waits for the migration lock', 25_000, 100).catch((error: Error) => assert.fail(`${error.message}\n${logs.join('\n')}`));
  assert.equal(waiting(), 1, logs.join('\n'));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(started, false, 'it started while the lock was held');
  await holder.end();
  await starting;
  assert.equal(waiting(), 1, 'said once, however long it waited');
});

test('a process on PostgreSQL that keeps its videos in its own DATA_DIR says so, and that processes on other machines need S3_BUCKET; with a bucket it says nothing of it', { skip: TEST_STORE !== 'postgres' && 'PostgreSQL only' }, async () => {
  const said = (logs: string[]) => logs.map((line) => JSON.parse(line) as { level: number; msg: string; files?: string }).filter((line) => /S3_BUCKET/.test(line.msg));
  // With a bucket only where the test run has one (npm run test:postgres).
  for (const [storage, expected] of [['local', 1], ...(TEST_STORAGE === 's3' ? [['bucket', 0] as const] : [])] as const) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
    const logs: string[] = [];
    // An empty S3_BUCKET is no bucket (what the test run sets otherwise: a bucket on PostgreSQL + S3).
    const gateway = await startGateway({ ROLE: 'worker', ...(storage === 'local' ? { S3_BUCKET: '' } : {}) }, dataDir, logs);
    try {
      const lines = said(logs);
      assert.equal(lines.length, expected, `${storage}: ${logs.join('\n')}`);
      if (lines[0]) assert.equal(lines[0].files, path.join(dataDir, 'files'));
    } finally {
      await gateway.stop();
      removeDataDir(dataDir);
    }
  }
});

test('a start waiting for the migration lock on a database that goes silent fails after DATABASE_TIMEOUT_SECONDS, rather than waiting for ever', { skip: TEST_STORE !== 'postgres' && 'PostgreSQL only' }, async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  const { gate, url } = await gateInFront(TEST_DATABASE_URL, 5432);
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock(hashtext($1))', [`vidgate migrations ${schemaOf(dataDir)}`]);
  try {
    const starting = startGateway({ DATABASE_URL: url, DATABASE_TIMEOUT_SECONDS: '1' }, dataDir).then(
      async (gateway) => {
        await gateway.stop();
        return 'started';
      },
      (error: unknown) => String(error),
    );
    // Once it is connected and asking for the lock, the server stops answering.
    while (gate.accepted === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    gate.freeze();
    // Not startGateway's own 30 s limit ("did not start in time"): the process gave up and said why.
    assert.match(await starting, /gateway exited with 2\nvidgate: could not start: the database did not answer within 1 s \(DATABASE_TIMEOUT_SECONDS\): Query read timeout/);
  } finally {
    await holder.end();
    await gate.close();
    removeDataDir(dataDir);
  }
});

test('operator commands on a DATA_DIR without a database refuse, rather than read empty books as "ledger ok"', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  for (const args of [['ledger', 'check'], ['keys', 'list'], ['usage']]) {
    const answer = await run(process.execPath, ['bin/vidgate.js', ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: path.join(dataDir, 'typo') } }).then(
      () => assert.fail(`${args.join(' ')} passed`),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(answer.code, 1, args.join(' '));
    assert.match(answer.stderr, /no database at .*typo\/vidgate\.db: is DATA_DIR right\?/);
  }
  assert.deepEqual(readdirSync(dataDir), [], 'nothing was made');
  removeDataDir(dataDir);
});

test('an operator command whose reader stops reading (| head) ends quietly, exit 0', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  try {
    // Enough keys that the list is far larger than a pipe holds.
    const store = await openSqliteStore(path.join(dataDir, 'vidgate.db'));
    for (let i = 0; i < 2000; i++) {
      await store.insertKey({ id: `key_${i}`, name: `key number ${i}`, hash: `hash-${i}`, prefix: 'sk-abcd', now: Date.now(), balance: null, mode: 'live', limit_rpm: null, limit_in_flight: null, limit_daily_spend: null });
    }
    await store.close();
    const child = spawn(process.execPath, ['bin/vidgate.js', 'keys', 'list'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // As `head` does: read the first lines, then close the pipe.
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  } finally {
    removeDataDir(dataDir);
  }
});

test('operator commands on a PostgreSQL schema the server never made refuse, and make nothing in it', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  // A schema name with a typo: nothing of the gateway's is there (and the schema does not exist).
  const schema = `${schemaOf(dataDir)}_typo`;
  const database = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await database.connect();
  try {
    for (const args of [['ledger', 'check'], ['keys', 'list'], ['usage']]) {
      const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema };
      const answer = await run(process.execPath, ['bin/vidgate.js', ...args], { cwd: ROOT, env }).then(
        () => assert.fail(`${args.join(' ')} passed`),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(answer.code, 1, args.join(' '));
      assert.match(answer.stderr, new RegExp(`no vidgate database in schema ${schema} of .*: is DATABASE_SCHEMA right\\?`));
      assert.doesNotMatch(answer.stderr, /postgres@/, 'the URL is not printed whole: it may hold a password');
    }
    const made = await database.query('select 1 from information_schema.schemata where schema_name = $1', [schema]);
    assert.equal(made.rowCount, 0, 'the schema was not made');
  } finally {
    await database.query(`drop schema if exists ${schema} cascade`);
    await database.end();
    removeDataDir(dataDir);
  }
});

test('a time setting longer than a timer holds stops the start, naming it, rather than firing at once (every statement "timed out" after 1 ms)', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  try {
    // Node's timers hold at most 2^31 - 1 ms (about 24.8 days); 1e7 s is more.
    for (const name of ['DATABASE_TIMEOUT_SECONDS', 'S3_TIMEOUT_SECONDS', 'FETCH_TIMEOUT_SECONDS', 'LEASE_SECONDS', 'EXPIRY_SWEEP_SECONDS']) {
      const refused = await startGateway({ [name]: '10000000' }, dataDir).then(
        async (gateway) => {
          await gateway.stop();
          return 'started';
        },
        (error: unknown) => String(error),
      );
      assert.match(refused, new RegExp(`${name}: must be at most 2147483`), name);
    }
  } finally {
    removeDataDir(dataDir);
  }
});
