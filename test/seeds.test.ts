import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { mp4File, pngDataUri } from './support/media.ts';
import { gatewayPerFile } from './support/gateway.ts';
import { type SeedExample, type SeedId, seedExampleList } from './support/seed-examples.ts';

/**
 * Every request example in ../shared/seeds (test/support/seed-examples.ts), sent as the seed
 * shows it (example.com media swapped for data URIs, since tests reach no internet), must be
 * accepted and answered in the seed's shape. ROLE=api: nothing renders here; rendering has
 * its own tests, and test/upstream-seeds.test.ts runs the same examples through the adapters.
 */
const image = pngDataUri(320, 240);
const otherImage = pngDataUri(240, 320);
const video = `data:video/mp4;base64,${readFileSync(mp4File(2)).toString('base64')}`;

const shared = gatewayPerFile({ ROLE: 'api' });
const examples = seedExampleList({ image, otherImage, video });

async function accept(route: string, body: Record<string, unknown>) {
  const { status, body: task } = await shared.client.json('POST', route, body);
  assert.equal(status, 200, JSON.stringify(task));
  assert.match(task.id, /^video_[0-9a-f]{32}$/);
  assert.equal(task.task_id, task.id);
  assert.equal(task.model, body.model);
  assert.equal(task.status, 'queued');
  assert.equal(task.progress, 0);
  assert.ok(Number.isInteger(task.created_at) && Math.abs(task.created_at - Date.now() / 1000) < 60, 'created_at in Unix seconds');
  return task;
}

/** Sends one seed example and checks the submit answer against what its seed shows. */
async function acceptExample({ route, body, expect }: SeedExample) {
  const task = await accept(route, body);
  for (const [field, value] of Object.entries(expect)) assert.equal(task[field], value, field);
  return task;
}

const of = (seed: SeedId) => examples.filter((example) => example.seed === seed);

describe('seed 000: legacy grok-imagine on POST /v1/video/generations', () => {
  for (const example of of('000')) test(example.name, async () => {
    await acceptExample(example);
  });
});

describe('seed 001: grok-imagine on POST /v1/videos', () => {
  for (const example of of('001')) {
    test(example.name, async () => {
      const task = await acceptExample(example);
      if (example.name === '7.1 text-to-video') {
        // The documented submit response: the OpenAI video object's fields are always present.
        for (const field of ['completed_at', 'expires_at', 'prompt', 'size', 'error', 'remixed_from_video_id']) assert.ok(field in task, field);
        assert.equal(task.error, null);
      }
    });
  }
  test('the compatibility routes create and read the same tasks', async () => {
    const body = { model: 'grok-imagine', prompt: 'compat', duration: 6 };
    for (const route of ['/v1/videos/generations', '/v1/video/generations']) {
      const task = await accept(route, body);
      for (const read of ['/v1/videos', '/v1/videos/generations', '/v1/video/generations']) {
        const { status, body: again } = await shared.client.json('GET', `${read}/${task.id}`);
        assert.equal(status, 200);
        assert.equal(again.id, task.id);
        assert.equal(again.object, read === '/v1/video/generations' ? 'video.generation.job' : 'video');
      }
    }
  });
  test('seconds (OpenAI style) works in place of duration', async () => {
    const task = await accept('/v1/videos', { model: 'grok-imagine', prompt: 'p', seconds: '6' });
    assert.equal(task.seconds, '6');
  });
  test('a video model on /v1/images/generations is pointed to /v1/videos', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/images/generations', { model: 'grok-imagine', prompt: 'p' });
    assert.equal(status, 400);
    assert.equal(body.error.param, 'model');
    assert.match(body.error.message, /\/v1\/videos/);
  });
});

describe('seed 002: the Vidu Q3 family on POST /v1/video/generations', () => {
  for (const example of of('002')) {
    test(`${example.name} answers a video.generation.job`, async () => {
      const task = await acceptExample(example);
      assert.equal(task.object, 'video.generation.job');
      assert.equal(task.size, /-(\d+p)/.exec(String(example.body.model))![1]);
    });
  }
});

describe('seed 003/004: grok-imagine-video on POST /v1/videos', () => {
  for (const example of of('003')) test(example.name, async () => {
    await acceptExample(example);
  });
  test('the documented 400: a missing prompt names prompt', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', { model: 'grok-imagine-video', seconds: '6' });
    assert.equal(status, 400);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.param, 'prompt');
    assert.match(body.error.message, /prompt is required/);
  });
});
