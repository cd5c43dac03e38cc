import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Links that work without an Authorization header: an HMAC over what the link opens and
 * its expiry, so a link opens that one thing until it expires and nothing else. Three
 * kinds: a video's content (a browser <video src>, a plain `curl -o`), a task's input
 * handed to an upstream that cannot take it inline, and the callback an upstream calls.
 */
export class UrlSigner {
  constructor(private readonly secret: string) {}

  /** Subjects are distinct per kind (`<task>`, `input:<task>/<file>`, `callback:<task>`), so no link opens another kind. */
  private signature(subject: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${subject}.${expires}`).digest('base64url');
  }

  private query(subject: string, expiresAtSeconds: number): string {
    return `expires=${expiresAtSeconds}&signature=${this.signature(subject, expiresAtSeconds)}`;
  }

  contentUrl(base: string, taskId: string, expiresAtSeconds: number): string {
    return `${base}/v1/videos/${taskId}/content?${this.query(taskId, expiresAtSeconds)}`;
  }

  /** The video a content link of ours opens, while it is good; null for any other URL. */
  videoOfContentUrl(text: string, nowSeconds: number): string | null {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return null;
    }
    const id = /^\/v1\/videos\/([\w-]{1,64})\/content$/.exec(url.pathname)?.[1];
    const expires = url.searchParams.get('expires');
    const signature = url.searchParams.get('signature');
    if (id === undefined || expires === null || signature === null) return null;
    return this.verify(id, expires, signature, nowSeconds) === 'valid' ? id : null;
  }

  inputUrl(base: string, taskId: string, file: string, expiresAtSeconds: number): string {
    return `${base}/v1/inputs/${taskId}/${file}?${this.query(inputSubject(taskId, file), expiresAtSeconds)}`;
  }

  callbackUrl(base: string, taskId: string, expiresAtSeconds: number): string {
    return `${base}/v1/upstream-callbacks/${taskId}?${this.query(callbackSubject(taskId), expiresAtSeconds)}`;
  }

  verify(subject: string, expires: string, signature: string, nowSeconds: number): 'valid' | 'expired' | 'invalid' {
    if (!/^\d{1,12}$/.test(expires)) return 'invalid';
    const expected = Buffer.from(this.signature(subject, Number(expires)));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
    // The link's expiry is rounded down to the second: from that second on, it is spent.
    return Number(expires) <= nowSeconds ? 'expired' : 'valid';
  }
}

export const inputSubject = (taskId: string, file: string): string => `input:${taskId}/${file}`;
export const callbackSubject = (taskId: string): string => `callback:${taskId}`;
