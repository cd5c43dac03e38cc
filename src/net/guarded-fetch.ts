/**
 * The one guarded fetcher for every URL a user hands us (input images, videos,
 * later webhooks): the transfer, with redirects and size and time limits. Which
 * destinations a hop may reach is decided in address-policy.ts.
 *
 * Design:
 *  - URLs are parsed with WHATWG URL (which canonicalises odd IPv4 spellings such
 *    as `http://2130706433/` to `127.0.0.1`); only http:/https: without userinfo.
 *  - Transfers use node:http/https rather than undici: undici 7 crashes the whole
 *    process with an uncatchable `assert(!this.paused)` when a server ends the
 *    body by closing the connection (HTTP/1.0, `python3 -m http.server`,
 *    nodejs/undici#5360), and its fix needs Node >= 22.19.
 *  - Guarded hops connect with `lookup: guardedLookup`; IP literals, which Node
 *    never passes to `lookup`, are refused by `checkTarget` before connecting.
 *  - Every request gets its own connection (`agent: false`): a pooled socket
 *    would skip the lookup that guards the next hop.
 *  - Redirects are followed manually, each hop re-checked.
 *  - One AbortController per call carries the whole-transfer timeout and the
 *    caller's signal, and tears down whatever request or body is in flight.
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { checkTarget, guardedLookup, NOT_PUBLIC } from './address-policy.ts';
import { FetchError } from './fetch-error.ts';

// Callers know the fetcher's failures by this one name.
export { FetchError, type FetchErrorCode } from './fetch-error.ts';

export interface GuardOptions {
  /** Entries "host:port" (lowercase host; IPv6 as "[::1]:8080"), exempt from the private-address block. */
  allowedPrivateHosts: ReadonlySet<string>;
  maxBytes: number;
  /** Whole request including body. */
  timeoutMs: number;
  /** Default 5. */
  maxRedirects?: number;
}

const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers not forwarded when a redirect leaves the original origin. */
const CROSS_ORIGIN_STRIPPED = ['authorization', 'cookie', 'proxy-authorization'];

// ---------------------------------------------------------------------------
// URL handling

/** A URL safe to show an end user: no userinfo, query or fragment; bounded length. */
function describeUrl(url: URL): string {
  const s = `${url.protocol}//${url.host}${url.pathname}`;
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function parseUrl(input: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(input, base);
  } catch {
    // Never echo the raw input: it may carry secrets.
    throw new FetchError('url_invalid', base ? `The server at ${describeUrl(base)} redirected to an invalid URL.` : 'The URL is not valid.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const where = base ? `The server at ${describeUrl(base)} redirected to` : 'Only http:// and https:// URLs are supported, not';
    throw new FetchError('url_invalid', `${where} a "${url.protocol}" URL${base ? ', which is not supported' : ''}.`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new FetchError('url_invalid', 'URLs containing credentials (user:password@host) are not accepted.');
  }
  return url;
}

// ---------------------------------------------------------------------------
// Per-call session: timeout, cancellation, the requests in flight

class Session {
  private readonly controller = new AbortController();
  timedOut = false;
  current: URL | undefined;
  private readonly requests = new Set<ClientRequest>();
  private readonly responses = new Set<IncomingMessage>();
  private readonly timer: NodeJS.Timeout;
  private readonly onUserAbort: () => void;
  /** Errors from local disk I/O: rethrown as they are, not mapped to fetch errors. */
  readonly localErrors = new WeakSet<object>();

  constructor(
    private readonly options: GuardOptions & { signal?: AbortSignal },
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(this.timeoutError());
    }, options.timeoutMs);
    this.onUserAbort = () => this.controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', this.onUserAbort, { once: true });
    // A body that has fully arrived outlives its socket, so aborting the request
    // alone would let a slow consumer (the disk) run past the deadline.
    this.controller.signal.addEventListener('abort', () => {
      for (const response of this.responses) response.destroy(this.controller.signal.reason);
    });
  }

  /** Sends one request (a GET unless a body is given) and resolves with the response head; the body is left to the caller. */
  send(url: URL, exempt: boolean, headers: OutgoingHttpHeaders, body?: Buffer): Promise<IncomingMessage> {
    this.controller.signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? headers : { ...headers, 'content-length': body.byteLength },
        agent: false,
        signal: this.controller.signal,
        ...(exempt ? {} : { lookup: guardedLookup }),
      });
      this.requests.add(request);
      // Kept for the request's whole life: a socket error after the response
      // head would otherwise be an unhandled 'error' event. Body errors reach
      // the reader through the response stream.
      request.on('error', reject);
      request.on('response', (response) => {
        // Same reason: a response destroyed while nobody reads it must not crash.
        response.on('error', () => {});
        this.responses.add(response);
        resolve(response);
      });
      request.end(body);
    });
  }

  private timeoutError(): FetchError {
    const where = this.current ? ` fetching ${describeUrl(this.current)}` : '';
    return new FetchError('fetch_timeout', `Timed out after ${this.options.timeoutMs} ms${where}.`);
  }

  mapError(err: unknown): unknown {
    if (this.timedOut) return this.timeoutError();
    const userSignal = this.options.signal;
    if (userSignal?.aborted) return userSignal.reason;
    if (typeof err === 'object' && err !== null && this.localErrors.has(err)) return err;
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
      if (e instanceof FetchError) return e;
    }
    return new FetchError('fetch_failed', `Could not fetch ${this.current ? describeUrl(this.current) : 'the URL'}: ${networkReason(err)}.`);
  }

  close(): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onUserAbort);
    for (const response of this.responses) response.destroy();
    for (const request of this.requests) request.destroy();
  }
}

