import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Download links that work without an Authorization header (a browser <video src>, a
 * plain `curl -o`): an HMAC over the task id and expiry, so a link opens that one video
 * until it expires and nothing else.
 */
export class UrlSigner {
  constructor(private readonly secret: string) {}

  private signature(taskId: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${taskId}.${expires}`).digest('base64url');
  }

  contentUrl(base: string, taskId: string, expiresAtSeconds: number): string {
    return `${base}/v1/videos/${taskId}/content?expires=${expiresAtSeconds}&signature=${this.signature(taskId, expiresAtSeconds)}`;
  }

  verify(taskId: string, expires: string, signature: string, nowSeconds: number): 'valid' | 'expired' | 'invalid' {
    if (!/^\d{1,12}$/.test(expires)) return 'invalid';
    const expected = Buffer.from(this.signature(taskId, Number(expires)));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
    // The link's expiry is the video's, rounded down to the second: from that second on, it is spent.
    return Number(expires) <= nowSeconds ? 'expired' : 'valid';
  }
}
