import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { type RawBuilder, sql } from 'kysely';
import { benchOptions } from '../bench/options.ts';
import type { Fault, FakeUpstream, Route } from '../test/fakes/server.ts';
import { startFakeVidu } from '../test/fakes/vidu.ts';
import { startFakeXai } from '../test/fakes/xai.ts';
import { sleep } from '../test/support/wait.ts';

/**
 * npm run soak:billing — the books under every failure we can cause, then `vidgate ledger check`.
 *
 * SOAK_TASKS (2,000) tasks are created over HTTP, SOAK_CREATES_PER_S (15) a second, on two
 * gateway processes sharing one DATA_DIR, against the xAI and Vidu fakes (in this process),
 * by keys of every kind: metered ones that run dry (402s) and are topped up as they go, one
 * with limits (429s), one unmetered, one in test mode (local preview renders). While they run:
 * - the fakes fail at random: 5xx, 429 with Retry-After, reset and hung connections (past the
 *   channels' 2 s read timeout), malformed JSON, a forgotten task, cut, truncated and non-video
 *   results; and by prompt, tasks the upstream fails, moderates or lets expire;
 * - some tasks are cancelled and some deleted, at random moments;
 * - tasks marked `timeout` are aged past their model's time limit in the database (the only
 *   way to let hours pass in a soak), so that the gateway times them out;
 * - every SOAK_KILL_MIN_S–SOAK_KILL_MAX_S (3–9) s one gateway is killed with SIGKILL, its
 *   renders and probe host with it (its process group), and started again on the same port;
 *   a create whose answer was lost is sent again with the same Idempotency-Key.
 * Once no task is left unfinished, the gateways stop and the books are checked: `vidgate
 * ledger check`, and from outside, for each key, what the soak paid in against what the tasks
 * were billed, each accepted task found once, every hold ended. Exit 0 when all holds.
 *
 * --store postgres runs it scaled out: two api and two worker processes, each on a DATA_DIR
 * of its own (scratch), on a PostgreSQL schema of its own (test/support/database.ts), files
 * in an S3 bucket (s3rver, in this process), creates counted in Redis (REDIS_URL,
 * redis://127.0.0.1:6379; the gateway's rate keys name the soak's own new key ids, so the
 * soak flushes nothing). Any one of the four is killed, and started again.
 *   npm run soak:billing -- --store postgres
 */
const { store } = benchOptions('npm run soak:billing -- [--store sqlite|postgres]');
// After benchOptions: database.ts reads the store as it loads.
const { ADMIN_KEY, removeDataDir, ROOT } = await import('../test/support/gateway.ts');
const { databaseEnv, gatewayDatabase } = await import('../test/support/database.ts');
const { s3Env } = await import('../test/support/s3.ts');
const env = process.env;
const TASKS = Number(env.SOAK_TASKS ?? 2_000);
const KILL_MIN_MS = Number(env.SOAK_KILL_MIN_S ?? 3) * 1000;
const KILL_MAX_MS = Number(env.SOAK_KILL_MAX_S ?? 9) * 1000;
const CREATES_PER_SECOND = Number(env.SOAK_CREATES_PER_S ?? 15);
const CREATES_IN_FLIGHT = 12;
const FINISH_TIMEOUT_MS = 6 * 60_000;
const HOUR_MS = 3600_000;

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const run = promisify(execFile);

/** What happened, counted. */
const counts = new Map<string, number>();
function count(what: string, by = 1): void {
  counts.set(what, (counts.get(what) ?? 0) + by);
}

// ─── Upstreams ─────────────────────────────────────────────────────────────────

const completeAfterMs = () => between(500, 4_000);
const xai = await startFakeXai({ record: false, completeAfterMs });
const vidu = await startFakeVidu({ record: false, completeAfterMs });