/** Our own code for a body that stopped before its end; Node reports it only as ECONNRESET "aborted". */
const BODY_INCOMPLETE = 'BODY_INCOMPLETE';

const REASONS: Record<string, string> = {
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'temporary DNS failure',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  [BODY_INCOMPLETE]: 'the connection closed before the whole body arrived',
};

/** A short, address-free reason (raw messages such as "connect ECONNREFUSED 10.1.2.3:80" leak internals). */
function networkReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') {
      if (REASONS[code]) return REASONS[code];
      if (/CERT|SSL|TLS/i.test(code)) return 'TLS/certificate error';
      if (code.startsWith('HPE_')) return 'malformed HTTP response';
      return `network error (${code})`;
    }
  }
  return 'network error';
}

async function withSession<T>(
  options: GuardOptions & { signal?: AbortSignal },
  fn: (session: Session) => Promise<T>,
): Promise<T> {
  options.signal?.throwIfAborted();
  const session = new Session(options);
  try {
    return await fn(session);
  } catch (err) {
    throw session.mapError(err);
  } finally {
    session.close();
  }
}

/** Follows redirects, re-checking every hop; returns the final 2xx response. */
async function openResponse(
  session: Session,
  input: string,
  options: GuardOptions & { headers?: Record<string, string> },
): Promise<{ response: IncomingMessage; finalUrl: URL }> {
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  // Lowercase keys, so that a caller's "Authorization" is stripped like "authorization".
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'vidgate' };
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;

  let url = parseUrl(input);
  for (let redirects = 0; ; redirects++) {
    session.current = url;
    const verdict = checkTarget(url, options.allowedPrivateHosts);
    if (verdict === 'refused') {
      throw new FetchError('url_not_allowed', `${describeUrl(url)} points to ${NOT_PUBLIC}.`);
    }
    const response = await session.send(url, verdict === 'exempt', headers);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;

    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      response.destroy();
      if (redirects >= maxRedirects) {
        throw new FetchError('too_many_redirects', `Too many redirects (more than ${maxRedirects}) while fetching ${describeUrl(url)}.`);
      }
      const next = parseUrl(location, url);
      if (next.origin !== url.origin) for (const h of CROSS_ORIGIN_STRIPPED) delete headers[h];
      url = next;
      continue;
    }

    if (status < 200 || status > 299) {
      response.destroy();
      const text = response.statusMessage ? ` ${response.statusMessage}` : '';
      throw new FetchError('bad_status', `${describeUrl(url)} responded with HTTP ${status}${text}.`);
    }

    const length = response.headers['content-length'];
    if (length !== undefined && /^\d+$/.test(length.trim()) && Number(length) > options.maxBytes) {
      response.destroy();
      throw tooLarge(url, options.maxBytes);
    }
    return { response, finalUrl: url };
  }
}

