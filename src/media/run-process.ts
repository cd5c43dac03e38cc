import { spawn } from 'node:child_process';

/** A failed ffmpeg or ffprobe run, carrying the end of what the tool wrote to stderr. */
export class FfmpegError extends Error {
  constructor(
    /** What happened, without the stderr tail: logs carry the tail once, in its own field. */
    readonly summary: string,
    readonly stderrTail: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
  ) {
    super(stderrTail ? `${summary}: ${stderrTail}` : summary);
    this.name = 'FfmpegError';
  }
}

const STDERR_TAIL_BYTES = 4096;

/**
 * Runs a tool and collects its stdout (or hands it line by line to `onLine`). An abort kills
 * it at once and rejects only after it is gone; a failure carries the end of its stderr.
 */
export function runProcess(
  command: string,
  args: string[],
  options: { onLine?: (line: string) => void; signal?: AbortSignal; timeoutMs?: number | undefined },
): Promise<{ stdout: string }> {
  const { signal, onLine, timeoutMs } = options;
  const tool = command.split('/').pop() ?? command;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let pending = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      if (!onLine) {
        stdout += text;
        return;
      }
      // Progress blocks can arrive split anywhere: only whole lines are parsed.
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line.trim());
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_TAIL_BYTES);
    });
    const kill = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', kill, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, timeoutMs);
    const cleanUp = () => {
      signal?.removeEventListener('abort', kill);
      clearTimeout(timer);
    };
    child.on('error', (error) => {
      // Spawning itself failed (missing binary, no permission): there is no process to wait for.
      cleanUp();
      // The cause keeps its code: EMFILE or EAGAIN here pass, and a retry can tell.
      reject(new Error(`could not start ${tool}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, exitSignal) => {
      cleanUp();
      const tail = stderr.trim();
      if (signal?.aborted) reject(abortReason(signal));
      else if (timedOut) reject(new FfmpegError(`${tool} took longer than ${timeoutMs} ms`, tail, code, exitSignal));
      else if (code === 0) resolve({ stdout });
      // A null code means a signal: this build segfaults on some truncated PNGs.
      else reject(new FfmpegError(`${tool} failed (${code === null ? `signal ${exitSignal}` : `exit code ${code}`})`, tail, code, exitSignal));
    });
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
