import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** A command line that cannot be run as written: exit 2. */
export class UsageError extends Error {}

/** The task ended without a video (failed, cancelled): exit 1. */
export class TaskUnfinished extends Error {}

/**
 * The CLI's side of the gateway's HTTP API: the base URL and key from flags or VIDGATE_URL
 * and VIDGATE_API_KEY, JSON in and out, and the gateway's error envelope as a GatewayError
 * whose message is the gateway's own.
 */
/** The gateway refused (exit 3, a 4xx) or could not answer (exit 4: unreachable, a 5xx). */
export class GatewayError extends Error {
  constructor(
    message: string,
    /** 0 when the gateway could not be reached. */
    readonly status: number,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Seconds the answer's Retry-After asked for. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

export interface Connection {
  url: string;
  key: string;
}

/** How often a request the gateway (or its load balancer) answered "try again" is asked again. */
const RETRIES = 3;
const TRY_AGAIN = new Set([502, 503, 504]);

export class GatewayClient {
  constructor(private readonly connection: Connection) {}

  get url(): string {
    return this.connection.url;
  }

  /**
   * A request that may safely be made twice (a read, or a create with an Idempotency-Key) is
   * asked again when the answer says to try again (a process killed behind a load balancer,
   * a database restarting), after its Retry-After (1 s unless said, 10 s at most).
   */
  async request(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const repeatable = method === 'GET' || method === 'HEAD' || Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key');
    for (let retries = 0; ; retries++) {
      try {
        return await this.once(method, route, body, headers);
      } catch (error) {
        if (!(error instanceof GatewayError && TRY_AGAIN.has(error.status) && repeatable && retries < RETRIES)) throw error;
        await delay(Math.min(10, error.retryAfter ?? 1) * 1000);
      }
    }
  }

  private async once(method: string, route: string, body: unknown, headers: Record<string, string>): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.connection.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.connection.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new GatewayError(`cannot reach the gateway at ${this.connection.url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`, 0);
    }
    if (!response.ok) {
      const text = await response.text();
      let envelope: { error?: { message?: string; code?: string; param?: string } } = {};
      try {
        envelope = JSON.parse(text) as typeof envelope;
      } catch {
        // Not the gateway's envelope (a proxy's page): the status says enough.
      }
      const error = envelope.error;
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new GatewayError(error?.message ?? `the gateway answered ${response.status}`, response.status, error?.code ?? null, error?.param ?? null, retryAfter > 0 ? retryAfter : null);
    }
    return response;
  }

  async json<T>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await (await this.request(method, route, body, headers)).json()) as T;
  }
}

const MEDIA_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.mp4': 'video/mp4',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
};

/** An input given on the command line: an http(s) URL as it is, a local file as a data URI. */
export function mediaArgument(value: string): string {
  if (/^https?:\/\//i.test(value)) return value;
  const type = MEDIA_TYPES[path.extname(value).toLowerCase()];
  if (!type) throw new UsageError(`${value}: not an http(s) URL, nor a file of a known type (${Object.keys(MEDIA_TYPES).join(' ')})`);
  try {
    return `data:${type};base64,${readFileSync(value).toString('base64')}`;
  } catch (error) {
    throw new UsageError(`${value}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}