const FAULTS: Record<Route, Fault[]> = {
  create: [{ status: 500 }, { status: 503 }, { status: 429, retryAfter: 1 }, 'reset', 'hang', 'malformed-json'],
  check: [{ status: 500 }, { status: 502 }, { status: 429, retryAfter: 2 }, 'reset', 'hang', 'malformed-json', 'not-found'],
  download: ['truncated', 'cut-file', 'not-video', 'reset', { status: 503 }],
  cover: ['reset'],
};
/** Requests each fake has had (creates, checks and downloads all look a task up or store one). */
const traffic = new Map<FakeUpstream, number>();
for (const fake of [xai, vidu]) {
  traffic.set(fake, 0);
  const get = fake.tasks.get.bind(fake.tasks);
  const set = fake.tasks.set.bind(fake.tasks);
  fake.tasks.get = (id) => (traffic.set(fake, traffic.get(fake)! + 1), get(id));
  fake.tasks.set = (id, task) => (traffic.set(fake, traffic.get(fake)! + 1), set(id, task));
}
/**
 * Queues a random fault for about one request in FAULT_EVERY, until stopped. Faults are a
 * queue the next requests draw from, so they follow the traffic: queued by the clock, they
 * would pile up while few tasks are left and fail every one of their checks.
 */
const FAULT_EVERY = 15;
function injectFaults(): () => void {
  const seen = new Map<FakeUpstream, number>([[xai, 0], [vidu, 0]]);
  const timer = setInterval(() => {
    for (const fake of [xai, vidu]) {
      for (; traffic.get(fake)! - seen.get(fake)! >= FAULT_EVERY; seen.set(fake, seen.get(fake)! + FAULT_EVERY)) {
        const route = pick(['create', 'check', 'check', 'download'] as const);
        const fault = pick(FAULTS[route]);
        fake.fault(route, fault);
        count(`fault ${route} ${typeof fault === 'object' ? fault.status : fault}`);
      }
    }
  }, 100);
  return () => clearInterval(timer);
}

// ─── Gateways: two processes on one database, or four scaled out ───────────────

/** SQLite: the gateways' one DATA_DIR. PostgreSQL: the folder of each process's own, which names the schema and bucket. */
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-soak-billing-'));
const channels = [
  { name: 'xai', type: 'xai', base_url: xai.url, keys: ['xai-test-key'], read_timeout_ms: 2_000 },
  { name: 'vidu', type: 'vidu', base_url: vidu.url, keys: ['vidu-test-key'], read_timeout_ms: 2_000 },
];

interface Gateway {
  role: 'all' | 'api' | 'worker';
  dataDir: string;
  /** Where it serves the API; null for a worker. */
  url: string | null;
  port: number | null;
  child: ChildProcess | null;
  up: boolean;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What every process shares on PostgreSQL: the schema, the bucket, Redis. */
const scaledOut =
  store === 'postgres' ? { ...databaseEnv(dataDir), ...(await s3Env(dataDir)), REDIS_URL: env.REDIS_URL ?? 'redis://127.0.0.1:6379' } : {};

async function start(gateway: Gateway): Promise<void> {
  // Its own process group, so that a kill takes its ffmpeg renders and probe host with it, as a crash of the machine would.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    detached: true,
    // A worker's HTTP (health, metrics) is not asked here: it says it started on stdout, the one line read at info.
    stdio: ['ignore', gateway.url ? 'ignore' : 'pipe', 'inherit'],
    env: {
      ...env,
      ...scaledOut,
      // A worker's health and metrics: on any free port.
      PORT: String(gateway.port ?? 0),
      HOST: '127.0.0.1',
      ROLE: gateway.role,
      DATA_DIR: gateway.dataDir,
      ADMIN_KEY,
      CHANNELS: JSON.stringify(channels),
      ALLOWED_PRIVATE_HOSTS: `${xai.hostPort},${vidu.hostPort}`,
      LEASE_SECONDS: '3',
      RATE_LIMIT_PER_MINUTE: '100000',
      LOG_LEVEL: gateway.url ? 'fatal' : 'info',
    },
  });
  gateway.child = child;
  if (!gateway.url) {
    await new Promise<void>((resolve, reject) => {
      const failed = (code?: number | null, signal?: string | null) =>
        reject(new Error(`the ${gateway.role} on ${gateway.dataDir} did not come up${code === undefined ? ' in 30 s' : `: it exited ${signal ?? code}`}`));
      const timer = setTimeout(() => failed(), 30_000);
      child.once('exit', failed);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"msg":"vidgate started"')) resolve(clearTimeout(timer));
      });
    });
  }
  for (let attempt = 0; gateway.url && (await fetch(`${gateway.url}/healthz`).catch(() => null))?.status !== 200; attempt++) {
    if (attempt > 300 || child.exitCode !== null) throw new Error(`the gateway on ${gateway.port} did not come up`);
    await sleep(100);
  }
  gateway.up = true;
}

