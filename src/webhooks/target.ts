import { lookup } from 'node:dns/promises';
import { InvalidInput } from '../errors.ts';
import { checkTarget, isPublicAddress, NOT_PUBLIC } from '../net/address-policy.ts';

const MAX_URL_LENGTH = 2048;

/**
 * A URL we may deliver events to: http(s), no credentials in it, and a host that is public
 * now: an address written as such, or a name whose every address is. The guarded fetcher
 * checks again at each delivery, since a name's addresses may change at any time.
 */
export async function checkWebhookUrl(value: unknown, param: string, allowedPrivateHosts: ReadonlySet<string>): Promise<string> {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInput(`${param} must be a URL`, param);
  if (value.length > MAX_URL_LENGTH) throw new InvalidInput(`${param} is longer than ${MAX_URL_LENGTH} characters`, param);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInput(`${param} is not a valid URL`, param);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidInput(`${param} must be an http:// or https:// URL`, param);
  if (url.username !== '' || url.password !== '') throw new InvalidInput(`${param} must not carry credentials (user:password@)`, param);
  const verdict = checkTarget(url, allowedPrivateHosts);
  if (verdict === 'refused') throw notAllowed(param);
  if (verdict === 'guarded' && !/^\[?[\d.:a-f]+\]?$/i.test(url.hostname)) {
    let addresses: { address: string }[];
    try {
      addresses = await lookup(url.hostname, { all: true });
    } catch {
      throw new InvalidInput(`${param}: the host ${url.hostname} cannot be resolved`, param, 'url_unresolvable');
    }
    if (addresses.some(({ address }) => !isPublicAddress(address))) throw notAllowed(param);
  }
  return url.href;
}

const notAllowed = (param: string) => new InvalidInput(`${param} points to ${NOT_PUBLIC}`, param, 'url_not_allowed');
