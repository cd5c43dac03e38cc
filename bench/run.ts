import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { ffmpegPath } from '../src/media/ffmpeg.ts';
import type { RunningGateway } from '../test/support/gateway.ts';
import { benchOptions } from './options.ts';

/**
 * npm run bench: the gateway against baselines in the same run, reported as ratios.
 *   poll    GET /v1/videos/{id}           vs bare node:http answering the same bytes   (target ≥ 0.7×)
 *   create  POST /v1/videos (ROLE=api)    vs bare node:http answering the same bytes   (target ≥ 0.4×)
 *   metered the same create on a metered key (a hold and its ledger entry with each task), same baseline and target
 *   content GET …/content of a 20 MB MP4  vs nginx, one worker, sendfile                (target ≥ 1.0×)
 *                                         vs bare node:http piping fs.createReadStream  (target ≥ 0.9×)
 * The contenders of a part run in turn, BENCH_ROUNDS times (default 2; the order reverses
 * every other round), and are averaged; the spread is the lowest and highest of the
 * per-round ratios. BENCH_SECONDS sets a run's length (default 8). BENCH_PARTS picks the
 * parts, comma-separated (default poll,create,metered,content): BENCH_PARTS=content tsx bench/run.ts.
 * Beside each API part's ratio, each server's CPU per request (from /proc): steadier than
 * throughput here, where the load generator and the database share the server's two cores.
 *
 * --store postgres (npm run bench -- --store postgres) runs the gateways on a PostgreSQL
 * schema of their own (test/support/database.ts), dropped at the end; the baselines are
 * the same. Its targets are lower: poll ≥ 0.5×, create ≥ 0.25×, each request a round trip
 * to another process. The content part runs unchanged on it (one lookup, then the file).
 */
const { store } = benchOptions('npm run bench -- [--store sqlite|postgres]');
// After benchOptions: database.ts, under gateway.ts, reads the store as it loads.
const { ADMIN_KEY, newClient, removeDataDir, ROOT, startGateway } = await import('../test/support/gateway.ts');
const TARGETS = { sqlite: { poll: 0.7, create: 0.4 }, postgres: { poll: 0.5, create: 0.25 } }[store];
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const PARTS = ['poll', 'create', 'metered', 'content'] as const;
const parts = new Set((process.env.BENCH_PARTS ?? PARTS.join(',')).split(',').map((part) => part.trim()));
for (const part of parts) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`BENCH_PARTS: unknown part ${part} (known: ${PARTS.join(', ')})`);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'vidgate-bench-'));
const children: ChildProcess[] = [];
const gatewayDirs: string[] = [];

/** startGateway on a data dir in `scratch`, which cleanUp() removes with its PostgreSQL schema, however the run ends. */
async function startBenchGateway(env: Record<string, string>): Promise<RunningGateway> {
  const dataDir = mkdtempSync(path.join(scratch, 'gateway-'));
  gatewayDirs.push(dataDir); // before the start: a gateway that fails to start may have made its schema
  const gateway = await startGateway(env, dataDir);
  children.push(gateway.process);
  return gateway;
}

/**
 * At the end of the run, and again on exit (an error thrown, Ctrl-C: see benchOptions);
 * each list is emptied as it is cleaned, so the second call has nothing left to do.
 */
function cleanUp(): void {
  for (const child of children.splice(0)) child.kill();
  for (const dataDir of gatewayDirs.splice(0)) removeDataDir(dataDir);
  rmSync(scratch, { recursive: true, force: true });
}
process.once('exit', cleanUp);

async function startBaselineProcess(env: Record<string, string>): Promise<{ url: string; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/baseline-server.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return { url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, pid: child.pid! };
}

/**
 * Server CPU µs per request of each run, by part and contender: on this shared machine the
 * cost of a request swings much less than the throughput does.
 */
const cpuPerRequest = new Map<string, number[]>();