function kill(gateway: Gateway): Promise<void> {
  const child = gateway.child!;
  gateway.up = false;
  const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
  return exited;
}

const gateways: Gateway[] = [];
for (const role of store === 'postgres' ? (['api', 'api', 'worker', 'worker'] as const) : (['all', 'all'] as const)) {
  const port = role === 'worker' ? null : await freePort();
  const own = store === 'postgres' ? mkdtempSync(path.join(dataDir, `${role}-`)) : dataDir;
  gateways.push({ role, dataDir: own, url: port ? `http://127.0.0.1:${port}` : null, port, child: null, up: false });
}
/** The processes that answer HTTP. */
const servers = gateways.filter((gateway) => gateway.url !== null);
// Registered before the first start: a start that fails must not leave a detached gateway running.
// Interrupted (benchOptions turns Ctrl-C and SIGTERM into an exit), the soak still ends here: no gateway, folder or schema left.
process.once('exit', () => {
  for (const gateway of gateways) if (gateway.child) try { process.kill(-gateway.child.pid!, 'SIGKILL'); } catch { /* gone */ }
  removeDataDir(dataDir);
});
await Promise.all(gateways.map(start));

function killAtRandom(): () => Promise<void> {
  let stopped = false;
  let restart = Promise.resolve();
  void (async () => {
    while (!stopped) {
      await sleep(between(KILL_MIN_MS, KILL_MAX_MS));
      if (stopped) break;
      const gateway = pick(gateways);
      await kill(gateway);
      if (store === 'postgres') count(`kill -9 ${gateway.role}`);
      count('kill -9');
      await (restart = start(gateway));
    }
  })();
  // A gateway being started again comes up before the soak stops them all: killed mid-start, it would read as one that did not.
  return () => ((stopped = true), restart);
}

/**
 * One HTTP call to whichever gateway is up, sent again (to either) when the connection
 * fails: a gateway may be killed with the request in flight. Creates carry an
 * Idempotency-Key, so sending one again never makes a second task.
 */
