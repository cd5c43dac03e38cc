import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { FakeUpstream } from '../test/fakes/server.ts';
import { startFakeXai } from '../test/fakes/xai.ts';
import { newClient, removeDataDir, ROOT, startGateway, type Client } from '../test/support/gateway.ts';

/**
 * npm run bench:tracking: BENCH_TASKS (default 10,000) tasks in flight at once against the
 * xAI fake, each finishing upstream a random BENCH_MIN_S–BENCH_MAX_S (20–60) seconds after
 * it was submitted. Measures how late vidgate notices (our completed_at minus the fake's
 * completion), how hard it polls, and what it costs. Targets: p99 lag ≤ 10 s, no task
 * checked more often than every 2 s, none unfinished, peak RSS < 300 MB.
 */
const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);
const MIN_S = Number(process.env.BENCH_MIN_S ?? 20);
const MAX_S = Number(process.env.BENCH_MAX_S ?? 60);
const GRACE_MS = 30_000;
const CREATES_IN_FLIGHT = 32;

const fake = await startFakeXai({ record: false, completeAfterMs: () => (MIN_S + Math.random() * (MAX_S - MIN_S)) * 1000 });
let requests = 0;
fake.tasks.set = countingSet(fake.tasks);
const channel = { name: 'xai', type: 'xai', base_url: fake.url, keys: ['xai-test-key'], max_concurrent: 64 };
const gateway = await startGateway({ CHANNELS: JSON.stringify([channel]), ALLOWED_PRIVATE_HOSTS: fake.hostPort, RATE_LIMIT_PER_MINUTE: String(TASKS * 2) });
const pid = gateway.process.pid!;
const cpuAtStart = cpuSeconds(pid);

try {
  const client = await newClient(gateway);
  const started = Date.now();
  await createAll(client);
  const createSeconds = (Date.now() - started) / 1000;
  const lastDone = Math.max(...[...fake.tasks.values()].map((task) => task.doneAt));
  const peakRss = await waitForAll(lastDone);
  const cpu = (cpuSeconds(pid) - cpuAtStart) / ((Date.now() - started) / 1000);
  const checks = [...fake.tasks.values()].reduce((sum, task) => sum + task.checks, 0);
  const runSeconds = (Date.now() - started) / 1000;
  report({ createSeconds, runSeconds, peakRss, cpu, checks });
} finally {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await fake.close();
}

/** Counts the fake's task creations (the fake keeps no request log here: record is off). */
function countingSet(tasks: FakeUpstream['tasks']): FakeUpstream['tasks']['set'] {
  const set = tasks.set.bind(tasks);
  return (key, value) => {
    requests++;
    return set(key, value);
  };
}

async function createAll(client: Client): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < TASKS) {
      next++;
      const { status, body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a fox', duration: 2, size: '480p' });
      if (status !== 200) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
    }
  };
  await Promise.all(Array.from({ length: CREATES_IN_FLIGHT }, worker));
}

/** Waits until every task is finished in vidgate, or the grace after the last upstream completion is over; answers the peak RSS. */
async function waitForAll(lastDone: number): Promise<number> {
  const db = new BetterSqlite3(path.join(gateway.dataDir, 'vidgate.db'), { readonly: true, fileMustExist: true });
  const open = db.prepare("SELECT count(*) FROM tasks WHERE status IN ('queued', 'in_progress')").pluck();
  try {
    for (;;) {
      const left = open.get() as number;
      if (left === 0 || Date.now() > lastDone + GRACE_MS) return peakRssBytes(pid);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    db.close();
  }
}

interface TaskRecord {
  status: string;
  completed_at: number | null;
  operation: string | null;
}

function report(run: { createSeconds: number; runSeconds: number; peakRss: number; cpu: number; checks: number }): void {
  const db = new BetterSqlite3(path.join(gateway.dataDir, 'vidgate.db'), { readonly: true });
  const rows = db.prepare('SELECT status, completed_at, operation FROM tasks').all() as TaskRecord[];
  db.close();
  const lags: number[] = [];
  let failed = 0;
  let unfinished = 0;
  for (const row of rows) {
    if (row.status === 'failed') failed++;
    if (row.status !== 'completed') {
      if (row.status !== 'failed') unfinished++;
      continue;
    }
    const upstream = fake.tasks.get((JSON.parse(row.operation!) as { request_id: string }).request_id)!;
    lags.push((row.completed_at! - upstream.doneAt) / 1000);
  }
  lags.sort((a, b) => a - b);
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN;
  const gaps = [...fake.tasks.values()].map((task) => task.minCheckGapMs).filter((gap): gap is number => gap !== null);
  const figures = {
    tasks: TASKS,
    upstream_seconds: `${MIN_S}–${MAX_S}`,
    creates_per_second: round(TASKS / run.createSeconds),
    lag_p50_s: round(at(0.5)),
    lag_p95_s: round(at(0.95)),
    lag_p99_s: round(at(0.99)),
    lag_max_s: round(lags.at(-1) ?? NaN),
    status_checks: run.checks,
    checks_per_second: round(run.checks / run.runSeconds),
    upstream_requests_per_second: round((run.checks + requests + lags.length) / run.runSeconds),
    min_check_gap_s: round(Math.min(...gaps) / 1000),
    completed: lags.length,
    failed,
    unfinished,
    peak_rss_mb: round(run.peakRss / 1048576),
    cpu_cores: round(run.cpu),
    load_average: (readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3)).join(' '),
  };
  const targets: Record<string, string> = { lag_p99_s: '≤ 10', min_check_gap_s: '≥ 2', unfinished: '0', peak_rss_mb: '< 300' };
  for (const [name, value] of Object.entries(figures)) console.log(`${name.padEnd(30)} ${String(value).padStart(12)}  ${targets[name] ? `target ${targets[name]}` : ''}`);
  const folder = path.join(ROOT, 'bench/results');
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, `tracking-${new Date().toISOString().replaceAll(':', '-')}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** utime + stime of a process, in seconds (clock ticks are 100 a second on Linux). */
function cpuSeconds(processId: number): number {
  const fields = readFileSync(`/proc/${processId}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssBytes(processId: number): number {
  const line = readFileSync(`/proc/${processId}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmHWM:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) * 1024;
}
