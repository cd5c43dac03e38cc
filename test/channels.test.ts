import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Breaker } from '../src/channels/breaker.ts';
import type { Channel } from '../src/channels/channel.ts';
import { Channels } from '../src/channels/registry.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { MAX_CHECK_MS, MIN_CHECK_MS, nextCheckDelay } from '../src/tasks/schedule.ts';

/** How channels are configured, ordered and rested, and when a task is checked next. */

describe('channels from the config', () => {
  test('XAI_API_KEY alone makes one xAI channel serving the grok models under their xAI ids (upstream-apis.md §5)', () => {
    const [xai, ...others] = loadConfig({ XAI_API_KEY: 'k1, k2' }).channels;
    assert.deepEqual(others, []);
    assert.equal(xai?.name, 'xai');
    assert.equal(xai?.baseUrl, 'https://api.x.ai/v1');
    assert.deepEqual(xai?.keys, ['k1', 'k2']);
    assert.equal(xai?.models.get('grok-imagine'), 'grok-imagine-video');
    assert.equal(xai?.models.get('grok-video-3-max'), 'grok-imagine-video-1.5');
    assert.equal(xai?.models.has('viduq3p-720p'), false);
  });

  test('VIDU_API_KEY maps the Q3 names onto Vidu models', () => {
    const [vidu] = loadConfig({ VIDU_API_KEY: 'v', VIDU_BASE_URL: 'http://127.0.0.1:9/ent/v2/' }).channels;
    assert.equal(vidu?.baseUrl, 'http://127.0.0.1:9/ent/v2');
    assert.equal(vidu?.models.get('viduq3p-1080p-offpeak'), 'viduq3-pro');
    assert.equal(vidu?.models.get('viduq3t-540p'), 'viduq3-turbo');
    assert.equal(vidu?.models.get('viduq3p-mix-720p'), 'viduq3-mix');
  });

  test('CHANNELS lists channels with their own models, weights and priorities', () => {
    const channels = JSON.stringify([
      { name: 'xai-a', type: 'xai', keys: ['a'], models: ['grok-imagine'], priority: 1 },
      { name: 'relay', type: 'relay', base_url: 'http://10.0.0.2:8080/v1', keys: ['r'], models: { 'grok-imagine': 'grok-imagine' } },
    ]);
    const [a, relay] = loadConfig({ CHANNELS: channels }).channels;
    assert.deepEqual([...a!.models], [['grok-imagine', 'grok-imagine-video']]);
    assert.equal(a?.priority, 1);
    assert.equal(relay?.baseUrl, 'http://10.0.0.2:8080/v1');
  });

  for (const [name, env, problem] of [
    ['a relay without base_url', { CHANNELS: '[{"name":"r","type":"relay","keys":["k"]}]' }, /needs base_url/],
    ['a model not in the catalog', { CHANNELS: '[{"name":"x","type":"xai","keys":["k"],"models":["sora-9"]}]' }, /sora-9 is not a model/],
    ['a channel named local', { CHANNELS: '[{"name":"local","type":"xai","keys":["k"]}]' }, /preview renderer/],
    ['two channels of one name', { CHANNELS: '[{"name":"xai","type":"xai","keys":["k"]}]', XAI_API_KEY: 'k' }, /already has one/],
    ['CHANNELS that is not JSON', { CHANNELS: '[{' }, /CHANNELS/],
    ['RELAY_BASE_URL without its key', { RELAY_BASE_URL: 'http://127.0.0.1:1/v1' }, /go together/],
  ] as const) {
    test(`refused, by name: ${name}`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && problem.test(error.message));
    });
  }
});

function channel(name: string, priority: number, weight: number, breaker = new Breaker({ now: () => 0 })): Channel {
  return {
    name,
    kind: 'xai',
    priority,
    weight,
    breaker,
    baseUrl: 'http://127.0.0.1:1',
    models: new Map([['grok-imagine', 'grok-imagine-video']]),
    provider: {} as Channel['provider'],
    load: () => ({ inFlight: 0, waiting: 0, maxConcurrent: 32 }),
    close: () => {},
  };
}

describe('which channel a task goes to', () => {
  test('higher priority first; within a priority, traffic splits by weight', () => {
    let draw = 0;
    const draws = [0.1, 0.9];
    const channels = new Channels([channel('low', 0, 1), channel('a', 5, 3), channel('b', 5, 1)], () => draws[draw++ % 2]!);
    const first = channels.route('grok-imagine').map((c) => c.name);
    assert.deepEqual(first, ['a', 'b', 'low'], 'a draw in the first 3/4 picks the weight-3 channel');
    draw = 1;
    assert.deepEqual(channels.route('grok-imagine').map((c) => c.name).slice(0, 1), ['b'], 'a draw in the last 1/4 picks the weight-1 channel');
    assert.deepEqual(channels.route('viduq3p-720p'), []);
  });

  test('a channel that failed 5 times in a row rests, then lets one trial call through', () => {
    let now = 0;
    const breaker = new Breaker({ now: () => now }, 5, 30_000);
    const channels = new Channels([channel('flaky', 1, 1, breaker), channel('steady', 0, 1)]);
    for (let i = 0; i < 4; i++) breaker.failed(`503 number ${i}`);
    assert.equal(channels.route('grok-imagine')[0]?.name, 'flaky', 'four failures: still in service');
    breaker.failed('timed out');
    assert.deepEqual(channels.route('grok-imagine').map((c) => c.name), ['steady'], 'resting');
    const record = breaker.record();
    assert.equal(record.state, 'open');
    assert.deepEqual([record.calls, record.failures], [5, 5]);
    assert.deepEqual(record.lastErrors.map((one) => one.message), ['timed out', '503 number 3', '503 number 2', '503 number 1', '503 number 0'], 'the last five, newest first');
    now = 30_001;
    assert.equal(breaker.record().state, 'half-open');
    assert.equal(channels.route('grok-imagine')[0]?.name, 'flaky', 'rest over: one trial');
    assert.equal(channels.route('grok-imagine')[0]?.name, 'flaky', 'routing alone spends no trial');
    assert.equal(breaker.acquire(), true, 'the trial call');
    assert.deepEqual(channels.route('grok-imagine').map((c) => c.name), ['steady'], 'only one trial at a time');
    breaker.succeeded();
    assert.equal(channels.route('grok-imagine')[0]?.name, 'flaky', 'a good trial closes it');
    assert.deepEqual([breaker.record().state, breaker.record().calls], ['closed', 6]);
  });
});

describe('when a task is checked next', () => {
  test('never sooner than 2 s; a tenth of its age; at most 30 s; never before Retry-After', () => {
    const exact = () => 0.5;
    assert.equal(nextCheckDelay(0, null, exact), MIN_CHECK_MS);
    assert.equal(nextCheckDelay(60_000, null, exact), 6_000);
    assert.equal(nextCheckDelay(3_600_000, null, exact), MAX_CHECK_MS);
    assert.equal(nextCheckDelay(0, 9_000, exact), 9_000);
    for (const random of [0, 0.999]) assert.ok(nextCheckDelay(0, null, () => random) >= MIN_CHECK_MS);
  });
});
