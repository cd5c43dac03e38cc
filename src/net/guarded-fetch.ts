/**
 * The one guarded fetcher for every URL a user hands us (input images, videos,
 * later webhooks). It refuses destinations that are not on the public internet.
 *
 * Design:
 *  - URLs are parsed with WHATWG URL (which canonicalises odd IPv4 spellings such
 *    as `http://2130706433/` to `127.0.0.1`); only http:/https: without userinfo.
 *  - The check is made on the address actually connected to: requests go through
 *    an undici Agent whose connector (a) refuses non-public IP-literal hosts, which
 *    Node never passes to `lookup`, and (b) uses `guardedLookup`, which resolves
 *    the name and refuses the connection if ANY returned address is non-public.
 *    The socket connects to exactly the addresses that lookup returned, so DNS
 *    rebinding between check and connect is impossible. IP literals are also
 *    checked before any request is made.
 *  - `host:port` entries in `allowedPrivateHosts` go through a second, unguarded
 *    Agent instead (the exemption is per exact host:port, per hop).
 *  - Redirects are followed manually (`redirect: 'manual'`), each hop re-checked.
 *  - One AbortController per call carries the whole-transfer timeout and the
 *    caller's signal; agents are per call and destroyed at the end.
 */
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import ipaddr from 'ipaddr.js';
import { Agent, Headers, buildConnector, fetch } from 'undici';
import type { Response } from 'undici';

export type FetchErrorCode =
  | 'url_not_allowed'
  | 'url_invalid'
  | 'fetch_failed'
  | 'fetch_timeout'
  | 'too_large'
  | 'bad_status'
  | 'too_many_redirects';

export class FetchError extends Error {
  constructor(
    readonly code: FetchErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

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
// Address checks

/**
 * True only for globally routable unicast addresses (ipaddr.js range 'unicast'
 * after `ipaddr.process`, which unwraps IPv4-mapped IPv6). Everything else —
 * loopback, private, link-local (incl. 169.254.169.254), unique-local, CGNAT,
 * unspecified, multicast, broadcast, reserved, documentation, 6to4, Teredo,
 * NAT64 — and anything unparsable is refused.
 */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // Only canonical textual forms (what DNS and the URL parser produce); ipaddr.js
  // would also accept inet_aton spellings like "127.1" — refuse those outright.
  if (isIP(bare.split('%')[0] ?? '') === 0) return false;
  try {
    return ipaddr.process(bare).range() === 'unicast';
  } catch {
    return false;
  }
}

/** Resolves a host name to all of its addresses (the `all: true` form of dns.lookup). */
export type Resolver = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => callback(err, addresses ?? []));
};

/**
 * A `lookup` for net/tls.connect that refuses the connection if any address the
 * name resolves to is non-public. Exported (with an injectable resolver) for tests.
 */
export function createGuardedLookup(resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        notFound.code = 'ENOTFOUND';
        callback(notFound, '', 0);
        return;
      }
      if (!addresses.every((a) => isPublicAddress(a.address))) {
        // Deliberately not naming the address: it would leak internal DNS data.
        callback(
          new FetchError('url_not_allowed', `The host "${hostname}" resolves to a private or reserved network address, which is not allowed.`),
          '',
          0,
        );
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

export const guardedLookup: LookupFunction = createGuardedLookup();

// ---------------------------------------------------------------------------
// Allow list

/**
 * Parses "a:1, b:2" (commas and/or whitespace) into a set of canonical
 * "host:port" keys. Throws on entries without an explicit port.
 */
export function parseAllowedHosts(list: string | undefined): Set<string> {
  const result = new Set<string>();
  if (list === undefined) return result;
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^(\[[^\]]+\]|[^:/?#@[\]]+):(\d{1,5})$/.exec(entry);
    const port = m?.[2] === undefined ? NaN : Number(m[2]);
    if (!m || !(port >= 1 && port <= 65535)) {
      throw new Error(
        `Invalid allowed private host "${entry}": expected "host:port" with an explicit port ` +
          `(e.g. "minio:9000" or "[::1]:8080"; no scheme or path).`,
      );
    }
    let host: string;
    try {
      // Canonicalise the host exactly as URL will (lowercase, IPv4/IPv6 normal form).
      host = new URL(`http://${m[1]}/`).hostname;
    } catch {
      throw new Error(`Invalid allowed private host "${entry}": "${m[1]}" is not a valid host name or IP address.`);
    }
    result.add(`${host}:${port}`);
  }
  return result;
}

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

function hostKey(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return `${url.hostname}:${port}`;
}

/** Decides whether the hop may proceed and whether it is exempt from the guard. */
function checkTarget(url: URL, allowed: ReadonlySet<string>): { exempt: boolean } {
  if (allowed.has(hostKey(url))) return { exempt: true };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0 && !isPublicAddress(host)) {
    throw new FetchError('url_not_allowed', `${describeUrl(url)} points to a private or reserved network address, which is not allowed.`);
  }
  return { exempt: false };
}

