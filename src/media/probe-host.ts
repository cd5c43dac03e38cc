/**
 * A small process of its own that runs ffprobe for the gateway (see probe-host-client.ts).
 * Starting a process from the gateway forks the gateway: with its few hundred MB that
 * blocked the event loop about 4 ms a probe, the largest cost of keeping thousands of
 * upstream results (bench:tracking). Forked from this small process instead, the cost is
 * small and off the gateway's thread.
 *
 * Protocol: one JSON request a line on stdin, `{id, command, args, timeoutMs}`; one JSON
 * answer a line on stdout, `{id, stdout}` or `{id, failure}`. Exits when stdin closes (its
 * parent is gone, however it went).
 */
import { createInterface } from 'node:readline';
import { FfmpegError, runProcess } from './run-process.ts';
import type { HostFailure, HostRequest } from './probe-host-protocol.ts';

function describe(error: unknown): HostFailure {
  if (error instanceof FfmpegError) return { kind: 'tool', summary: error.summary, stderrTail: error.stderrTail, exitCode: error.exitCode, exitSignal: error.exitSignal };
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return { kind: 'start', message: (error as Error).message ?? String(error), code: typeof cause?.code === 'string' ? cause.code : null };
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { id, command, args, timeoutMs } = JSON.parse(line) as HostRequest;
  runProcess(command, args, { timeoutMs }).then(
    ({ stdout }) => process.stdout.write(`${JSON.stringify({ id, stdout })}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ id, failure: describe(error) })}\n`),
  );
});
lines.on('close', () => process.exit(0));
