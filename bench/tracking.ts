import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { nextCheckDelay } from '../src/tasks/schedule.ts';
import type { FakeTask, FakeUpstream } from '../test/fakes/server.ts';
import { startFakeXai } from '../test/fakes/xai.ts';
import type { Client } from '../test/support/gateway.ts';
import { benchOptions } from './options.ts';

/**
 * npm run bench:tracking — how well vidgate follows many upstream tasks at once.
 *
 * BENCH_TASKS (10,000) tasks are created through the HTTP API; the xAI fake (in this
 * process) finishes each BENCH_MIN_S–BENCH_MAX_S (20–60) s after it was submitted. The
 * gateway runs as a child process on its own data dir, its channel given by CHANNELS JSON
 * (max_concurrent BENCH_MAX_CONCURRENT, 64: the XAI_ shortcut's 32 would cap checks below
 * the runner's 64 steps). At the end the gateway's database is read for each task's
 * completed_at, set against the fake's doneAt for the task's request_id.
 *
 * --store postgres runs it on a PostgreSQL schema of its own (test/support/database.ts),
 * dropped at the end; --workers N (N ≥ 1) as an api process (ROLE=api, which the creates
 * go to) and N worker processes (ROLE=worker), on one data dir and database, instead of
 * one process (ROLE=all). Their CPU is summed; peak RSS is the largest process's.
 *   npm run bench:tracking -- --store postgres --workers 2
 *
 * Targets: p99 lag ≤ 10 s, and ≤ 1 s beyond the longest check interval of a task that age (the scale-out
 * issue's "interval + 1 s", task by task), no task checked twice within 2 s, none unfinished BENCH_GRACE_S
 * (30) s after the last upstream completion, gateway peak RSS < 300 MB.
 *
 * Other knobs: BENCH_UPSTREAM_CONCURRENCY (the gateway's UPSTREAM_CONCURRENCY, default its
 * own 64), COPY_CONCURRENCY (passed to the gateway as is), BENCH_CREATES_IN_FLIGHT (32), BENCH_CPU_PROF=1 (a --cpu-prof of each
 * gateway process into bench/results/prof-<time>/; read it with tsx bench/profile-top.ts FILE).
 */
const { store, workers: WORKERS } = benchOptions('npm run bench:tracking -- [--store sqlite|postgres] [--workers N]', true);
// After benchOptions: database.ts reads the store as it loads.
const { ADMIN_KEY, newClient, removeDataDir, ROOT } = await import('../test/support/gateway.ts');
const { databaseEnv, gatewayDatabase } = await import('../test/support/database.ts');
const ROLES = WORKERS === 0 ? ['all'] : ['api', ...Array<string>(WORKERS).fill('worker')];
const env = process.env;
const TASKS = Number(env.BENCH_TASKS ?? 10_000);
const MIN_S = Number(env.BENCH_MIN_S ?? 20);
const MAX_S = Number(env.BENCH_MAX_S ?? 60);
const GRACE_MS = Number(env.BENCH_GRACE_S ?? 30) * 1000;
const CREATES_IN_FLIGHT = Number(env.BENCH_CREATES_IN_FLIGHT ?? 32);
const MAX_CONCURRENT = Number(env.BENCH_MAX_CONCURRENT ?? 64);
const UPSTREAM_CONCURRENCY = env.BENCH_UPSTREAM_CONCURRENCY;
const STAMP = new Date().toISOString().replaceAll(':', '-');
const RESULTS = path.join(ROOT, 'bench/results');
const PROFILE_DIR = env.BENCH_CPU_PROF ? path.join(RESULTS, `prof-${STAMP}`) : null;
const SETUP = `store ${store}, processes ${ROLES.join(' + ')}, channel max_concurrent ${MAX_CONCURRENT} (CHANNELS JSON), UPSTREAM_CONCURRENCY ${UPSTREAM_CONCURRENCY ?? '64 (default)'}, COPY_CONCURRENCY ${env.COPY_CONCURRENCY ?? '32 (default)'}`;

// ─── The fake upstream ─────────────────────────────────────────────────────────