// ---------------------------------------------------------------------------
// Per-call session: timeout, cancellation, agents

function createGuardedAgent(connectTimeout: number): Agent {
  const base = buildConnector({ lookup: guardedLookup, timeout: connectTimeout });
  return new Agent({
    connect: (opts, callback) => {
      // Node's net.connect skips `lookup` for IP literals, so check them here too
      // (undici passes IPv6 hosts without brackets).
      if (isIP(opts.hostname) !== 0 && !isPublicAddress(opts.hostname)) {
        callback(new FetchError('url_not_allowed', 'The URL points to a private or reserved network address, which is not allowed.'), null);
        return;
      }
      base(opts, callback);
    },
  });
}

class Session {
  readonly controller = new AbortController();
  timedOut = false;
  current: URL | undefined;
  private guarded: Agent | undefined;
  private plain: Agent | undefined;
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
  }

  agent(exempt: boolean): Agent {
    const connectTimeout = Math.max(1, this.options.timeoutMs);
    if (exempt) return (this.plain ??= new Agent({ connect: { timeout: connectTimeout } }));
    return (this.guarded ??= createGuardedAgent(connectTimeout));
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

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onUserAbort);
    const agents = [this.guarded, this.plain].filter((a): a is Agent => a !== undefined);
    await Promise.allSettled(agents.map((a) => a.destroy()));
  }
}

const REASONS: Record<string, string> = {
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'temporary DNS failure',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for response headers',
  UND_ERR_BODY_TIMEOUT: 'timed out waiting for the response body',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response body length did not match Content-Length',
};

/** A short, address-free reason (raw messages such as "connect ECONNREFUSED 10.1.2.3:80" leak internals). */
function networkReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') {
      if (REASONS[code]) return REASONS[code];
      if (/CERT|SSL|TLS/i.test(code)) return 'TLS/certificate error';
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
    await session.close();
  }
}

/** Follows redirects, re-checking every hop; returns the final 2xx response. */
async function openResponse(
  session: Session,
  input: string,
  options: GuardOptions & { headers?: Record<string, string> },
): Promise<{ response: Response; finalUrl: URL }> {
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const headers = new Headers({ 'accept-encoding': 'identity', 'user-agent': 'vidgate' });
  for (const [k, v] of Object.entries(options.headers ?? {})) headers.set(k, v);

  let url = parseUrl(input);
  for (let redirects = 0; ; redirects++) {
    session.current = url;
    const { exempt } = checkTarget(url, options.allowedPrivateHosts);
    const response = await fetch(url.href, {
      dispatcher: session.agent(exempt),
      redirect: 'manual',
      signal: session.controller.signal,
      headers,
    });

    if (REDIRECT_STATUSES.has(response.status) && response.headers.has('location')) {
      await response.body?.cancel().catch(() => {});
      if (redirects >= maxRedirects) {
        throw new FetchError('too_many_redirects', `Too many redirects (more than ${maxRedirects}) while fetching ${describeUrl(url)}.`);
      }
      const next = parseUrl(response.headers.get('location') ?? '', url);
      if (next.origin !== url.origin) for (const h of CROSS_ORIGIN_STRIPPED) headers.delete(h);
      url = next;
      continue;
    }

    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => {});
      throw new FetchError('bad_status', `${describeUrl(url)} responded with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`);
    }

    const length = response.headers.get('content-length');
    if (length !== null && /^\d+$/.test(length.trim()) && Number(length) > options.maxBytes) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge(url, options.maxBytes);
    }
    return { response, finalUrl: url };
  }
}

function tooLarge(url: URL, maxBytes: number): FetchError {
  return new FetchError('too_large', `${describeUrl(url)} is larger than the limit of ${maxBytes} bytes.`);
}

/** Yields the body as Buffers, failing with too_large once more than maxBytes arrived. */
async function* limitedBody(response: Response, url: URL, maxBytes: number): AsyncGenerator<Buffer> {
  if (response.body === null) return;
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(url, maxBytes);
    yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
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
    return { body: Buffer.concat(chunks), contentType: response.headers.get('content-type'), finalUrl: finalUrl.href };
  });
}

/**
 * Streams the body to `destinationPath` (via a temporary file in the same
 * directory, renamed on success). On any failure nothing is left behind.
 */
export async function downloadToFile(
  url: string,
  destinationPath: string,
  options: GuardOptions & { signal?: AbortSignal },
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
      return { size, contentType: response.headers.get('content-type') };
    });
    await rename(tempPath, destinationPath);
    done = true;
    return result;
  } finally {
    await handle.close().catch(() => {});
    if (!done) await rm(tempPath, { force: true }).catch(() => {});
  }
}
