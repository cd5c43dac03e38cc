import { z } from 'zod';
import { DIALECTS, type Slot } from '../catalog/dialects.ts';
import { IGNORED_FIELDS } from '../catalog/fields.ts';
import { MODELS, type Family, type ModelSpec, type Range } from '../catalog/models.ts';
import { SLOT_TYPES } from '../catalog/slot-types.ts';
import type { Capability } from '../catalog/types.ts';

/**
 * The OpenAPI 3.1 document (GET /openapi.json), generated from what validates requests:
 * each field's type from SLOT_TYPES, its names from the family's dialect, its ranges and
 * choices from the model catalog. A create body is one of the families' schemas; like the
 * routes, each refuses a field it does not list (the ignored ones are listed as such).
 */
type JsonSchema = Record<string, unknown>;

function typeOf(slot: Slot): JsonSchema {
  const { $schema: _, ...schema } = z.toJSONSchema(SLOT_TYPES[slot].schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return schema;
}

/** Puts bounds on the integer branch of an integer-or-numeric-string schema. */
function bounded(schema: JsonSchema, min: number, max: number): JsonSchema {
  const branches = (schema.anyOf as JsonSchema[] | undefined) ?? [schema];
  const limited = branches.map((branch) => (branch.type === 'integer' ? { ...branch, minimum: min, maximum: max } : branch));
  return { ...schema, ...(schema.anyOf ? { anyOf: limited } : limited[0]), description: `${min} to ${max} (depends on the capability)` };
}

/** An integer field bounded by the widest of the catalog's ranges for it. */
function spanning(slot: Slot, ranges: Range[]): JsonSchema {
  if (ranges.length === 0) return {};
  return bounded(typeOf(slot), Math.min(...ranges.map((range) => range.min)), Math.max(...ranges.map((range) => range.max)));
}

/** What the catalog says of a field across a family's models and capabilities. */
function constraints(slot: Slot, models: ModelSpec[]): JsonSchema {
  const rules = models.flatMap((model) => Object.values(model.capabilities));
  switch (slot) {
    case 'prompt':
      return { minLength: 1, maxLength: Math.max(...models.map((model) => model.promptMaxLength)) };
    case 'duration':
      return spanning(slot, rules.flatMap((rule) => (rule.duration === 'forbidden' ? [] : [rule.duration])));
    case 'inputVideoSeconds':
      return spanning(slot, rules.flatMap((rule) => (rule.inputVideoSeconds ? [rule.inputVideoSeconds] : [])));
    case 'seed':
      return bounded(typeOf(slot), 0, 2 ** 31 - 1);
    case 'aspectRatio': {
      const lists = rules.flatMap((rule) => (typeof rule.aspectRatios === 'object' ? [rule.aspectRatios] : []));
      const presets = [...new Set(lists.flatMap((list) => list.allowed))];
      return lists.some((list) => list.custom) ? { examples: presets, pattern: '^(auto|\\d+(\\.\\d+)?:\\d+(\\.\\d+)?)$' } : { enum: presets };
    }
    case 'resolution': {
      const tiers = [...new Set(models.flatMap((model) => model.resolutions.map((side) => `${side}${model.resolutionSuffix}`)))];
      return { examples: tiers, pattern: '^(\\d{3,4}[pP]?|\\d{2,5}[xX×]\\d{2,5})$', description: `a tier (${tiers.join(', ')}) or WIDTHxHEIGHT` };
    }
    default:
      return {};
  }
}

/** Fields that change nothing, listed so that a closed schema accepts them as the routes do; and the gateway's own callback_url. */
const ignored = {
  ...Object.fromEntries(IGNORED_FIELDS.map((field) => [field, { description: 'Accepted and ignored: it changes nothing about the video' }])),
  callback_url: { type: 'string', format: 'uri', maxLength: 2048, description: "Where this task's end is also announced (video.completed, video.failed, video.cancelled), signed with the key's callback secret" },
};

const CLOSED = `A field not listed here is refused (400, code unsupported_parameter); ${IGNORED_FIELDS.join(' and ')} are accepted and ignored.`;

/**
 * One family's request body. The edit and extension routes take a family's body without
 * `model` (the route picks one), limited to the models that offer their capability.
 */
function requestSchema(family: Family, only?: Capability): JsonSchema {
  const models = MODELS.filter((model) => model.family === family && (!only || model.capabilities[only]));
  const properties: Record<string, JsonSchema> = { model: { type: 'string', enum: models.map((model) => model.id) } };
  const extra: Record<string, JsonSchema> = {};
  for (const [slot, keys] of Object.entries(DIALECTS[family].keys) as [Slot, readonly string[]][]) {
    // The bounded integer schemas replace the plain type; the others add to it.
    const fixed = constraints(slot, models);
    const schema = fixed.anyOf || fixed.type ? fixed : { ...typeOf(slot), ...fixed };
    for (const key of keys) {
      if (key.startsWith('extra_body.')) extra[key.slice('extra_body.'.length)] = schema;
      // A repeatable key (multipart input_reference) holds one image or a list of them.
      else properties[key] ??= DIALECTS[family].oneOrMany?.includes(key) ? typeOf('images') : schema;
    }
  }
  properties.extra_body = { type: 'object', properties: extra, additionalProperties: false };
  return {
    type: 'object',
    title: only ? `${family} ${only} request` : `${family} request`,
    description: CLOSED,
    required: only ? ['prompt'] : ['model', 'prompt'],
    properties: { ...properties, ...ignored },
    additionalProperties: false,
  };
}

const FAMILIES = [...new Set(MODELS.map((model) => model.family))];

/** The body of the edit or extension route: any family that offers the capability (anyOf: with no model, several may fit). */
function routedSchema(capability: Capability): JsonSchema {
  const families = FAMILIES.filter((family) => MODELS.some((model) => model.family === family && model.capabilities[capability]));
  return { anyOf: families.map((family) => requestSchema(family, capability)) };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });
const errors = { '4XX': { description: 'An error', ...json(ref('Error')) } };
const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const bodyOf = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) }, 'multipart/form-data': { schema: ref(name) } } });
const createBody = bodyOf('CreateVideoRequest');
const idempotency = { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } };
const videoAnswer = { '200': { description: 'The video object', ...json(ref('Video')) }, ...errors };

const quoteAnswer = { '200': { description: 'What the create would be quoted at; nothing is made, stored or held', ...json(ref('VideoQuote')) }, ...errors };
const quote = (summary: string, body: JsonSchema) => ({ post: { summary, requestBody: body, responses: quoteAnswer } });

function create(summary: string, body: JsonSchema = createBody) {
  return { post: { summary, parameters: [idempotency], requestBody: body, responses: videoAnswer } };
}

export function buildOpenApi(): JsonSchema {
  return {
    openapi: '3.1.0',
    info: { title: 'vidgate', version: '0.1.0', description: 'OpenAI-style video task API' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        CreateVideoRequest: { oneOf: FAMILIES.map((family) => ref(`Create_${family}`)) },
        ...Object.fromEntries(FAMILIES.map((family) => [`Create_${family}`, requestSchema(family)])),
        EditVideoRequest: routedSchema('edit_video'),
        ExtendVideoRequest: routedSchema('video_extend'),
        RemixRequest: {
          type: 'object',
          description: `A remix keeps the source video's model, inputs and settings. ${CLOSED}`,
          required: ['prompt'],
          properties: { prompt: typeOf('prompt'), ...ignored },
          additionalProperties: false,
        },
        Video: {
          type: 'object',
          required: ['id', 'object', 'model', 'status', 'progress', 'created_at', 'completed_at', 'expires_at', 'prompt', 'seconds', 'size', 'error', 'remixed_from_video_id'],
          properties: {
            id: { type: 'string' },
            task_id: { type: 'string' },
            request_id: { type: ['string', 'null'], description: 'the x-request-id of the request that created it' },
            object: { enum: ['video', 'video.generation.job'] },
            model: { type: 'string' },
            status: { enum: ['queued', 'in_progress', 'completed', 'failed', 'cancelled'] },
            progress: { type: 'integer', minimum: 0, maximum: 100 },
            created_at: { type: 'integer' },
            completed_at: { type: ['integer', 'null'] },
            expires_at: { type: ['integer', 'null'] },
            prompt: { type: 'string' },
            seconds: { type: ['string', 'null'] },
            size: { type: ['string', 'null'] },
            error: { oneOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }] },
            remixed_from_video_id: { type: ['string', 'null'] },
            video_url: { type: 'string' },
            metadata: { type: 'object', properties: { url: { type: 'string' } } },
            warnings: { type: 'array', items: { type: 'string' } },
          },
        },
        VideoQuote: {
          type: 'object',
          required: ['object', 'model', 'capability', 'currency', 'unit', 'price', 'basis', 'warnings'],
          properties: {
            object: { const: 'video.quote' },
            model: { type: 'string' },
            capability: { type: 'string' },
            currency: { const: 'USD' },
            unit: { const: 'micro', description: 'micro-dollars: 1 USD = 1,000,000' },
            price: { type: 'integer', description: 'the most the task can cost: what a metered key would hold' },
            basis: {
              type: 'object',
              properties: { output_seconds: { type: 'number' }, input_video_seconds: { type: 'number' }, input_images: { type: 'integer' }, tier: { type: 'string' } },
            },
            warnings: { type: 'array', items: { type: 'string' } },
          },
        },
        VideoList: {
          type: 'object',
          properties: { object: { const: 'list' }, data: { type: 'array', items: ref('Video') }, first_id: { type: ['string', 'null'] }, last_id: { type: ['string', 'null'] }, has_more: { type: 'boolean' } },
        },
        WebhookEndpoint: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            object: { const: 'webhook_endpoint' },
            url: { type: 'string' },
            events: { type: 'array', items: { type: 'string' } },
            created_at: { type: 'integer' },
            secret: { type: 'string', description: 'whsec_…: in the answer to its creation only' },
          },
        },
        DeliveryList: {
          type: 'object',
          properties: {
            object: { const: 'list' },
            data: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  object: { const: 'webhook.delivery' },
                  event_id: { type: 'string', description: 'also the webhook-id header: the same at every attempt' },
                  type: { enum: ['video.completed', 'video.failed', 'video.cancelled'] },
                  video_id: { type: 'string' },
                  webhook_id: { type: ['string', 'null'], description: "null: the video's callback_url" },
                  url: { type: 'string' },
                  status: { enum: ['pending', 'delivered', 'failed', 'cancelled'] },
                  attempts: { type: 'integer' },
                  last_status_code: { type: ['integer', 'null'] },
                  last_error: { type: ['string', 'null'] },
                  next_attempt_at: { type: ['integer', 'null'] },
                  delivered_at: { type: ['integer', 'null'] },
                  created_at: { type: 'integer' },
                },
              },
            },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['message', 'type', 'param', 'code'],
              properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
            },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/videos': {
        ...create('Create a video task'),
        get: {
          summary: 'List videos, newest first',
          parameters: [
            { name: 'after', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'], default: 'desc' } },
            { name: 'status', in: 'query', schema: { enum: ['queued', 'in_progress', 'completed', 'failed', 'cancelled'] }, description: 'only videos of this status' },
            { name: 'model', in: 'query', schema: { type: 'string' }, description: 'only videos of this model' },
          ],
          responses: { '200': { description: 'A page', ...json(ref('VideoList')) }, ...errors },
        },
      },
      '/v1/videos/generations': create('Create a video task (compatibility route)'),
      '/v1/video/generations': create('Create a video task (legacy route; answers object "video.generation.job")'),
      '/v1/videos/edits': create('Edit a video (edit_video)', bodyOf('EditVideoRequest')),
      '/v1/videos/extensions': create('Extend a video (video_extend)', bodyOf('ExtendVideoRequest')),
      '/v1/videos/quotes': quote('Price a create without making it: the same validation, refusals and quote', createBody),
      '/v1/videos/edits/quotes': quote('Price an edit without making it (an input video of unknown length counts at its longest)', bodyOf('EditVideoRequest')),
      '/v1/videos/extensions/quotes': quote('Price an extension without making it', bodyOf('ExtendVideoRequest')),
      '/v1/videos/{id}/remix': { post: { ...create('Remix a video with a new prompt', { required: true, ...json(ref('RemixRequest')) }).post, parameters: [idParameter, idempotency] } },
      '/v1/videos/{id}': {
        get: { summary: 'Retrieve a video', parameters: [idParameter], responses: videoAnswer },
        delete: { summary: 'Delete a video and its files', parameters: [idParameter], responses: { '200': { description: 'Deleted', ...json({ type: 'object' }) }, ...errors } },
      },
      '/v1/videos/generations/{id}': { get: { summary: 'Retrieve (compatibility route)', parameters: [idParameter], responses: videoAnswer } },
      '/v1/video/generations/{id}': { get: { summary: 'Retrieve (legacy route)', parameters: [idParameter], responses: videoAnswer } },
      '/v1/videos/{id}/cancel': { post: { summary: 'Cancel a queued or running video', parameters: [idParameter], responses: videoAnswer } },
      '/v1/videos/{id}/content': {
        get: {
          summary: 'Download the video, its thumbnail or its spritesheet (Range, ETag)',
          parameters: [idParameter, { name: 'variant', in: 'query', schema: { enum: ['video', 'thumbnail', 'spritesheet'], default: 'video' } }],
          responses: { '200': { description: 'The file', content: { 'video/mp4': {}, 'image/webp': {}, 'image/jpeg': {} } }, '206': { description: 'A byte range' }, ...errors },
        },
      },
      '/v1/videos/{id}/events': {
        get: { summary: 'Status and progress as Server-Sent Events', parameters: [idParameter], responses: { '200': { description: 'An event stream', content: { 'text/event-stream': {} } }, ...errors } },
      },
      '/v1/models': { get: { summary: 'The model catalog, with each model\'s pricing (micro-dollars)', responses: { '200': { description: 'A list', ...json({ type: 'object' }) }, ...errors } } },
      '/v1/usage': {
        get: {
          summary: "The calling key's usage: live tasks that ended in [from, to), per model or UTC day, with what they cost (micro-dollars)",
          parameters: [
            { name: 'from', in: 'query', schema: { type: 'string' }, description: 'UTC date (YYYY-MM-DD) or Unix seconds; default: 30 days before to' },
            { name: 'to', in: 'query', schema: { type: 'string' }, description: 'UTC date (YYYY-MM-DD) or Unix seconds; default: now' },
            { name: 'group_by', in: 'query', schema: { enum: ['model', 'day'], default: 'model' } },
          ],
          responses: { '200': { description: 'The report', ...json({ type: 'object' }) }, ...errors },
        },
      },
      '/v1/webhooks': {
        post: {
          summary: 'Register a webhook endpoint; the answer is the only time its signing secret is shown',
          requestBody: {
            required: true,
            ...json({
              type: 'object',
              required: ['url'],
              additionalProperties: false,
              properties: { url: { type: 'string', format: 'uri' }, events: { type: 'array', minItems: 1, items: { enum: ['video.completed', 'video.failed', 'video.cancelled'] } } },
            }),
          },
          responses: { '200': { description: 'The endpoint, with its secret', ...json(ref('WebhookEndpoint')) }, ...errors },
        },
        get: { summary: "The key's webhook endpoints", responses: { '200': { description: 'A list', ...json({ type: 'object', properties: { data: { type: 'array', items: ref('WebhookEndpoint') } } }) }, ...errors } },
      },
      '/v1/webhooks/{id}': {
        get: { summary: 'A webhook endpoint', parameters: [idParameter], responses: { '200': { description: 'The endpoint', ...json(ref('WebhookEndpoint')) }, ...errors } },
        delete: { summary: 'Delete a webhook endpoint; what was still to be sent to it is not', parameters: [idParameter], responses: { '200': { description: 'Deleted', ...json({ type: 'object' }) }, ...errors } },
      },
      '/v1/webhooks/{id}/deliveries': {
        get: {
          summary: "A webhook endpoint's deliveries, newest first, a page at a time",
          parameters: [
            idParameter,
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'after', in: 'query', description: 'the last_id of the previous page', schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'A page',
              ...json({
                allOf: [
                  ref('DeliveryList'),
                  { type: 'object', properties: { first_id: { type: ['string', 'null'] }, last_id: { type: ['string', 'null'] }, has_more: { type: 'boolean' } } },
                ],
              }),
            },
            ...errors,
          },
        },
      },
      '/v1/videos/{id}/deliveries': {
        get: { summary: "The deliveries of a video's events (its key's webhooks and its callback_url)", parameters: [idParameter], responses: { '200': { description: 'A list', ...json(ref('DeliveryList')) }, ...errors } },
      },
      '/v1/webhooks/default/secret': {
        get: { summary: "The secret that signs deliveries to a create's callback_url", responses: { '200': { description: 'The secret', ...json({ type: 'object', properties: { secret: { type: 'string' } } }) }, ...errors } },
      },
      '/v1/balance': {
        get: {
          summary: "The calling key's balance in micro-dollars (1 USD = 1,000,000); null when the key is unmetered",
          responses: { '200': { description: 'The balance', ...json({ type: 'object', properties: { balance: { type: ['integer', 'null'] }, metered: { type: 'boolean' } } }) }, ...errors },
        },
      },
    },
  };
}
