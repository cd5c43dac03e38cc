import { InvalidInput } from '../errors.ts';
import { checkTarget } from '../net/address-policy.ts';

const MAX_URL_LENGTH = 2048;

/**
 * A URL we may deliver events to: http(s), no credentials in it, and not a private address
 * written as such. A name that resolves to a private address passes here and is refused by
 * the guarded fetcher at each delivery (its address may change at any time).
 */
export function checkWebhookUrl(value: unknown, param: string, allowedPrivateHosts: ReadonlySet<string>): string {
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
  if (checkTarget(url, allowedPrivateHosts) === 'refused') throw new InvalidInput(`${param} points to a private or reserved network address, which is not allowed`, param, 'url_not_allowed');
  return url.href;
}