// The soak reads answers field by field (id, error.code); `any` keeps that short.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, route: string, auth: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
  for (let attempt = 0; ; attempt++) {
    const up = servers.filter((gateway) => gateway.up);
    const gateway = up.length > 0 ? pick(up) : pick(servers);
    try {
      const response = await fetch(`${gateway.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : {} };
    } catch (error) {
      if (attempt > 100) throw error;
      count('request sent again after a lost connection');
      await sleep(200);
    }
  }
}

// ─── Keys ──────────────────────────────────────────────────────────────────────

interface SoakKey {
  id: string;
  key: string;
  kind: 'metered' | 'limited' | 'unmetered' | 'test';
  /** Micro-dollars the soak has paid in (opening balance and top-ups that were answered 200). */
  paidIn: number;
  /** Task ids the gateway accepted for this key. */
  accepted: Set<string>;
}

async function createKey(kind: SoakKey['kind'], body: Record<string, unknown>): Promise<SoakKey> {
  const { status, body: created } = await call('POST', '/admin/keys', ADMIN_KEY, { name: `soak ${kind}`, ...body });
  if (status !== 201) throw new Error(`creating a key: ${status} ${JSON.stringify(created)}`);
  return { id: created.id, key: created.key, kind, paidIn: (body.balance as number | undefined) ?? 0, accepted: new Set() };
}

const keys: SoakKey[] = [];
// Small balances, so that keys run dry (402) between top-ups.
for (let index = 0; index < 6; index++) keys.push(await createKey('metered', { balance: between(1, 8) * 1_000_000 }));
keys.push(await createKey('limited', { balance: 200_000_000, limits: { tasks_in_flight: 4, spend_per_day: 8_000_000 } }));
keys.push(await createKey('unmetered', {}));
keys.push(await createKey('test', { mode: 'test' }));
const metered = keys.filter((key) => key.kind === 'metered' || key.kind === 'limited');

/** Tops up a random metered key by $0.50–$2 every 2 s, until stopped. */
function topUpAtRandom(): () => void {
  const timer = setInterval(async () => {
    const key = pick(metered);
    const amount = between(1, 4) * 500_000;
    // Not sent again on a lost connection: a top-up has no Idempotency-Key, so the soak could not know whether it landed.
    const gateway = servers.find((one) => one.up);
    if (!gateway) return;
    const answer = await fetch(`${gateway.url}/admin/keys/${key.id}/topup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount }),
    }).catch(() => null);
    if (answer?.status === 200) {
      key.paidIn += amount;
      count('top-up');
    } else if (answer) count(`top-up answered ${answer.status}`);
    else count('top-up lost with its gateway (checked below from the ledger)');
  }, 2_000);
  return () => clearInterval(timer);
}

// ─── Tasks ─────────────────────────────────────────────────────────────────────

/** A random request, with an outcome marker for the fakes now and then. */
function request(key: SoakKey): Record<string, unknown> {
  const roll = Math.random();
  const marker = roll < 0.1 ? ' #fail' : roll < 0.14 ? ' #moderated' : roll < 0.18 ? ' #expired' : roll < 0.21 ? ' #slow timeout' : '';
  const prompt = `soak ${randomUUID().slice(0, 8)}${marker}`;
  if (key.kind === 'test') return { model: 'grok-imagine', prompt, duration: 1, size: '480p' };
  switch (between(0, 3)) {
    case 0:
      return { model: 'grok-imagine', prompt, duration: between(1, 6), size: pick(['480p', '720p']) };
    case 1:
      return { model: 'grok-video-1.5', prompt, duration: between(1, 6), size: pick(['480P', '720P']) };
    case 2:
      return { model: pick(['viduq3p-720p', 'viduq3t-540p', 'viduq3p-1080p']), prompt, duration: between(1, 8) };
    default:
      return { model: 'viduq3p-720p-offpeak', prompt, duration: between(1, 4) };
  }
}

const followUps: Promise<void>[] = [];

/** Creates one task and, now and then, cancels or deletes it a moment later. */
async function createOne(): Promise<void> {
  const roll = Math.random();
  const key = roll < 0.03 ? keys.find((one) => one.kind === 'test')! : roll < 0.1 ? keys.find((one) => one.kind === 'unmetered')! : roll < 0.2 ? keys.find((one) => one.kind === 'limited')! : pick(keys.filter((one) => one.kind === 'metered'));
  const { status, body } = await call('POST', '/v1/videos', key.key, request(key), { 'idempotency-key': randomUUID() });
  if (status !== 200) {
    count(`create answered ${status} ${body.error?.code ?? ''}`.trim());
    return;
  }
  if (key.accepted.has(body.id)) throw new Error(`task ${body.id} answered twice to different creates`);
  key.accepted.add(body.id);
  count('created');
  const next = Math.random();
  if (next < 0.12) followUps.push(sleep(between(0, 4_000)).then(async () => count(`cancel answered ${(await call('POST', `/v1/videos/${body.id}/cancel`, key.key)).status}`)));
  else if (next < 0.17) followUps.push(sleep(between(0, 6_000)).then(async () => count(`delete answered ${(await call('DELETE', `/v1/videos/${body.id}`, key.key)).status}`)));
}