/**
 * The fake, counting its task lookups (one per status check, one per result download) and
 * keeping each task's last one: for a completed task, when its result was downloaded.
 */
interface CountingFake {
  fake: FakeUpstream;
  lookups(): number;
  lastLookupAt: Map<string, number>;
}

async function startCountingFake(): Promise<CountingFake> {
  const fake = await startFakeXai({ record: false, completeAfterMs: () => (MIN_S + Math.random() * (MAX_S - MIN_S)) * 1000 });
  let lookups = 0;
  const lastLookupAt = new Map<string, number>();
  const get = fake.tasks.get.bind(fake.tasks);
  fake.tasks.get = (id) => {
    lookups++;
    lastLookupAt.set(id, Date.now());
    return get(id);
  };
  return { fake, lookups: () => lookups, lastLookupAt };
}

// ─── The gateway: child processes ──────────────────────────────────────────────

interface Gateway {
  /** The process that serves HTTP: ROLE=all, or the api process. */
  url: string;
  /** Every process of it, the one serving HTTP first. */
  pids: number[];
  dataDir: string;
  /** Warning and error lines its processes logged. */
  logLines(): number;
  stop(): Promise<void>;
}

async function startGatewayChildren(fake: FakeUpstream): Promise<Gateway> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-bench-tracking-'));
  const channel = { name: 'xai', type: 'xai', base_url: fake.url, keys: ['xai-test-key'], max_concurrent: MAX_CONCURRENT };
  const gatewayEnv = {
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ADMIN_KEY,
    CHANNELS: JSON.stringify([channel]),
    ALLOWED_PRIVATE_HOSTS: fake.hostPort,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: String(TASKS * 10),
    // What is measured is following tasks: stills (two ffmpeg runs, about 0.1 s of CPU a video)
    // are left to first request here, or BENCH_STILLS=1 makes them as each video is kept.
    STILLS_ON_KEEP: env.BENCH_STILLS ?? '0',
    ...(UPSTREAM_CONCURRENCY ? { UPSTREAM_CONCURRENCY } : {}),
    ...databaseEnv(dataDir),
  };
  // On the command line, not NODE_OPTIONS: Node 20 refuses --cpu-prof there, and the probe host would inherit it.
  const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  let lines = 0;
  let stopping = false;
  const children = ROLES.map((role) => {
    // Workers serve their health and metrics on a port of their own: any free one.
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...gatewayEnv, ROLE: role, ...(role === 'worker' ? { PORT: '0' } : {}) }, stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (++lines <= 5) console.log(`gateway ${role}: ${line.slice(0, 300)}`);
    });
    // One process of several gone leaves the others running: say so, or the figures alone would.
    child.once('exit', (code, signal) => {
      if (!stopping) console.log(`gateway ${role} (pid ${child.pid}) exited early: ${signal ?? code}`);
    });
    return child;
  });
  const exited = Promise.all(children.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve()))));
  // Should this process die first: no orphan gateway, no data dir or schema left behind.
  const cleanUp = () => {
    for (const child of children) child.kill('SIGKILL');
    removeDataDir(dataDir);
  };
  process.once('exit', cleanUp);
  const url = `http://127.0.0.1:${port}`;
  // Only the api process is waited for; a worker still starting only delays submits, which
  // the lag (upstream done → completed_at) does not count.
  await waitForHealth(url, children);
  return {
    url,
    pids: children.map((child) => child.pid!),
    dataDir,
    logLines: () => lines,
    async stop() {
      stopping = true;
      for (const child of children) child.kill('SIGTERM');
      await exited;
      removeDataDir(dataDir);
      process.off('exit', cleanUp);
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, children: ChildProcess[]): Promise<void> {
  for (let attempt = 0; (await fetch(`${url}/healthz`).catch(() => null))?.status !== 200; attempt++) {
    if (attempt > 300 || children.some((child) => child.exitCode !== null)) throw new Error('the gateway did not come up');
    await sleep(100);
  }
}

// ─── Load: creates through the API ─────────────────────────────────────────────

/** Creates TASKS tasks, CREATES_IN_FLIGHT at a time; answers the seconds it took. */
async function createAll(client: Client): Promise<number> {
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < TASKS) {
      next++; // before the await: the other workers see it taken
      const { status, body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a fox', duration: 2 });
      if (status !== 200) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
    }
  };
  await Promise.all(Array.from({ length: CREATES_IN_FLIGHT }, worker));
  return (Date.now() - started) / 1000;
}