async function requestsPerSecond(options: autocannon.Options, server: { part: string; name: string; pid: number }): Promise<number> {
  const cpu = cpuSeconds(server.pid);
  const result = await autocannon({ ...options, duration: seconds, connections: 50 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${options.url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  const key = `${server.part}\t${server.name}`;
  cpuPerRequest.set(key, [...(cpuPerRequest.get(key) ?? []), ((cpuSeconds(server.pid) - cpu) * 1e6) / result.requests.total]);
  return result.requests.average;
}

/** The part's server CPU per request, each contender's mean and the spread of its runs. */
function cpuLine(part: string, names: string[]): void {
  const shown = names.map((name) => {
    const values = cpuPerRequest.get(`${part}\t${name}`) ?? [];
    return `${name} ${mean(values).toFixed(1)} (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)})`;
  });
  console.log(`${part.padEnd(8)} server CPU µs a request: ${shown.join(', ')}`);
}

/**
 * Runs the contenders in turn, `rounds` times (after their warm-ups), reversing the order
 * every other round, so that a passing disturbance on this shared machine weighs on all
 * sides alike. Returns each contender's figure per round.
 */
async function compare<Name extends string>(contenders: Record<Name, () => Promise<number>>): Promise<Record<Name, number[]>> {
  const names = Object.keys(contenders) as Name[];
  const results = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Name, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) results[name].push(await contenders[name]());
  }
  return results;
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function warmUp(options: autocannon.Options): Promise<void> {
  await autocannon({ ...options, duration: 1, connections: 50 });
}

/**
 * wrk's Transfer/sec in bytes per second; any failed or non-2xx request voids the run.
 * Asynchronous, so that the RSS sampler keeps sampling while wrk runs.
 */
async function wrkThroughput(url: string, connections = 16): Promise<number> {
  const { stdout: output } = await promisify(execFile)('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, url]);
  if (/Non-2xx|Socket errors/.test(output)) throw new Error(`wrk saw failures against ${url}:\n${output}`);
  const match = /Transfer\/sec:\s+([\d.]+)([KMG]?)B/.exec(output);
  if (!match) throw new Error(`wrk said:\n${output}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2] as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}

/** CPU seconds (user + system, all threads) a process has used so far; clock ticks of 1/100 s. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/**
 * One line per baseline: the averages, their ratio, and the spread of the per-round
 * ratios (each round's gateway figure against the same round's baseline).
 */
function row(name: string, gateway: number[], baselineName: string, baseline: number[], unit: string, target: number): void {
  const ratio = mean(gateway) / mean(baseline);
  const perRound = gateway.map((value, round) => value / baseline[round]!);
  const spread = `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`;
  console.log(
    `${name.padEnd(8)} gateway ${mean(gateway).toFixed(0).padStart(7)} ${unit}   ${baselineName.padStart(9)} ${mean(baseline).toFixed(0).padStart(7)} ${unit}   ` +
      `ratio ${ratio.toFixed(2)}× (runs ${spread})   target ≥ ${target}× ${ratio >= target ? 'ok' : 'BELOW TARGET'}`,
  );
}

/** Each round's figures, so that the spread behind the ratios can be read. */
function runs(name: string, results: Record<string, number[]>, unit: string): void {
  for (const [contender, values] of Object.entries(results)) {
    console.log(`${name.padEnd(8)}   ${contender.padEnd(9)} ${values.map((value) => value.toFixed(0).padStart(7)).join(' ')} ${unit}`);
  }
}

async function benchApi() {
  const gateway = await startBenchGateway({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '1000000000' });
  try {
    const client = await newClient(gateway);
    const createBody = JSON.stringify({ model: 'grok-imagine', prompt: 'a red kite over the sea', duration: 3, size: '480p' });
    const created = await client.request('POST', '/v1/videos', createBody);
    const createBytes = Buffer.from(await created.arrayBuffer());
    const id = (JSON.parse(createBytes.toString()) as { id: string }).id;
    const pollBytes = Buffer.from(await (await client.request('GET', `/v1/videos/${id}`)).arrayBuffer());
    writeFileSync(path.join(scratch, 'poll.json'), pollBytes);
    writeFileSync(path.join(scratch, 'create.json'), createBytes);
    const headers = { authorization: `Bearer ${client.key}`, 'content-type': 'application/json' };

    const gatewayPid = gateway.process.pid!;
    const pollBare = await startBaselineProcess({ BODY_FILE: path.join(scratch, 'poll.json') });
    const pollBaseline = { url: `${pollBare.url}/v1/videos/${id}`, headers };
    const pollGateway = { url: `${gateway.url}/v1/videos/${id}`, headers };
    if (parts.has('poll')) {
      await warmUp(pollBaseline);
      await warmUp(pollGateway);
      const poll = await compare({
        'bare node': () => requestsPerSecond(pollBaseline, { part: 'poll', name: 'bare node', pid: pollBare.pid }),
        gateway: () => requestsPerSecond(pollGateway, { part: 'poll', name: 'gateway', pid: gatewayPid }),
      });
      row('poll', poll.gateway, 'bare node', poll['bare node'], 'req/s', TARGETS.poll);
      runs('poll', poll, 'req/s');
      cpuLine('poll', ['bare node', 'gateway']);
    }

    const post = { method: 'POST' as const, headers, body: createBody };
    const createBare = await startBaselineProcess({ BODY_FILE: path.join(scratch, 'create.json') });
    const createBaseline = { url: `${createBare.url}/v1/videos`, ...post };
    const createGateway = { url: `${gateway.url}/v1/videos`, ...post };
    if (parts.has('create')) {
      await warmUp(createBaseline);
      await warmUp(createGateway);
      const create = await compare({
        'bare node': () => requestsPerSecond(createBaseline, { part: 'create', name: 'bare node', pid: createBare.pid }),
        gateway: () => requestsPerSecond(createGateway, { part: 'create', name: 'gateway', pid: gatewayPid }),
      });
      row('create', create.gateway, 'bare node', create['bare node'], 'req/s', TARGETS.create);
      runs('create', create, 'req/s');
      cpuLine('create', ['bare node', 'gateway']);
    }
    // The same create on a metered key, as a gateway that bills makes every one: its hold is
    // taken and written in the ledger with the task. Against the same baseline and target.
    if (parts.has('metered')) {
      const made = await fetch(`${gateway.url}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'metered', balance: 1e15 }),
      });
      const { key } = (await made.json()) as { key: string };
      const meteredGateway = { ...createGateway, headers: { ...headers, authorization: `Bearer ${key}` } };
      await warmUp(createBaseline);
      await warmUp(meteredGateway);
      const metered = await compare({
        'bare node': () => requestsPerSecond(createBaseline, { part: 'metered', name: 'bare node', pid: createBare.pid }),
        gateway: () => requestsPerSecond(meteredGateway, { part: 'metered', name: 'gateway', pid: gatewayPid }),
      });
      row('metered', metered.gateway, 'bare node', metered['bare node'], 'req/s', TARGETS.create);
      runs('metered', metered, 'req/s');
      cpuLine('metered', ['bare node', 'gateway']);
    }
  } finally {
    await gateway.stop();
  }
}