// ─── The database, behind the gateways' backs ──────────────────────────────────

// Opened once the gateways have made it (their migrations).
const db = gatewayDatabase(dataDir);
const rows = async <T>(query: RawBuilder<T>): Promise<T[]> => (await query.execute(db)).rows;
const one = async <T>(query: RawBuilder<T>): Promise<T> => (await rows(query))[0]!;

/** Lets the hours pass for tasks marked `timeout` once they run upstream: their start moves back 50 h. */
function ageTimeouts(): () => Promise<void> {
  let stopped = false;
  const aging = (async () => {
    while (!stopped) {
      // 50 h: past every model's limit, the off-peak one's 49 h included; a task already aged is left as it is.
      // A failure (a deadlock with a gateway's transaction) is counted, not fatal: the next second tries again.
      const aged = await sql`UPDATE tasks SET started_at = started_at - ${50 * HOUR_MS} WHERE status = 'in_progress' AND provider != 'local' AND operation IS NOT NULL AND prompt LIKE '%timeout%' AND started_at > ${Date.now() - 10 * HOUR_MS}`
        .execute(db)
        .then(({ numAffectedRows }) => Number(numAffectedRows ?? 0), (error: Error) => (count(`aging failed: ${error.message}`), 0));
      count('aged past its time limit', aged);
      await sleep(1_000);
    }
  })();
  return () => {
    stopped = true;
    return aging;
  };
}

// ─── The run ───────────────────────────────────────────────────────────────────

const began = Date.now();
const stopFaults = injectFaults();
const stopKills = killAtRandom();
const stopTopUps = topUpAtRandom();
const stopAging = ageTimeouts();
let next = 0;
await Promise.all(
  Array.from({ length: CREATES_IN_FLIGHT }, async () => {
    while (next < TASKS) {
      // Paced, so that the kills land all through the run rather than after the last create.
      const due = began + (next * 1000) / CREATES_PER_SECOND;
      next++;
      await sleep(due - Date.now());
      await createOne();
    }
  }),
);
await Promise.all(followUps);
const createdIn = (Date.now() - began) / 1000;
console.log(`${TASKS} creates answered in ${createdIn.toFixed(0)} s; waiting for every task to end`);

const unfinished = async () => (await one(sql<{ n: number }>`SELECT count(*) AS n FROM tasks WHERE status IN ('queued', 'in_progress')`)).n;
const deadline = Date.now() + FINISH_TIMEOUT_MS;
while ((await unfinished()) > 0 && Date.now() < deadline) await sleep(1_000);
await stopKills();
stopTopUps();
stopFaults();
await stopAging();
const left = await unfinished();
// Stop them all for good (a kill, like every other stop here), then read the books with nothing running.
await Promise.all(gateways.map(kill));
await sleep(300);

// ─── The books ─────────────────────────────────────────────────────────────────

const problems: string[] = [];
if (left > 0) problems.push(`${left} task(s) still unfinished ${FINISH_TIMEOUT_MS / 60_000} min after the last create`);

