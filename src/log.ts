import pino, { type Logger } from 'pino';

/** JSON logs on stdout. Keys and signed links never reach them: see the redaction paths. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'key', 'adminKey', '*.key'],
      censor: '[redacted]',
    },
  });
}