function tooLarge(url: URL, maxBytes: number): FetchError {
  return new FetchError('too_large', `${describeUrl(url)} is larger than the limit of ${maxBytes} bytes.`);
}

/** Yields the body as Buffers, failing with too_large once more than maxBytes arrived. */
async function* limitedBody(response: IncomingMessage, url: URL, maxBytes: number): AsyncGenerator<Buffer> {
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge(url, maxBytes);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof FetchError || response.complete) throw err;
    // Without this a truncated body would read as a bare "connection reset".
    throw Object.assign(new Error('response body incomplete', { cause: err }), { code: BODY_INCOMPLETE });
  }
}

function contentTypeOf(response: IncomingMessage): string | null {
  return response.headers['content-type'] ?? null;
}

// ---------------------------------------------------------------------------
// Public API

export async function guardedFetch(
  url: string,
  options: GuardOptions & { headers?: Record<string, string>; signal?: AbortSignal },
): Promise<{ body: Buffer; contentType: string | null; finalUrl: string }> {
  return withSession(options, async (session) => {
    const { response, finalUrl } = await openResponse(session, url, options);
    const chunks: Buffer[] = [];
    for await (const chunk of limitedBody(response, finalUrl, options.maxBytes)) chunks.push(chunk);
    return { body: Buffer.concat(chunks), contentType: contentTypeOf(response), finalUrl: finalUrl.href };
  });
}

/**
 * POSTs `body` to a user's URL (a webhook) and answers the status of whatever answered.
 * Redirects are not followed: a POST that moved is a failed delivery, as Standard Webhooks
 * has it. The answer's body is not read.
 */
export async function guardedPost(
  url: string,
  body: Buffer,
  options: Omit<GuardOptions, 'maxBytes' | 'maxRedirects'> & { headers: Record<string, string>; signal?: AbortSignal },
): Promise<{ status: number }> {
  // Nothing of the answer is read: no byte limit applies.
  return withSession({ ...options, maxBytes: 0 }, async (session) => {
    const target = parseUrl(url);
    session.current = target;
    const verdict = checkTarget(target, options.allowedPrivateHosts);
    if (verdict === 'refused') {
      throw new FetchError('url_not_allowed', `${describeUrl(target)} points to ${NOT_PUBLIC}.`);
    }
    const response = await session.send(target, verdict === 'exempt', { 'user-agent': 'vidgate', ...options.headers }, body);
    // The status is the answer; the body is never read (the session's close drops it).
    return { status: response.statusCode ?? 0 };
  });
}

/**
 * Streams the body to `destinationPath` (via a temporary file in the same
 * directory, renamed on success). On any failure nothing is left behind.
 */
export async function downloadToFile(
  url: string,
  destinationPath: string,
  options: GuardOptions & { headers?: Record<string, string>; signal?: AbortSignal },
): Promise<{ size: number; contentType: string | null }> {
  const tempPath = join(dirname(destinationPath), `.${basename(destinationPath)}.${randomBytes(6).toString('hex')}.part`);
  // Local errors (missing directory, permissions) surface before any network I/O, unchanged.
  const handle = await open(tempPath, 'wx');
  let done = false;
  try {
    const result = await withSession(options, async (session) => {
      const { response, finalUrl } = await openResponse(session, url, options);
      const out = handle.createWriteStream();
      out.on('error', (err) => session.localErrors.add(err));
      let size = 0;
      await pipeline(
        (async function* () {
          for await (const chunk of limitedBody(response, finalUrl, options.maxBytes)) {
            size += chunk.byteLength;
            yield chunk;
          }
        })(),
        out,
      );
      return { size, contentType: contentTypeOf(response) };
    });
    await rename(tempPath, destinationPath);
    done = true;
    return result;
  } finally {
    await handle.close().catch(() => {});
    if (!done) await rm(tempPath, { force: true }).catch(() => {});
  }
}
