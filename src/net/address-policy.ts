/**
 * Which network addresses a user-supplied URL may reach: only the public
 * internet, except for operator-listed `host:port` pairs.
 *
 * The decision is made on the address actually connected to. Names go through
 * `guardedLookup`, which refuses the connection if ANY address the name resolves
 * to is non-public; the socket then connects to exactly the addresses it
 * returned, so DNS rebinding between check and connect is impossible. Node never
 * calls `lookup` for IP literals, so `checkTarget` refuses non-public literals
 * before any connection is made.
 */
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { FetchError } from './fetch-error.ts';

/** What every refusal of a non-public address says, after what it refuses: "X points to …", "X resolves to …". */
export const NOT_PUBLIC = 'a private or reserved network address, which is not allowed';

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
          new FetchError('url_not_allowed', `The host "${hostname}" resolves to ${NOT_PUBLIC}.`),
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

function hostKey(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return `${url.hostname}:${port}`;
}

/**
 * How one hop may connect: `exempt` (listed host:port, connect without the
 * guard), `guarded` (connect through `guardedLookup`) or `refused`: a
 * non-public IP literal, which `lookup` would never see, or a name under
 * localhost, which is loopback whatever DNS says (RFC 6761), so that a URL is
 * refused as it is given rather than when it is first fetched.
 */
export type TargetVerdict = 'exempt' | 'guarded' | 'refused';

export function checkTarget(url: URL, allowed: ReadonlySet<string>): TargetVerdict {
  if (allowed.has(hostKey(url))) return 'exempt';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  // A name may end in the root's dot (`localhost.`); an IP literal never does (URL drops it).
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name === 'localhost' || name.endsWith('.localhost')) return 'refused';
  return isIP(host) !== 0 && !isPublicAddress(host) ? 'refused' : 'guarded';
}
