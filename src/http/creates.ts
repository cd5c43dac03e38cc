import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { InvalidInput, NotFound } from '../errors.ts';
import { checkWebhookUrl } from '../webhooks/target.ts';
import { invalidRequest } from './errors.ts';
import type { RouteDependencies } from './routes.ts';

/** What every route that makes a task shares, whichever API shape it speaks. */

export function readIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw invalidRequest('Idempotency-Key must be 1 to 255 visible ASCII characters', 'Idempotency-Key');
  }
  return header;
}

/**
 * The preHandler that counts a create against its key's one budget (app.ts registers the
 * limit). Every create route takes this hook with the plugin's own store, not a per-route
 * `config.rateLimit`: the plugin gives each configured route a store of its own, groupId or
 * not (fastify/fastify-rate-limit#463), and a key got its budget once per create route.
 */
export function createRateLimit(app: FastifyInstance): preHandlerAsyncHookHandler {
  return app.rateLimit();
}

/**
 * `callback_url` is the gateway's, not the model's: taken out of the body before the
 * catalog reads it, and checked as a webhook URL.
 */
export async function takeCallbackUrl<B>(body: B, allowedPrivateHosts: ReadonlySet<string>): Promise<{ rest: B; callbackUrl: string | null }> {
  if (typeof body !== 'object' || body === null || !('callback_url' in body)) return { rest: body, callbackUrl: null };
  const { callback_url: value, ...rest } = body as Record<string, unknown>;
  return { rest: rest as B, callbackUrl: await checkWebhookUrl(value, 'callback_url', allowedPrivateHosts) };
}

/**
 * A video given by a content link of ours (the `video.url` or `metadata.url` of an earlier
 * answer, as an SDK passes it on) is read as the key's own video by id: no download of our
 * own file through the network, and its length is known. A link of ours that no longer
 * opens (expired, or altered) is refused here, not after a failed download. Another key's
 * link that opens is left as a URL: anyone holding it may fetch it.
 */
export async function ownVideoByLink(body: Record<string, unknown>, key: string, param: string, request: FastifyRequest, { signer, tasks, config }: RouteDependencies): Promise<void> {
  const given = body[key];
  // The link as a string, or as {"url": …} alone (as the OpenAI edit routes take a video too);
  // with any other key beside it, it is left for validation to refuse by name, not dropped.
  const wrapped = typeof given === 'object' && given !== null && !Array.isArray(given) && Object.keys(given).length === 1 && typeof (given as { url?: unknown }).url === 'string';
  const link = wrapped ? (given as { url: string }).url : given;
  if (wrapped && !param.endsWith('.url')) param = `${param}.url`;
  if (typeof link !== 'string') return;
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return;
  }
  const ours = config.publicUrl !== null ? url.origin === new URL(config.publicUrl).origin : url.host === request.host;
  if (!ours || !/^\/v1\/videos\/[^/]+\/content$/.test(url.pathname)) return;
  const id = signer.videoOfContentUrl(link, Math.floor(Date.now() / 1000));
  if (id === null) throw new InvalidInput(`${param} is a link to a video here that has expired or is not valid; give the video as {"id": "video_…"} or a fresh link`, param, 'invalid_link');
  if ((await tasks.find(request.keyId, id)) !== undefined) {
    body[key] = { id };
    return;
  }
  // Another key's video is fetched by its link as any URL; a deleted one's link leads nowhere.
  const gone = await tasks.byId(id).then(
    () => false,
    (error: unknown) => {
      if (error instanceof NotFound) return true;
      throw error;
    },
  );
  if (gone) {
    throw new InvalidInput(`${param} is a link to a video here that no longer exists`, param, 'invalid_link');
  }
}
