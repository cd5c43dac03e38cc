/**
 * The HTTP client every upstream API call goes through: a WHATWG `fetch` with one
 * channel's connection pool, concurrency cap, start rate and timeouts.
 *
 * Design:
 *  - node:http/https, not the global fetch: undici 7 (bundled with Node >= 22/24)
 *    crashes the whole process with an uncatchable `assert(!this.paused)` when a
 *    server ends a body by closing the connection (nodejs/undici#5360).
 *  - One keep-alive agent per protocol, maxSockets = maxConcurrent: the many small
 *    status polls reuse their connections.
 *  - A call holds its concurrency slot until its body has ended, been cancelled or
 *    failed, so that maxConcurrent bounds sockets. A body nobody reads: the first
 *    64 KiB are taken in at once, so a small body ends by itself and frees the slot
 *    (its data stays readable); a bigger one stops moving and the read timeout
 *    destroys it, freeing the slot (a later read rejects with ETIMEDOUT).
 *  - Redirects are never followed: a 3xx is returned as it is.
 *  - `accept-encoding: identity` unless the caller says otherwise; bodies are
 *    passed on as received, never decompressed.
 *
 * Failures look like fetch's: the call rejects with `TypeError('fetch failed')`, a
 * body read with `TypeError('terminated')`, either with `cause` an UpstreamFailure:
 * the Node error (or one of ours) with a string `code` and `requestSent`.
 *  - requestSent false: the request bytes surely never left, as no socket was
 *    connected yet: ECONNREFUSED, ENOTFOUND, EAI_AGAIN, TLS errors, and ours:
 *    ECONNECT_TIMEOUT (no connected socket within connectTimeoutMs, DNS included), ECLOSED (the
 *    fetch was closed before the call started) and ERR_INVALID_PROTOCOL (not http/https).
 *  - requestSent true: anything later, as the upstream may have acted on the request:
 *    ETIMEDOUT (ours: readTimeoutMs without response headers or without body bytes),
 *    ECONNRESET (also a body cut short, or a reused connection the server had closed),
 *    HPE_* (malformed response), EBADRESPONSE (ours: a status a Response cannot carry).
 *  - Anything else without a code of its own gets EUNKNOWN.
 * An aborted `init.signal` rejects (or errors the body) with the signal's reason instead.
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { TLSSocket } from 'node:tls';

export interface UpstreamFetchOptions {
  /** Calls in flight at once to this channel; more wait their turn (FIFO). */
  maxConcurrent: number;
  /** Calls started per second at most (a token bucket; 0 or Infinity = no cap); excess calls wait. */
  maxPerSecond: number;
  /** Time to get a connected socket (TCP + TLS). */
  connectTimeoutMs: number;
  /** Time from sending the request to the response headers, and the longest silence while reading the body. */
  readTimeoutMs: number;
}

/**
 * fetch's options, and `beforeSend`: run once the call holds its slot, just before its bytes
 * leave. If it throws, nothing is sent and the call rejects with its error, as it is. A submit
 * marks its task there, so a call still waiting for a slot when its process dies was surely
 * never sent.
 */
export interface UpstreamInit extends RequestInit {
  beforeSend?: () => Promise<void>;
}

/** A fetch as adapters call it; `runsBeforeSend` says it runs the hook itself (a plain fetch does not). */
export type FetchWithHook = ((input: string | URL | Request, init?: UpstreamInit) => Promise<Response>) & { runsBeforeSend?: boolean };

/** The `cause` of every TypeError the fetch rejects with or errors a body with (see above). */
export interface UpstreamFailure extends Error {
  code: string;
  requestSent: boolean;
}

/**
 * `close()` refuses waiting and later calls (ECLOSED) and destroys every pooled and
 * in-flight connection; `inFlight()` counts calls holding a slot, `waiting()` queued ones.
 */
export type UpstreamFetch = FetchWithHook & { close(): void; inFlight(): number; waiting(): number; runsBeforeSend: true };

/** What a body takes in ahead of its reader: enough for any status JSON. */
const BODY_BUFFER_BYTES = 64 * 1024;
/** Idle pooled sockets close after this, before common server keep-alive timeouts (Node's 5 s), so a reused one is rarely one the server is closing. */
const IDLE_SOCKET_MS = 4_000;
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