/**
 * Until no task is queued or in progress, or it is GRACE_MS past the last upstream
 * completion (a task not yet submitted upstream finishes there at most MAX_S after it is).
 */
async function waitForAll(gateway: Gateway, fake: FakeUpstream, createdBy: number): Promise<void> {
  const db = gatewayDatabase(gateway.dataDir);
  const open = async () => Number((await db.selectFrom('tasks').select((eb) => eb.fn.countAll().as('open')).where('status', 'in', UNFINISHED).executeTakeFirstOrThrow()).open);
  const lastDoneAt = () => Math.max(createdBy + MAX_S * 1000, ...[...fake.tasks.values()].map((task) => task.doneAt));
  try {
    while ((await open()) > 0 && Date.now() < lastDoneAt() + GRACE_MS) await sleep(1000);
  } finally {
    await db.destroy();
  }
}

// ─── Sampling while it runs: once a second ─────────────────────────────────────

/**
 * Upstream requests so far; CPU seconds so far of the gateway's main thread(s), of the whole
 * gateway process(es), with their children (the probe host, ffprobe), and of this process (the
 * fake); how long GET /healthz took (the gateway's event-loop delay, roughly); and from the
 * database, the tasks due for a check that no runner holds yet (the backlog), how overdue
 * the oldest is, and how many steps are in flight (leased).
 */
interface Sample {
  atMs: number;
  requests: number;
  mainCpu: number;
  gatewayCpu: number;
  treeCpu: number;
  benchCpu: number;
  healthMs: number;
  backlog: number;
  overdueMs: number;
  inFlight: number;
  /** The largest gateway process's resident memory now. */
  rssMb: number;
}

function startSampling(gateway: Gateway, counting: CountingFake, started: number): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  const db = gatewayDatabase(gateway.dataDir);
  const unfinished = db.selectFrom('tasks').where('status', 'in', UNFINISHED);
  // Counts, min() and bigints come back from PostgreSQL as strings: Number() for either store.
  const due = (now: number) =>
    unfinished
      .select((eb) => [eb.fn.countAll().as('backlog'), eb.fn.min('run_after').as('oldest')])
      .where('run_after', '<=', now)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
      .executeTakeFirstOrThrow();
  const leased = (now: number) => unfinished.select((eb) => eb.fn.countAll().as('leased')).where('lease_expires_at', '>=', now).executeTakeFirstOrThrow();
  let stopped = false;
  const sampling = (async () => {
    while (!stopped) {
      const asked = Date.now();
      await fetch(`${gateway.url}/healthz`).then((response) => response.arrayBuffer()).catch(() => null);
      const now = Date.now();
      const [{ backlog, oldest }, { leased: inFlight }] = await Promise.all([due(now), leased(now)]);
      samples.push({
        atMs: now - started,
        requests: counting.fake.tasks.size + counting.lookups(),
        mainCpu: ownCpuSeconds(gateway.pids.map((pid) => `${pid}/task/${pid}`)),
        gatewayCpu: ownCpuSeconds(gateway.pids),
        treeCpu: treeCpuSeconds(gateway.pids),
        benchCpu: cpuUsageSeconds(process.cpuUsage()),
        healthMs: now - asked,
        backlog: Number(backlog),
        overdueMs: oldest === null ? 0 : now - Number(oldest),
        inFlight: Number(inFlight),
        rssMb: Math.max(...gateway.pids.map(rssMbNow)),
      });
      await sleep(asked + 1000 - Date.now());
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sampling; // its last queries, before the connection closes
      await db.destroy();
      return samples;
    },
  };
}

