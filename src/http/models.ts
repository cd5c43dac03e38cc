import type { FastifyInstance } from 'fastify';
import type { ModelPrice } from '../billing/prices.ts';
import { DIALECTS, type Slot } from '../catalog/dialects.ts';
import { type Family, MODELS, findModel } from '../catalog/models.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireApiKey } from './auth.ts';
import { invalidRequest } from './errors.ts';
import { buildOpenApi } from './openapi.ts';

const CATALOG_CREATED = Math.floor(Date.UTC(2026, 0, 1) / 1000);

function servedBy(channels: string[]) {
  if (channels.length > 0) return { served_by: 'upstream', channels };
  return {
    served_by: 'local-preview',
    channels,
    note: 'Served by the local preview renderer: real MP4s that show the prompt and inputs, not AI-generated footage',
  };
}

const FIELD_NAMES: Partial<Record<Slot, string>> = {
  prompt: 'prompt',
  duration: 'duration',
  resolution: 'resolution',
  aspectRatio: 'aspect_ratio',
  image: 'image',
  lastImage: 'last_image',
  images: 'images',
  video: 'video',
  videos: 'videos',
};

/** Our input names → the body keys this family reads them from (its first name for each). */
function requestFields(family: Family): Record<string, string> {
  const keys = DIALECTS[family].keys;
  return Object.fromEntries(
    Object.entries(FIELD_NAMES).flatMap(([slot, name]) => {
      const key = keys[slot as Slot]?.[0];
      return key ? [[name, key]] : [];
    }),
  );
}

/** A model's price, in micro-dollars (1 USD = 1,000,000). */
function pricing(price: ModelPrice) {
  return {
    currency: 'USD',
    unit: 'micro',
    per_second: Object.fromEntries(Object.entries(price.perSecond).map(([tier, rate]) => [`${tier}p`, rate])),
    per_input_video_second: price.perInputVideoSecond,
    per_input_image: price.perInputImage,
    off_peak_discount_percent: price.offPeakDiscountPercent,
  };
}

/** The catalog as an OpenAI model list, each entry with what it accepts. */
export function registerModelRoutes(app: FastifyInstance, routes: RouteTable, { keys, channelsFor, config }: RouteDependencies): void {
  const onRequest = requireApiKey(keys);
  const list = {
    object: 'list',
    data: MODELS.map((model) => ({
      id: model.id,
      object: 'model',
      created: CATALOG_CREATED,
      owned_by: 'vidgate',
      description: model.description,
      // Which channels serve it, by name (never their URLs or keys); none: the local preview renderer.
      ...servedBy(channelsFor(model.id)),
      capabilities: Object.fromEntries(
        Object.entries(model.capabilities).map(([capability, rule]) => [
          capability,
          {
            duration: rule.duration === 'forbidden' ? null : { min: rule.duration.min, max: rule.duration.max, default: rule.duration.default ?? null },
            aspect_ratios: typeof rule.aspectRatios === 'string' ? rule.aspectRatios : rule.aspectRatios.allowed,
            custom_aspect_ratios: typeof rule.aspectRatios === 'object' && rule.aspectRatios.custom === true,
            resolutions:
              rule.resolution === 'forbidden' ? [] : model.resolutions.map((side) => `${side}${model.resolutionSuffix}`),
            inputs: {
              image: rule.image === true,
              last_image: rule.lastImage === true,
              images: rule.images ?? null,
              video: rule.video === true,
              videos: rule.videos ?? null,
              input_video_seconds: rule.inputVideoSeconds ?? null,
            },
            // Edits and extensions have routes of their own; the other capabilities follow from the inputs sent.
            route: capability === 'edit_video' ? '/v1/videos/edits' : capability === 'video_extend' ? '/v1/videos/extensions' : '/v1/videos',
          },
        ]),
      ),
      // The body key this model's dialect reads each input from (the first it accepts).
      fields: requestFields(model.family),
      prompt_max_length: model.promptMaxLength,
      pricing: pricing(config.prices.get(model.id)!),
    })),
  };

  app.get('/v1/models', { onRequest }, async () => list);
  // Seed 001, common errors: a video model sent to the image endpoint is pointed to /v1/videos.
  app.post('/v1/images/generations', { onRequest }, async (request) => {
    const model = (request.body as { model?: unknown } | null)?.model;
    if (typeof model === 'string' && findModel(model)) {
      throw invalidRequest(`${model} is a video model: create videos with POST /v1/videos`, 'model', 'wrong_endpoint');
    }
    throw invalidRequest(`The model '${String(model ?? '')}' does not exist; this gateway serves video models (GET /v1/models)`, 'model', 'model_not_found');
  });
  const document = buildOpenApi();
  app.get('/openapi.json', async () => document);
  routes.note('/openapi.json', 'GET');
  routes.note('/v1/models', 'GET');
  routes.note('/v1/images/generations', 'POST');
}