export function createUpstreamFetch(options: UpstreamFetchOptions): UpstreamFetch {
  checkOptions(options);
  const agentOptions = { keepAlive: true, maxSockets: options.maxConcurrent, timeout: IDLE_SOCKET_MS };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const limiter = new Limiter(options.maxConcurrent, options.maxPerSecond);

  async function upstreamFetch(input: string | URL | Request, init?: UpstreamInit): Promise<Response> {
    const signal = (init?.signal ?? (input instanceof Request ? input.signal : undefined)) ?? undefined;
    signal?.throwIfAborted();
    const { url, method, headers, body } = plainCall(input, init) ?? (await asRequest(input, init));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError('fetch failed', { cause: failure('ERR_INVALID_PROTOCOL', `Unsupported protocol ${url.protocol}`, false) });
    }
    headers['accept-encoding'] ??= 'identity';
    headers['user-agent'] ??= 'vidgate';
    if (body) headers['content-length'] = body.byteLength;
    const release = await limiter.acquire(signal);
    if (init?.beforeSend) {
      try {
        await init.beforeSend();
      } catch (error) {
        release();
        throw error;
      }
    }
    return send({ url, method, headers, body, signal, release, options, agents });
  }

  return Object.assign(upstreamFetch, {
    close(): void {
      limiter.close(new TypeError('fetch failed', { cause: failure('ECLOSED', 'The upstream fetch was closed', false) }));
      agents.http.destroy();
      agents.https.destroy();
    },
    inFlight: () => limiter.active,
    waiting: () => limiter.queue.length,
    runsBeforeSend: true as const,
  });
}

/** A call's parts as they go on the wire. */
interface Call {
  url: URL;
  method: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | undefined;
}

/** The methods fetch upper-cases whatever their case; any other it sends as written, or refuses. */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/**
 * The call as fetch's Request would make it, for what every adapter sends (a URL, a
 * string or byte body, plain headers), without making one. A Request (with the AbortSignal
 * it makes) and a queue place for every call made a status call cost about 175 µs of CPU
 * here, against 133 µs without them (64 calls at once to a local server). Null for anything
 * else, which goes through Request (asRequest); test/upstream-fetch.test.ts holds both to the
 * same bytes.
 */