const check = await run(process.execPath, ['bin/vidgate.js', 'ledger', 'check'], { cwd: ROOT, env: { ...env, DATA_DIR: dataDir, ...databaseEnv(dataDir) } }).then(
  ({ stdout }) => ({ code: 0, stdout }),
  (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
);
if (check.code !== 0) problems.push(`vidgate ledger check exited ${check.code}:\n${check.stdout}`);

for (const key of keys) {
  const row = await one(sql<{ balance: number | null }>`SELECT balance FROM api_keys WHERE id = ${key.id}`);
  const billed = await one(sql<{ billed: number }>`SELECT coalesce(sum(cost), 0) AS billed FROM charges WHERE key_id = ${key.id}`);
  const toppedUp = await one(sql<{ total: number }>`SELECT coalesce(sum(amount), 0) AS total FROM ledger WHERE key_id = ${key.id} AND kind = 'topup'`);
  const live = (await rows(sql<{ id: string }>`SELECT id FROM tasks WHERE key_id = ${key.id} UNION SELECT task_id FROM charges WHERE key_id = ${key.id}`)).map((task) => task.id);
  const found = new Set(live);
  const missing = [...key.accepted].filter((id) => !found.has(id));
  const unknown = live.filter((id) => !key.accepted.has(id));
  if (missing.length > 0) problems.push(`key ${key.id}: ${missing.length} accepted task(s) are gone without a trace: ${missing.slice(0, 3).join(', ')}`);
  if (unknown.length > 0) problems.push(`key ${key.id}: ${unknown.length} task(s) no create was answered with: ${unknown.slice(0, 3).join(', ')}`);
  if (key.kind === 'metered' || key.kind === 'limited') {
    // A top-up lost with its gateway may or may not have landed; the ledger says which, and it must be one the soak sent.
    if (toppedUp.total < key.paidIn) problems.push(`key ${key.id}: the ledger has ${toppedUp.total} paid in, the soak paid ${key.paidIn}`);
    if (row.balance !== toppedUp.total - billed.billed) problems.push(`key ${key.id}: balance ${row.balance} is not paid in ${toppedUp.total} less billed ${billed.billed}`);
    if ((row.balance ?? 0) < 0) problems.push(`key ${key.id}: balance ${row.balance} below zero`);
  } else if (row.balance !== null) problems.push(`key ${key.id} (${key.kind}): has a balance`);
  if (key.kind === 'test' && billed.billed !== 0) problems.push(`test key billed ${billed.billed}`);
}
const { n: overBilled } = await one(sql<{ n: number }>`SELECT count(*) AS n FROM tasks WHERE cost > price OR (status != 'completed' AND cost != 0)`);
if (overBilled > 0) problems.push(`${overBilled} task(s) billed above their quote, or billed without a video`);

const ledgerKinds = await rows(sql<{ kind: string; n: number; total: number }>`SELECT kind, count(*) AS n, sum(amount) AS total FROM ledger GROUP BY kind ORDER BY kind`);
const ended = await rows(sql<{ status: string; n: number }>`SELECT status, count(*) AS n FROM charges GROUP BY status ORDER BY n DESC`);
const statuses = await rows(sql<{ status: string; n: number }>`SELECT status, count(*) AS n FROM tasks GROUP BY status ORDER BY n DESC`);
const errors = await rows(sql<{ error_code: string; n: number }>`SELECT error_code, count(*) AS n FROM tasks WHERE status = 'failed' GROUP BY error_code ORDER BY n DESC`);
await db.destroy();

const setup = store === 'postgres' ? ', PostgreSQL + S3 + Redis, 2 api + 2 worker processes' : '';
console.log(`\nsoak:billing — ${TASKS} creates${setup}, ${((Date.now() - began) / 1000).toFixed(0)} s in all`);
console.log('\nwhat happened:');
for (const [what, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${what}`);
console.log('\ntasks by status now (deleted ones are gone):');
for (const row of statuses) console.log(`  ${String(row.n).padStart(6)}  ${row.status}`);
console.log('failed, by code:');
for (const row of errors) console.log(`  ${String(row.n).padStart(6)}  ${row.error_code}`);
console.log('usage lines by outcome:');
for (const row of ended) console.log(`  ${String(row.n).padStart(6)}  ${row.status}`);
console.log('ledger entries:');
for (const row of ledgerKinds) console.log(`  ${String(row.n).padStart(6)}  ${row.kind.padEnd(8)} ${row.total} micro-dollars`);
console.log(`\nvidgate ledger check: exit ${check.code}, ${check.stdout.trim().split('\n').at(-1)}`);
if (problems.length === 0) console.log('books: every check holds');
else for (const problem of problems) console.log(`PROBLEM: ${problem}`);
await Promise.all([xai.close(), vidu.close()]);
process.exit(problems.length === 0 ? 0 : 1);
