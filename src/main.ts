import { ConfigError, loadConfig } from './config.ts';
import { startGateway } from './gateway.ts';
import { createLogger } from './log.ts';

/** A start that failed for a reason the operator can mend: told in one line. */
class StartError extends Error {}

try {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const gateway = await startGateway(config, log).catch((error: unknown) => {
    const known = startFailure(error, config.host, config.port);
    // What the operator can mend is told in one line; anything else also goes to the log, stack and all.
    if (!known) log.error({ err: error }, 'start failed');
    throw new StartError(known ?? `could not start: ${(error as Error).message ?? String(error)}`);
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: handing unfinished tasks back');
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  // An operator gets one clear line, not a stack trace: what failed and which setting to look at.
  if (error instanceof ConfigError || error instanceof StartError) {
    process.stderr.write(`vidgate: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}


function startFailure(error: unknown, host: string, port: number): string | null {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `cannot listen on ${host}:${port}: the port is already in use (set PORT or HOST)`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${host}:${port}: no such address on this machine (set HOST)`;
  if (code === 'EACCES' && (error as NodeJS.ErrnoException).syscall === 'listen') return `cannot listen on ${host}:${port}: permission denied (set PORT above 1023)`;
  return null;
}