/** The samples in 10 s rows: rates a second, CPU as cores used, the database's view at the row's worst. */
function timelineRows(samples: Sample[], completedAt: number[]) {
  const rows = [];
  for (let from = 0; from + 1 < samples.length; from += 10) {
    const [a, b] = [samples[from]!, samples[Math.min(samples.length - 1, from + 10)]!];
    const perSecond = (count: number) => round(count / ((b.atMs - a.atMs) / 1000));
    const within = samples.slice(from, from + 10);
    rows.push({
      from_s: Math.round(a.atMs / 1000),
      upstream_requests_per_s: perSecond(b.requests - a.requests),
      completions_per_s: perSecond(completedAt.filter((at) => at >= a.atMs && at < b.atMs).length),
      main_thread_cores: perSecond(b.mainCpu - a.mainCpu),
      gateway_cores: perSecond(b.gatewayCpu - a.gatewayCpu),
      children_cores: perSecond(b.treeCpu - b.gatewayCpu - (a.treeCpu - a.gatewayCpu)),
      bench_cores: perSecond(b.benchCpu - a.benchCpu),
      steps_in_flight_max: Math.max(...within.map((sample) => sample.inFlight)),
      backlog_max: Math.max(...within.map((sample) => sample.backlog)),
      overdue_max_s: round(Math.max(...within.map((sample) => sample.overdueMs)) / 1000),
      healthz_max_ms: Math.max(...within.map((sample) => sample.healthMs)),
      rss_max_mb: Math.round(Math.max(...within.map((sample) => sample.rssMb))),
    });
  }
  return rows;
}

// ─── The figures ───────────────────────────────────────────────────────────────

interface Run {
  started: number;
  createSeconds: number;
  /** The gateway's CPU seconds over the run: its own process, and with its children. */
  gatewayCpu: number;
  treeCpu: number;
  benchCpu: number;
  peakRssMb: number;
  samples: Sample[];
  loadAtStart: string;
}

/** One task as both sides saw it. */
interface Tracked {
  upstream: FakeTask;
  completedAt: number;
}

/** Completed tasks matched to the fake's record by request_id, and how many failed. */
async function readOutcomes(gateway: Gateway, fake: FakeUpstream): Promise<{ tracked: Tracked[]; failed: number }> {
  const db = gatewayDatabase(gateway.dataDir);
  const rows = await db.selectFrom('tasks').select(['status', 'completed_at', 'operation']).execute();
  await db.destroy();
  const byId = new Map(fake.tasks); // a copy: the counting get() would count these lookups
  const tracked: Tracked[] = [];
  for (const row of rows) {
    if (row.status !== 'completed' || row.completed_at === null || row.operation === null) continue;
    const upstream = byId.get((JSON.parse(row.operation) as { request_id: string }).request_id);
    if (upstream) tracked.push({ upstream, completedAt: Number(row.completed_at) });
  }
  return { tracked, failed: rows.filter((row) => row.status === 'failed').length };
}