function plainCall(input: string | URL | Request, init: UpstreamInit | undefined): Call | null {
  if (typeof input !== 'string' && !(input instanceof URL)) return null;
  const method = (init?.method ?? 'GET').toUpperCase();
  const given = init?.body;
  if (!NORMALISED_METHODS.has(method) || (given != null && (method === 'GET' || method === 'HEAD'))) return null;
  if (given != null && typeof given !== 'string' && !(given instanceof Uint8Array)) return null;
  const url = URL.parse(String(input));
  // Request refuses these with its own words.
  if (url === null || url.username !== '' || url.password !== '') return null;
  // Headers checks names and values as Request does, joins repeated ones and sorts them.
  const headers = new Headers(init?.headers);
  if (typeof given === 'string' && !headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
  const body = given == null ? undefined : typeof given === 'string' ? Buffer.from(given, 'utf8') : Buffer.from(given);
  return { url, method, headers: Object.fromEntries(headers), body };
}

/** Request normalises input, method, headers and body exactly as fetch does. */
async function asRequest(input: string | URL | Request, init: UpstreamInit | undefined): Promise<Call> {
  // Its own signal is left out: the caller's is watched directly, and a copy would only add listeners.
  const request = new Request(input, { ...init, signal: null, beforeSend: undefined } as RequestInit);
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  return { url: new URL(request.url), method: request.method, headers: Object.fromEntries(request.headers), body };
}

function checkOptions({ maxConcurrent, maxPerSecond, connectTimeoutMs, readTimeoutMs }: UpstreamFetchOptions): void {
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a positive integer, not ${maxConcurrent}`);
  if (!(maxPerSecond >= 0)) throw new RangeError(`maxPerSecond must be >= 0, not ${maxPerSecond}`);
  for (const [name, ms] of [['connectTimeoutMs', connectTimeoutMs], ['readTimeoutMs', readTimeoutMs]] as const) {
    // setTimeout turns anything above 2^31-1 ms (Infinity included) into 1 ms.
    if (!(ms > 0 && ms <= 2 ** 31 - 1)) throw new RangeError(`${name} must be between 1 and 2^31-1 ms, not ${ms}`);
  }
}

function failure(code: string, message: string, requestSent: boolean): UpstreamFailure {
  return Object.assign(new Error(message), { code, requestSent });
}

/** Node's error as the cause callers inspect: `code` always a string, `requestSent` set once. */
function asFailure(err: unknown, requestSent: boolean): UpstreamFailure {
  const error = (err instanceof Error ? err : new Error(String(err))) as Error & Partial<UpstreamFailure>;
  return Object.assign(error, { code: typeof error.code === 'string' ? error.code : 'EUNKNOWN', requestSent: error.requestSent ?? requestSent });
}

interface Exchange {
  url: URL;
  method: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | undefined;
  signal: AbortSignal | undefined;
  release: () => void;
  options: UpstreamFetchOptions;
  agents: { http: http.Agent; https: https.Agent };
}

/** One request on a slot already held; every way it ends releases the slot exactly once. */
function send({ url, method, headers, body, signal, release, options, agents }: Exchange): Promise<Response> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      release();
      reject(signal.reason);
      return;
    }
    const isHttps = url.protocol === 'https:';
    let req: ClientRequest;
    try {
      req = (isHttps ? https : http).request(url, { method, headers, agent: isHttps ? agents.https : agents.http });
    } catch (err) {
      // A header Node refuses (ERR_INVALID_CHAR…): nothing was sent.
      release();
      reject(new TypeError('fetch failed', { cause: asFailure(err, false) }));
      return;
    }
    let sent = false; // a connected socket: from here on the upstream may have the request
    let over = false;
    let response: IncomingMessage | undefined;
    let error: unknown; // what the caller sees, once the call has failed
    let timer: NodeJS.Timeout | undefined;

    const watch = (ms: number, cause: () => UpstreamFailure) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(cause()), ms);
    };
    const readTimeout = () => failure('ETIMEDOUT', `The upstream was silent for ${options.readTimeoutMs} ms`, true);
    const end = () => {
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      release();
    };
    const fail = (err: unknown) => {
      if (over) return;
      error = signal?.aborted ? signal.reason : new TypeError(response ? 'terminated' : 'fetch failed', { cause: asFailure(err, sent) });
      end();
      req.destroy();
      if (response) response.destroy();
      else reject(error);
    };
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    // Kept for the request's whole life: a late socket error must not be an unhandled 'error' event.
    req.on('error', fail);
    watch(options.connectTimeoutMs, () => failure('ECONNECT_TIMEOUT', `No connection within ${options.connectTimeoutMs} ms`, false));
    req.once('socket', (socket) => {
      const connected = () => {
        if (over) return;
        sent = true;
        watch(options.readTimeoutMs, readTimeout);
      };
      // A pooled socket is connected already; a new one is ready after TCP, or TLS too.
      if (!socket.connecting) connected();
      else socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', connected);
    });
    req.once('response', (res) => {
      res.on('error', fail);
      watch(options.readTimeoutMs, readTimeout);
      const nullBody = method === 'HEAD' || NULL_BODY_STATUSES.has(res.statusCode ?? 0);
      if (nullBody) {
        // Nothing to read: the (empty) message still has to end for the socket to go back to the pool.
        res.once('end', end);
        res.resume();
      }
      let result: Response;
      try {
        result = new Response(nullBody ? null : bodyStream(res), {
          status: res.statusCode,
          statusText: res.statusMessage,
          headers: headerPairs(res.rawHeaders),
        });
      } catch (err) {
        fail(failure('EBADRESPONSE', `Unusable response: ${String(err)}`, true));
        return;
      }
      Object.defineProperty(result, 'url', { value: url.href });
      response = res;
      resolve(result);
    });

    /**
     * Not Readable.toWeb: that hands Node's own errors to the reader unchanged, and this
     * source is where body silence is timed and every failure mapped.
     */
    const bodyStream = (res: IncomingMessage): globalThis.ReadableStream<Uint8Array> => {
      const chunks: AsyncIterator<Buffer> = res[Symbol.asyncIterator]();
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            try {
              const { done, value } = await chunks.next();
              if (done) {
                end();
                controller.close();
              } else {
                if (!over) timer?.refresh();
                controller.enqueue(value);
              }
            } catch (err) {
              fail(err);
              controller.error(error);
            }
          },
          cancel() {
            end();
            res.destroy();
          },
        },
        { highWaterMark: BODY_BUFFER_BYTES, size: (chunk) => chunk.byteLength },
      );
    };
    req.end(body);
  });
}

function headerPairs(raw: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/**
 * FIFO admission: a call starts when one of `max` slots is free and the start
 * rate allows. The bucket holds a single token, so starts are spaced 1/perSecond
 * apart: a deeper bucket would let a burst exceed the upstream's per-second limit.
 */
class Limiter {
  active = 0;
  readonly queue: { grant: () => void; refuse: (err: unknown) => void }[] = [];
  private readonly spacingMs: number;
  private nextStart = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed: unknown;

  constructor(
    private readonly max: number,
    perSecond: number,
  ) {
    this.spacingMs = perSecond > 0 ? 1000 / perSecond : 0;
  }

  /** Resolves with this call's release function; rejects with the signal's reason if aborted while waiting. */
  acquire(signal: AbortSignal | undefined): Promise<() => void> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    // A free slot, nobody ahead and no start to wait for: taken at once, without a place in the queue.
    if (this.queue.length === 0 && this.active < this.max && this.nextStart <= performance.now()) {
      this.nextStart = performance.now() + this.spacingMs;
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        reject(signal?.reason);
      };
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        refuse: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  close(err: unknown): void {
    this.closed = err;
    clearTimeout(this.timer);
    for (const waiter of this.queue.splice(0)) waiter.refuse(err);
  }

  private releaser(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.active--;
      this.pump();
    };
  }

  private pump(): void {
    while (this.queue.length > 0 && this.active < this.max) {
      const wait = this.nextStart - performance.now();
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.nextStart = performance.now() + this.spacingMs;
      this.active++;
      this.queue.shift()!.grant();
    }
  }
}
