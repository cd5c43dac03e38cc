import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/**
 * `python3 -m http.server`, the server people reach for to share a folder of
 * images: it speaks HTTP/1.0 and closes the connection after every answer.
 */
export interface PythonOrigin {
  url: string;
  hostPort: string;
  close(): Promise<void>;
}

export function hasPython3(): boolean {
  return spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Serves `directory` on 127.0.0.1 on a port the OS picks (read from the banner, so no free-port race). */
export async function startPythonOrigin(directory: string): Promise<PythonOrigin> {
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', directory], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`python3 http.server did not start: ${out}`)), 10_000);
    function fail(err: Error): void {
      clearTimeout(timer);
      child.kill();
      reject(err);
    }
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`python3 http.server exited (${code}): ${out}`)));
    child.stdout.on('data', (data: Buffer) => {
      out += data.toString();
      const m = / port (\d+) /.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(Number(m[1]));
      }
    });
    // Its access log goes to stderr; left unread it could fill the pipe and stall the server.
    child.stderr.resume();
  });
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    close: () => stop(child),
  };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}