function figuresOf(run: Run, counting: CountingFake, outcomes: { tracked: Tracked[]; failed: number }, gateway: Gateway) {
  const { tracked, failed } = outcomes;
  const upstream = [...counting.fake.tasks.values()];
  const checks = upstream.reduce((sum, task) => sum + task.checks, 0);
  const requests = upstream.length + counting.lookups();
  const gaps = upstream.flatMap((task) => (task.minCheckGapMs === null ? [] : [task.minCheckGapMs]));
  const onTime = tracked.map(({ upstream: task }) => onTimeSchedule(task));
  // Rates over the run: from the first create to the last completion.
  const windowS = (Math.max(...tracked.map((task) => task.completedAt), run.started + 1000) - run.started) / 1000;
  const lag = tracked.map((task) => (task.completedAt - task.upstream.doneAt) / 1000);
  const seen = tracked.filter((task) => task.upstream.lastCheckAt !== null);
  const downloadAt = (task: Tracked) => counting.lastLookupAt.get(task.upstream.id)!;
  return {
    tasks: TASKS,
    upstream_seconds: `${MIN_S}–${MAX_S}`,
    setup: SETUP,
    load_average_start_end: `${run.loadAtStart} / ${loadAverage()}`,
    creates_per_second: round(TASKS / run.createSeconds),
    lag_p50_s: quantile(lag, 0.5),
    lag_p95_s: quantile(lag, 0.95),
    lag_p99_s: quantile(lag, 0.99),
    lag_max_s: quantile(lag, 1),
    // The issue's measure: each task's lag less the check interval (with its jitter at most) of a task its age when done.
    lag_beyond_interval_p99_s: quantile(tracked.map((task) => (task.completedAt - task.upstream.doneAt - longestInterval(task.upstream)) / 1000), 0.99),
    // The lag in two parts: upstream done → the check that saw it (the fake's last check), → completed_at (download, ffprobe, store).
    noticed_after_p50_p99_s: pair(seen.map((task) => (task.upstream.lastCheckAt! - task.upstream.doneAt) / 1000)),
    kept_after_p50_p99_s: pair(seen.map((task) => (task.completedAt - task.upstream.lastCheckAt!) / 1000)),
    // … of which: the check's answer → the download request (its last lookup), → completed_at (ffprobe, storage, settle).
    download_asked_after_p50_p99_s: pair(seen.map((task) => (downloadAt(task) - task.upstream.lastCheckAt!) / 1000)),
    stored_after_download_p50_p99_s: pair(seen.map((task) => (task.completedAt - downloadAt(task)) / 1000)),
    // What the schedule alone would give, had every check run when due (schedule.ts).
    on_time_noticed_after_p50_p99_s: pair(onTime.map((schedule) => schedule.lagMs / 1000)),
    upstream_requests_per_s: round(requests / windowS),
    checks_per_s: round(checks / windowS),
    checks_made_vs_on_time: `${checks} / ${onTime.reduce((sum, schedule) => sum + schedule.checks, 0)}`,
    min_check_gap_s: gaps.length ? Math.min(...gaps) / 1000 : NaN,
    completed: tracked.length,
    failed,
    unfinished: TASKS - tracked.length - failed,
    gateway_peak_rss_mb: round(run.peakRssMb),
    gateway_cpu_cores: round(run.gatewayCpu / windowS),
    gateway_with_children_cpu_cores: round(run.treeCpu / windowS),
    bench_cpu_cores: round(run.benchCpu / windowS),
    window_s: round(windowS),
    gateway_warning_lines: gateway.logLines(),
    timeline: timelineRows(run.samples, tracked.map((task) => task.completedAt - run.started)),
  };
}
type Figures = ReturnType<typeof figuresOf>;

/** The longest the schedule waits between two checks of a task as old as this one was when it was done (schedule.ts). */
function longestInterval(task: FakeTask): number {
  return nextCheckDelay(task.doneAt - task.createdAt, null, () => 1);
}

/** When the fake would have seen the task done had every check run exactly when due (upstream-step.ts, schedule.ts). */
function onTimeSchedule(task: FakeTask): { lagMs: number; checks: number } {
  let at = task.createdAt + nextCheckDelay(0);
  let checks = 1;
  for (; at < task.doneAt; checks++) at += nextCheckDelay(at - task.createdAt);
  return { lagMs: at - task.doneAt, checks };
}

const TARGETS: Partial<Record<keyof Figures, [string, (value: number) => boolean]>> = {
  lag_p99_s: ['≤ 10', (value) => value <= 10],
  lag_beyond_interval_p99_s: ['≤ 1', (value) => value <= 1],
  min_check_gap_s: ['≥ 2', (value) => value >= 2],
  unfinished: ['0', (value) => value === 0],
  gateway_peak_rss_mb: ['< 300', (value) => value < 300],
};

function print(figures: Figures): void {
  const { timeline, ...scalars } = figures;
  for (const [name, value] of Object.entries(scalars)) {
    const target = TARGETS[name as keyof Figures];
    const verdict = target && typeof value === 'number' ? `   target ${target[0]}  ${target[1](value) ? 'ok' : 'MISSED'}` : '';
    console.log(`${name.padEnd(32)} ${String(value).padStart(20)}${verdict}`);
  }
  const columns: [string, keyof Figures['timeline'][number]][] = [
    ['from s', 'from_s'], ['req/s', 'upstream_requests_per_s'], ['done/s', 'completions_per_s'], ['main', 'main_thread_cores'],
    ['gateway', 'gateway_cores'], ['children', 'children_cores'], ['bench', 'bench_cores'], ['steps', 'steps_in_flight_max'],
    ['backlog', 'backlog_max'], ['overdue s', 'overdue_max_s'], ['healthz ms', 'healthz_max_ms'], ['rss MB', 'rss_max_mb'],
  ];
  console.log('\nper 10 s (CPU in cores; steps, backlog, overdue, healthz and RSS at their worst)');
  console.log(columns.map(([title]) => title.padStart(11)).join(''));
  for (const row of timeline) console.log(columns.map(([, key]) => String(row[key]).padStart(11)).join(''));
}

