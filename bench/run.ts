import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { ffmpegPath } from '../src/media/ffmpeg.ts';
import { newClient, removeDataDir, ROOT, startGateway } from '../test/support/gateway.ts';

/**
 * npm run bench: the gateway against baselines in the same run, reported as ratios.
 *   poll    GET /v1/videos/{id}           vs bare node:http answering the same bytes   (target ≥ 0.7×)
 *   create  POST /v1/videos (ROLE=api)    vs bare node:http answering the same bytes   (target ≥ 0.4×)
 *   content GET …/content of a 20 MB MP4  vs nginx, one worker, sendfile                (target ≥ 1.0×)
 * Each pair runs twice in turn and is averaged. BENCH_SECONDS sets a run's length (default 8).
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'vidgate-bench-'));
const children: ChildProcess[] = [];

async function startBaseline(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/baseline-server.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
}

async function requestsPerSecond(options: autocannon.Options): Promise<number> {
  const result = await autocannon({ ...options, duration: seconds, connections: 50 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${options.url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

/**
 * Runs baseline and gateway in turn, twice (after a warm-up of each), and averages, so
 * that a passing disturbance on this shared machine weighs on both sides alike.
 */
async function compare(baseline: () => Promise<number>, gateway: () => Promise<number>): Promise<[number, number]> {
  const sums = [0, 0];
  for (let round = 0; round < 2; round++) {
    sums[0]! += await baseline();
    sums[1]! += await gateway();
  }
  return [sums[1]! / 2, sums[0]! / 2];
}

async function warmUp(options: autocannon.Options): Promise<void> {
  await autocannon({ ...options, duration: 1, connections: 50 });
}

/** wrk's Transfer/sec in bytes per second; any failed or non-2xx request voids the run. */
async function wrkThroughput(url: string): Promise<number> {
  const output = execFileSync('wrk', ['-t2', '-c16', `-d${seconds}s`, url]).toString();
  if (/Non-2xx|Socket errors/.test(output)) throw new Error(`wrk saw failures against ${url}:\n${output}`);
  const match = /Transfer\/sec:\s+([\d.]+)([KMG]?)B/.exec(output);
  if (!match) throw new Error(`wrk said:\n${output}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2] as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

function row(name: string, gateway: number, baseline: number, unit: string, target: number): void {
  const ratio = gateway / baseline;
  console.log(`${name.padEnd(8)} gateway ${gateway.toFixed(0).padStart(8)} ${unit}   baseline ${baseline.toFixed(0).padStart(8)} ${unit}   ratio ${ratio.toFixed(2)}× (target ≥ ${target}×) ${ratio >= target ? 'ok' : 'BELOW TARGET'}`);
}

async function benchApi() {
  const gateway = await startGateway({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '1000000000' });
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

    const pollBaseline = { url: `${await startBaseline({ BODY_FILE: path.join(scratch, 'poll.json') })}/v1/videos/${id}`, headers };
    const pollGateway = { url: `${gateway.url}/v1/videos/${id}`, headers };
    await warmUp(pollBaseline);
    await warmUp(pollGateway);
    row('poll', ...(await compare(() => requestsPerSecond(pollBaseline), () => requestsPerSecond(pollGateway))), 'req/s', 0.7);

    const post = { method: 'POST' as const, headers, body: createBody };
    const createBaseline = { url: `${await startBaseline({ BODY_FILE: path.join(scratch, 'create.json') })}/v1/videos`, ...post };
    const createGateway = { url: `${gateway.url}/v1/videos`, ...post };
    await warmUp(createBaseline);
    await warmUp(createGateway);
    row('create', ...(await compare(() => requestsPerSecond(createBaseline), () => requestsPerSecond(createGateway))), 'req/s', 0.4);
  } finally {
    await gateway.stop();
    removeDataDir(gateway.dataDir);
  }
}

async function benchContent() {
  if (!existsSync('/usr/sbin/nginx') || !existsSync('/usr/bin/wrk')) {
    console.log('content  skipped: needs nginx and wrk (apt-get install nginx-light wrk)');
    return;
  }
  const gateway = await startGateway({});
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

    const pid = gateway.process.pid!;
    await wrkThroughput(task.metadata.url); // warm-up
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
    const [gatewayRate, nginxRate] = await compare(() => wrkThroughput(nginxUrl), () => wrkThroughput(task.metadata.url));
    clearInterval(sampler);
    const afterRun = rssMb(pid);
    row('content', gatewayRate / 1024 ** 2, nginxRate / 1024 ** 2, 'MiB/s', 1.0);
    console.log(`content  gateway RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB peak, ${afterRun.toFixed(0)} MB after`);
  } finally {
    await gateway.stop();
    removeDataDir(gateway.dataDir);
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
  console.log(`vidgate bench: ${seconds} s per run, ${os.cpus().length} cores, node ${process.version}`);
  await benchApi();
  await benchContent();
} finally {
  for (const child of children) child.kill();
  rmSync(scratch, { recursive: true, force: true });
}

