import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type FakeXai, startFakeXai } from './fakes/xai.ts';
import { ADMIN_KEY, type Client, newClient, removeDataDir, type RunningGateway, startGateway } from './support/gateway.ts';
import { createTask, logEntries } from './support/upstream-kit.ts';
import { waitUntil } from './support/wait.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

/** GET /metrics scraped before and after tasks run: the series move as the tasks do. */
const METRICS_TOKEN = 'metrics-token-0123456789';

let fake: FakeXai;
let receiver: WebhookReceiver;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  fake = await startFakeXai();
  receiver = await startWebhookReceiver();
  // grok-video-1.5 goes upstream to the fake; grok-imagine stays on the preview renderer.
  const channels = [{ name: 'xai-main', type: 'xai', base_url: fake.url, keys: ['xai-test-key'], models: ['grok-video-1.5'] }];
  gateway = await startGateway({
    CHANNELS: JSON.stringify(channels),
    ALLOWED_PRIVATE_HOSTS: `${fake.hostPort},${receiver.hostPort}`,
    METRICS_TOKEN,
    LOG_LEVEL: 'debug',
  });
  client = await newClient(gateway);
});
after(async () => {
  await gateway.stop();
  removeDataDir(gateway.dataDir);
  await Promise.all([fake.close(), receiver.close()]);
});

/** One scrape, as series → value (`name{labels}` exactly as exposed). */
async function scrape(token = METRICS_TOKEN): Promise<Map<string, number>> {
  const response = await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

const value = (series: Map<string, number>, name: string) => series.get(name) ?? 0;

test('only the admin key or METRICS_TOKEN reads /metrics', async () => {
  assert.equal((await fetch(`${gateway.url}/metrics`)).status, 401);
  assert.equal((await client.request('GET', '/metrics')).status, 401, 'an API key does not');
  const refused = await fetch(`${gateway.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456788' } });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, 'invalid_admin_key');
  assert.ok((await scrape(ADMIN_KEY)).size > 0);
});

test('the counters move as tasks run, upstream and local, and the gauges show what is going on', async () => {
  const before = await scrape();
  assert.equal(value(before, 'vidgate_channel_breaker_state{channel="xai-main",state="closed"}'), 1);
  assert.equal(value(before, 'vidgate_channel_breaker_state{channel="xai-main",state="open"}'), 0);
  await client.json('POST', '/v1/webhooks', { url: `${receiver.url}/hook` });

  // A local render, followed by its request id through the logs; and an upstream task.
  const made = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a kite', duration: 1, size: '480p' }, { 'x-request-id': 'trace-kite-1' });
  assert.equal(made.headers.get('x-request-id'), 'trace-kite-1');
  assert.equal(made.body.request_id, 'trace-kite-1', 'the task keeps the id of the request that made it');
  const upstream = await createTask(client, { model: 'grok-video-1.5', prompt: 'a heron', duration: 2, size: '480p' });
  for (const id of [made.body.id, upstream]) assert.equal((await client.waitFor(id)).status, 'completed');
  await waitUntil(() => receiver.on('/hook').length >= 2, 'both events delivered');

  // A long render, seen unfinished while it runs, then cancelled.
  const long = await createTask(client, { model: 'grok-imagine', prompt: 'a long road', duration: 10, size: '720p' });
  await waitUntil(async () => (await client.json('GET', `/v1/videos/${long}`)).body.status === 'in_progress', 'the long render runs');
  const during = await scrape();
  assert.equal(value(during, 'vidgate_tasks_unfinished{model="grok-imagine",status="in_progress"}'), 1);
  await client.json('POST', `/v1/videos/${long}/cancel`);
  await waitUntil(() => receiver.on('/hook').length >= 3, 'the cancel delivered');
  // The receiver has the third delivery a moment before the gateway has written down its answer.
  const delivered = 'vidgate_webhook_deliveries_total{outcome="delivered"}';
  await waitUntil(async () => value(await scrape(), delivered) - value(before, delivered) >= 3, 'the deliveries recorded');

  const after = await scrape();
  const moved = (name: string) => value(after, name) - value(before, name);
  assert.equal(moved('vidgate_tasks_created_total{model="grok-imagine"}'), 2);
  assert.equal(moved('vidgate_tasks_created_total{model="grok-video-1.5"}'), 1);
  assert.equal(moved('vidgate_tasks_ended_total{model="grok-imagine",status="completed"}'), 1);
  assert.equal(moved('vidgate_tasks_ended_total{model="grok-imagine",status="cancelled"}'), 1);
  assert.equal(moved('vidgate_tasks_ended_total{model="grok-video-1.5",status="completed"}'), 1);
  // At 0 a gauge still answers 0 (a series gone would read as "no data", not as none running).
  assert.equal(after.get('vidgate_tasks_unfinished{model="grok-imagine",status="in_progress"}'), 0);
  assert.equal(after.get('vidgate_tasks_unfinished{model="grok-imagine",status="queued"}'), 0);
  assert.equal(moved('vidgate_http_requests_total{method="POST",route="/v1/videos",status="200"}'), 3);
  assert.ok(moved('vidgate_http_requests_total{method="GET",route="/v1/videos/:id",status="200"}') >= 3, 'polls count on the fast path too');
  assert.ok(moved('vidgate_http_request_duration_seconds_count{method="POST",route="/v1/videos"}') === 3);
  assert.equal(moved('vidgate_upstream_calls_total{channel="xai-main",call="submit",outcome="ok"}'), 1);
  assert.ok(moved('vidgate_upstream_calls_total{channel="xai-main",call="check",outcome="ok"}') >= 1);
  assert.ok(moved('vidgate_upstream_call_duration_seconds_count{channel="xai-main",call="check"}') >= 1);
  assert.ok(moved('vidgate_tracking_lag_seconds_count') >= 2, 'the submit and each check');
  assert.equal(moved('vidgate_render_duration_seconds_count{model="grok-imagine"}'), 1);
  assert.equal(moved('vidgate_webhook_deliveries_total{outcome="delivered"}'), 3);
  assert.equal(value(after, 'vidgate_webhook_deliveries_pending'), 0);
  assert.ok(moved('vidgate_storage_bytes') > 10_000, 'two videos kept');
  // 1 s at 480p ($0.05) and 2 s of grok-video-1.5 at 480p ($0.08 a second): captured in all.
  assert.equal(moved('vidgate_money_captured_micros'), 50_000 + 160_000);
  assert.equal(value(after, 'vidgate_money_held_micros'), 0);
  assert.equal(value(after, 'vidgate_queue_due_tasks{lane="upstream"}'), 0);
  assert.ok(value(after, 'vidgate_process_resident_memory_bytes') > 0, 'the process series too');

  // The request id is in the lines about the task that the worker wrote, not only in the request's own.
  const lines = logEntries(gateway.logs).filter((entry) => entry.request === 'trace-kite-1' && entry.task === made.body.id);
  assert.ok(lines.length > 0, 'a worker line about the task carries its request id');
});