async function benchContent() {
  if (!existsSync('/usr/sbin/nginx') || !existsSync('/usr/bin/wrk')) {
    console.log('content  skipped: needs nginx and wrk (apt-get install nginx-light wrk)');
    return;
  }
  const gateway = await startBenchGateway({});
  try {
    const client = await newClient(gateway);
    const { body } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'bench', duration: 1, size: '480p' });
    await client.waitFor(body.id);
    // Swap the stored render for a 20 MB MP4, the size stack.md measured with.
    const stored = path.join(gateway.dataDir, 'files', 'videos', body.id, 'video.mp4');
    execFileSync(ffmpegPath, ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:d=10:r=30', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '4', '-fs', '20M', stored]);
    const task = (await client.json('GET', `/v1/videos/${body.id}`)).body;

    const root = path.join(scratch, 'nginx');
    // nginx's worker drops root; mkdtemp's folder is private to root.
    chmodSync(scratch, 0o755);
    const port = await freePort();
    execFileSync('mkdir', ['-p', path.join(root, 'logs'), path.join(root, 'www')]);
    execFileSync('cp', [stored, path.join(root, 'www', 'video.mp4')]);
    writeFileSync(
      path.join(root, 'nginx.conf'),
      `worker_processes 1; daemon off; pid ${root}/nginx.pid; error_log ${root}/logs/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; types { video/mp4 mp4; }
  client_body_temp_path ${root}; proxy_temp_path ${root}; fastcgi_temp_path ${root}; uwsgi_temp_path ${root}; scgi_temp_path ${root};
  server { listen 127.0.0.1:${port}; root ${root}/www; } }`,
    );
    const nginx = spawn('/usr/sbin/nginx', ['-p', root, '-c', path.join(root, 'nginx.conf')], { stdio: 'inherit' });
    children.push(nginx);
    const nginxUrl = `http://127.0.0.1:${port}/video.mp4`;
    for (let attempt = 0; (await fetch(nginxUrl, { method: 'HEAD' }).catch(() => null))?.status !== 200; attempt++) {
      if (attempt > 50) throw new Error('nginx did not come up');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // The second baseline: node's own ceiling here, a bare node:http server piping
    // fs.createReadStream (1 MiB chunks) of the same file with the same two headers.
    const bare = await startBaselineProcess({ STREAM_FILE: stored });
    const bareUrl = `${bare.url}/video.mp4`;

    const pid = gateway.process.pid!;
    await wrkThroughput(nginxUrl); // warm-ups
    await wrkThroughput(bareUrl);
    await wrkThroughput(task.metadata.url);
    const before = { gateway: rssMb(pid), bare: rssMb(bare.pid) };
    const peak = { ...before };
    const sampler = setInterval(() => {
      peak.gateway = Math.max(peak.gateway, rssMb(pid));
      peak.bare = Math.max(peak.bare, rssMb(bare.pid));
    }, 250);
    // Besides MiB/s, the server's CPU seconds per GiB sent: throughput swings with whatever
    // else this shared machine runs, the cost of a byte much less.
    const nginxWorker = Number(readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8').trim().split(' ')[0]);
    const cpuPerGiB: Record<'nginx' | 'bare node' | 'gateway', number[]> = { nginx: [], 'bare node': [], gateway: [] };
    const measure = async (name: keyof typeof cpuPerGiB, serverPid: number, url: string) => {
      const cpu = cpuSeconds(serverPid);
      const rate = await wrkThroughput(url);
      cpuPerGiB[name].push((cpuSeconds(serverPid) - cpu) / ((rate * seconds) / 1024 ** 3));
      return rate / 1024 ** 2;
    };
    const content = await compare({
      nginx: () => measure('nginx', nginxWorker, nginxUrl),
      'bare node': () => measure('bare node', bare.pid, bareUrl),
      gateway: () => measure('gateway', pid, task.metadata.url),
    });
    clearInterval(sampler);
    const after = { gateway: rssMb(pid), bare: rssMb(bare.pid) };
    row('content', content.gateway, 'nginx', content.nginx, 'MiB/s', 1.0);
    row('content', content.gateway, 'bare node', content['bare node'], 'MiB/s', 0.9);
    runs('content', content, 'MiB/s');
    console.log(`content  server CPU s per GiB sent: ${Object.entries(cpuPerGiB).map(([name, values]) => `${name} ${mean(values).toFixed(2)} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`).join(', ')}`);
    for (const side of ['gateway', 'bare'] as const) {
      const name = side === 'bare' ? 'bare node' : side;
      console.log(`content  ${name} RSS ${before[side].toFixed(0)} MB before, ${peak[side].toFixed(0)} MB peak, ${after[side].toFixed(0)} MB after (16 connections)`);
    }
    // Memory must not grow with connections × file size: one more gateway run at 4× the connections.
    let peakWide = rssMb(pid);
    const wideSampler = setInterval(() => (peakWide = Math.max(peakWide, rssMb(pid))), 250);
    const wide = (await wrkThroughput(task.metadata.url, 64)) / 1024 ** 2;
    clearInterval(wideSampler);
    console.log(`content  gateway RSS ${peakWide.toFixed(0)} MB peak at 64 connections (${wide.toFixed(0)} MiB/s; 64 × 20 MB would be 1.3 GB)`);
  } finally {
    await gateway.stop();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

try {
  console.log(`vidgate bench: store ${store}, ${seconds} s per run, ${os.cpus().length} cores, node ${process.version}`);
  console.log(`${rounds} rounds, parts: ${[...parts].join(', ')}`);
  if (parts.has('poll') || parts.has('create') || parts.has('metered')) await benchApi();
  if (parts.has('content')) await benchContent();
} finally {
  cleanUp();
}

