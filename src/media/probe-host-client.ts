import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { HostAnswer, HostFailure } from './probe-host-protocol.ts';
import { FfmpegError } from './run-process.ts';

/**
 * Runs short tools (ffprobe) in the probe host, a small process started on first use and
 * again if it dies; see probe-host.ts for why. The host is never what keeps the gateway
 * alive: it is let go whenever no run is pending.
 */
interface Pending {
  resolve: (result: { stdout: string }) => void;
  reject: (error: unknown) => void;
}

let host: ChildProcess | null = null;
const pending = new Map<number, Pending>();
let nextId = 0;

const HOST_FILE = fileURLToPath(new URL('./probe-host.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

function start(): ChildProcess {
  const child = spawn(process.execPath, ['--import', TSX, HOST_FILE], { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const answer = JSON.parse(line) as HostAnswer;
    const waiting = pending.get(answer.id);
    if (!waiting) return;
    pending.delete(answer.id);
    hold();
    if ('stdout' in answer) waiting.resolve({ stdout: answer.stdout });
    else waiting.reject(asError(answer.failure));
  });
  child.once('exit', () => {
    if (host === child) host = null;
    // Runs in flight are lost with it; they fail as a process that could not start does, which callers retry.
    const lost = Object.assign(new Error('the probe host stopped'), { code: 'EAGAIN' });
    for (const [id, waiting] of pending) {
      pending.delete(id);
      waiting.reject(new Error('could not run ffprobe: the probe host stopped', { cause: lost }));
    }
  });
  child.stdin!.on('error', () => undefined);
  return child;
}

/** Keeps the host referenced exactly while a run is pending. */
function hold(): void {
  if (!host) return;
  // The child's pipes are sockets: each holds the event loop as much as the child does.
  const handles = [host, host.stdin as Socket, host.stdout as Socket];
  for (const handle of handles) {
    if (pending.size > 0) handle.ref();
    else handle.unref();
  }
}

function asError(failure: HostFailure): Error {
  if (failure.kind === 'tool') return new FfmpegError(failure.summary, failure.stderrTail, failure.exitCode, failure.exitSignal);
  return new Error(failure.message, { cause: Object.assign(new Error(failure.message), { code: failure.code ?? undefined }) });
}

export function runInProbeHost(command: string, args: string[], timeoutMs: number): Promise<{ stdout: string }> {
  host ??= start();
  const id = nextId++;
  const child = host;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    hold();
    child.stdin!.write(`${JSON.stringify({ id, command, args, timeoutMs })}\n`);
  });
}
