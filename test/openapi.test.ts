import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { gatewayPerFile } from './support/gateway.ts';
import { mp4File, pngDataUri } from './support/media.ts';

/**
 * GET /openapi.json against the routes themselves: every documented path is routed, and
 * bodies the document accepts the routes accept, bodies it refuses they refuse — for
 * the rules a flat schema can state (capability-specific rules are the catalog's).
 */
const shared = gatewayPerFile({ ROLE: 'api', RATE_LIMIT_PER_MINUTE: '100000' });
const image = pngDataUri(64, 48);

async function documentValidator() {
  const document = (await (await fetch(`${shared.gateway.url}/openapi.json`)).json()) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(document, 'openapi.json');
  return { document, validate: ajv.getSchema('openapi.json#/components/schemas/CreateVideoRequest')! };
}

describe('openapi.json', () => {
  test('is an OpenAPI 3.1 document whose every path is routed', async () => {
    const { document } = await documentValidator();
    assert.equal(document.openapi, '3.1.0');
    const paths = document.paths as Record<string, Record<string, unknown>>;
    assert.ok(Object.keys(paths).length >= 13);
    for (const [route, methods] of Object.entries(paths)) {
      for (const method of Object.keys(methods)) {
        const url = route.replace('{id}', 'video_0');
        const response = await shared.client.request(method.toUpperCase(), url, method === 'post' ? {} : undefined);
        const body = response.headers.get('content-type')?.includes('json') ? ((await response.json()) as { error?: { code?: string } }) : null;
        assert.notEqual(body?.error?.code, 'route_not_found', `${method} ${route}`);
        assert.notEqual(response.status, 405, `${method} ${route}`);
      }
    }
  });

  const cases: [string, Record<string, unknown>, boolean][] = [
    ['seed 001 text-to-video', { model: 'grok-imagine', prompt: 'p', size: '720p', aspect_ratio: '16:9', duration: 6 }, true],
    ['seed 002 vidu with extra_body', { model: 'viduq3p-720p', prompt: 'p', aspect_ratio: '16:9', duration: 5, extra_body: { audio: false, seed: 42, bgm: false } }, true],
    ['seed 003 grok-imagine-video', { model: 'grok-imagine-video', prompt: 'p', seconds: '8', aspect_ratio: '16:9', resolution: '720P', image }, true],
    ['grok-video-3 references', { model: 'grok-video-3', prompt: 'p', input_reference: [image, image], size: '480P' }, true],
    ['an unknown model', { model: 'sora-9', prompt: 'p' }, false],
    ['no prompt', { model: 'grok-imagine', duration: 6 }, false],
    ['a prompt over the limit', { model: 'grok-imagine-video', prompt: 'x'.repeat(4097) }, false],
    ['a duration over every capability', { model: 'grok-imagine', prompt: 'p', duration: 99 }, false],
    ['a duration in words', { model: 'grok-imagine', prompt: 'p', duration: 'six' }, false],
    ['a Vidu duration over 16', { model: 'viduq3t-540p', prompt: 'p', duration: 17 }, false],
    ['a seed in words', { model: 'viduq3p-720p', prompt: 'p', extra_body: { seed: 'lucky' } }, false],
    ['a negative seed', { model: 'viduq3p-720p', prompt: 'p', extra_body: { seed: -1 } }, false],
    ['audio as a word', { model: 'viduq3p-720p', prompt: 'p', extra_body: { audio: 'loud' } }, false],
    ['an unknown operation', { model: 'grok-imagine', prompt: 'p', duration: 6, extra_body: { operation: 'dance' } }, false],
    ['an image that is a number', { model: 'grok-imagine-video', prompt: 'p', image: 7 }, false],
    ['an aspect ratio outside every list', { model: 'viduq3p-720p', prompt: 'p', aspect_ratio: '21:9' }, false],
    ['grok-imagine with resolution', { model: 'grok-imagine', prompt: 'p', duration: 6, resolution: '480p' }, true],
    ['an unknown field', { model: 'grok-imagine', prompt: 'p', duration: 6, fps: 24 }, false],
    ["another family's field", { model: 'grok-imagine-video', prompt: 'p', image_url: image }, false],
    ['an unknown extra_body key', { model: 'viduq3p-720p', prompt: 'p', extra_body: { seed: 1, off_peak: true } }, false],
    ['the ignored user and metadata', { model: 'viduq3p-720p', prompt: 'p', user: 'u-1', metadata: { a: '1' } }, true],
    ['an empty extra_body', { model: 'grok-imagine-video', prompt: 'p', extra_body: {} }, true],
  ];
  for (const [name, body, accepted] of cases) {
    test(`document and route agree: ${name} is ${accepted ? 'accepted' : 'refused'}`, async () => {
      const { validate } = await documentValidator();
      assert.equal(validate(body), accepted, JSON.stringify(validate.errors?.slice(0, 2)));
      const { status, body: answer } = await shared.client.json('POST', '/v1/videos', body);
      assert.equal(status, accepted ? 200 : 400, JSON.stringify(answer));
    });
  }

  test('each request schema lists the ignored fields and refuses any other', async () => {
    const { document } = await documentValidator();
    const schemas = (document.components as { schemas: Record<string, { additionalProperties?: unknown; properties?: Record<string, unknown> }> }).schemas;
    const requests = Object.entries(schemas).filter(([name]) => name.startsWith('Create_') || ['EditVideoRequest', 'ExtendVideoRequest', 'RemixRequest'].includes(name));
    assert.ok(requests.length >= 6);
    for (const [name, schema] of requests) {
      const branches = (schema as { anyOf?: typeof schema[] }).anyOf ?? [schema];
      for (const branch of branches) {
        const resolved = '$ref' in branch ? schemas[String(branch.$ref).split('/').pop()!]! : branch;
        assert.equal(resolved.additionalProperties, false, name);
        for (const ignored of ['user', 'metadata']) assert.ok(resolved.properties?.[ignored], `${name} lists ${ignored}`);
      }
    }
  });

  // The edit and extension routes: the openai client sends no model; the route supplies one.
  const video = `data:video/mp4;base64,${readFileSync(mp4File(2, 160, 120)).toString('base64')}`;
  const routed: [string, string, Record<string, unknown>, boolean][] = [
    ['/v1/videos/edits', 'EditVideoRequest', { prompt: 'p', video }, true],
    ['/v1/videos/edits', 'EditVideoRequest', { prompt: 'p', video, fps: 24 }, false],
    ['/v1/videos/extensions', 'ExtendVideoRequest', { prompt: 'p', video, seconds: '2' }, true],
    ['/v1/videos/extensions', 'ExtendVideoRequest', { prompt: 'p', video, seconds: '2', loop: true }, false],
  ];
  for (const [route, schema, body, accepted] of routed) {
    test(`document and route agree on ${route}: ${Object.keys(body).join(', ')} is ${accepted ? 'accepted' : 'refused'}`, async () => {
      const { document } = await documentValidator();
      const ajv = new Ajv2020({ strict: false, validateFormats: false });
      ajv.addSchema(document, 'openapi.json');
      const validate = ajv.getSchema(`openapi.json#/components/schemas/${schema}`)!;
      assert.equal(validate(body), accepted, JSON.stringify(validate.errors?.slice(0, 2)));
      const { status, body: answer } = await shared.client.json('POST', route, body);
      assert.equal(status, accepted ? 200 : 400, JSON.stringify(answer));
    });
  }
});