function save(figures: Figures): void {
  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `tracking-${STAMP}.json`);
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(ROOT, file)}${PROFILE_DIR ? `; CPU profile in ${path.relative(ROOT, PROFILE_DIR)}/` : ''}`);
}

// ─── Small helpers ─────────────────────────────────────────────────────────────

const UNFINISHED = ['queued', 'in_progress'] as const;

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
}

function pair(values: number[]): string {
  return `${quantile(values, 0.5)} / ${quantile(values, 0.99)}`;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function cpuUsageSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

/** /proc/<id>/stat after the command: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime (in 1/100 s). */
function statOf(id: number | string): string[] | null {
  try {
    return readFileSync(`/proc/${id}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return null; // gone
  }
}

/** utime + stime of a process (or of one thread: `pid/task/tid`), in seconds. */
function cpuSeconds(id: number | string): number {
  const fields = statOf(id);
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : NaN;
}

/** cpuSeconds summed over processes (or threads), their children not counted. */
function ownCpuSeconds(ids: (number | string)[]): number {
  return ids.reduce<number>((sum, id) => sum + cpuSeconds(id), 0);
}

/** VmHWM: the process's peak resident memory. */
function rssMbNow(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/**
 * CPU seconds of processes and their live descendants (the probe host, ffprobe runs), each
 * with its reaped children: a finished ffprobe's time is in its parent's cutime + cstime.
 */
function treeCpuSeconds(roots: number[]): number {
  const parents = new Map<number, number>();
  const seconds = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const fields = statOf(entry);
    if (!fields) continue;
    parents.set(Number(entry), Number(fields[1]));
    seconds.set(Number(entry), (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100);
  }
  const descends = (id: number): boolean => roots.includes(id) || (id > 1 && parents.has(id) && descends(parents.get(id)!));
  return [...seconds].reduce((sum, [id, own]) => (descends(id) ? sum + own : sum), 0);
}

// ─── The run ───────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  const counting = await startCountingFake();
  const gateway = await startGatewayChildren(counting.fake);
  console.log(`vidgate bench:tracking — ${TASKS} tasks, upstream ${MIN_S}–${MAX_S} s, ${SETUP}, ${os.cpus().length} cores, load ${loadAtStart}`);
  try {
    const client = await newClient({ url: gateway.url }, 'bench');
    const cpuAtStart = { gateway: ownCpuSeconds(gateway.pids), tree: treeCpuSeconds(gateway.pids), bench: process.cpuUsage() };
    const started = Date.now();
    const sampling = startSampling(gateway, counting, started);
    const createSeconds = await createAll(client);
    console.log(`created ${TASKS} in ${createSeconds.toFixed(1)} s; waiting for them, at most ${GRACE_MS / 1000} s past the last upstream completion`);
    await waitForAll(gateway, counting.fake, Date.now());
    const run: Run = {
      started,
      createSeconds,
      gatewayCpu: ownCpuSeconds(gateway.pids) - cpuAtStart.gateway,
      treeCpu: treeCpuSeconds(gateway.pids) - cpuAtStart.tree,
      benchCpu: cpuUsageSeconds(process.cpuUsage(cpuAtStart.bench)),
      peakRssMb: Math.max(...gateway.pids.map(peakRssMb)),
      samples: await sampling.stop(),
      loadAtStart,
    };
    const figures = figuresOf(run, counting, await readOutcomes(gateway, counting.fake), gateway);
    print(figures);
    save(figures);
  } finally {
    await gateway.stop();
    await counting.fake.close();
  }
}

await main();
