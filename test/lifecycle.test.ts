import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { type Client, gatewayPerFile, newClient } from './support/gateway.ts';
import { retryUntil, waitUntil } from './support/wait.ts';

/** Cancel, live progress over Server-Sent Events, and the poll-interval hint. */
const shared = gatewayPerFile({ RENDER_CONCURRENCY: '1' });

/** A render long enough (10 s at 720p) to act on while it runs. */
const long = (prompt: string) => ({ model: 'grok-imagine', prompt, duration: 10, size: '720p' });
const short = (prompt: string) => ({ model: 'grok-imagine', prompt, duration: 2, size: '480p' });

/** Polls a task until it has `status` (30 s at the most). */
async function untilStatus(client: Client, id: string, status: string) {
  const poll = async () => (await client.json('GET', `/v1/videos/${id}`)).body;
  return retryUntil(poll, (body) => body.status === status, `${id} to reach ${status}`, 30_000, 50);
}

function ffmpegRunningFor(id: string): boolean {
  return execFileSync('ps', ['-eo', 'args']).toString().split('\n').some((line) => line.includes('ffmpeg') && line.includes(id));
}

/** Reads a whole event stream (the server closes it) into [event, data] pairs. */
async function readEvents(client: Client, id: string): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const response = await client.request('GET', `/v1/videos/${id}/events`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: '))
    .map((block) => ({
      event: /event: (.+)/.exec(block)![1]!,
      data: JSON.parse(/data: (.+)/.exec(block)![1]!) as Record<string, unknown>,
    }));
}

describe('cancel', () => {
  test('a running render really stops, and stays cancelled', async () => {
    const { client } = shared;
    const { body: running } = await client.json('POST', '/v1/videos', long('cancel me while running'));
    const { body: waiting } = await client.json('POST', '/v1/videos', long('cancel me while queued'));
    await untilStatus(client, running.id, 'in_progress');
    assert.equal((await client.json('GET', `/v1/videos/${waiting.id}`)).body.status, 'queued');

    const cancelledWaiting = await client.json('POST', `/v1/videos/${waiting.id}/cancel`);
    assert.equal(cancelledWaiting.status, 200);
    assert.equal(cancelledWaiting.body.status, 'cancelled');

    // in_progress is written as the render takes its slot; ffmpeg starts a moment later.
    await waitUntil(() => ffmpegRunningFor(running.id), 'the render runs before the cancel', 5000, 50);
    const cancelled = await client.json('POST', `/v1/videos/${running.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(ffmpegRunningFor(running.id), false, 'ffmpeg is stopped');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const id of [running.id, waiting.id]) {
      assert.equal((await client.json('GET', `/v1/videos/${id}`)).body.status, 'cancelled');
      assert.equal((await client.json('GET', `/v1/videos/${id}/content`)).status, 409);
    }
    const again = await client.json('POST', `/v1/videos/${running.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'video_not_cancellable');
  });

  test("another key's task cannot be cancelled: 404", async () => {
    const { body } = await shared.client.json('POST', '/v1/videos', short('mine'));
    const other = await newClient(shared.gateway, 'other');
    assert.equal((await other.json('POST', `/v1/videos/${body.id}/cancel`)).status, 404);
    await shared.client.waitFor(body.id);
  });
});

describe('live progress', () => {
  test('the event stream tells every status in order, rising progress, one terminal event, then closes', async () => {
    const { client } = shared;
    const { body } = await client.json('POST', '/v1/videos', short('watch me'));
    const events = await readEvents(client, body.id);
    const names = events.map((e) => e.event);
    assert.ok(['video.queued', 'video.in_progress'].includes(names[0]!), names.join());
    assert.ok(names.includes('video.in_progress'), names.join());
    assert.equal(names.at(-1), 'video.completed');
    assert.equal(names.filter((n) => n === 'video.completed').length, 1);
    const order = ['queued', 'in_progress', 'completed'];
    const statuses = events.map((e) => order.indexOf(e.data.status as string));
    assert.deepEqual(statuses, [...statuses].sort((a, b) => a - b), 'statuses never go back');
    const progress = events.map((e) => e.data.progress as number);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes back');
    assert.equal(events.at(-1)!.data.progress, 100);
    assert.ok(events.at(-1)!.data.video_url, 'the terminal event carries the download link');
  });

  test('a cancelled task ends its stream with video.cancelled', async () => {
    const { client } = shared;
    const { body } = await client.json('POST', '/v1/videos', long('stream then cancel'));
    const stream = readEvents(client, body.id);
    await untilStatus(client, body.id, 'in_progress');
    await client.json('POST', `/v1/videos/${body.id}/cancel`);
    const names = (await stream).map((e) => e.event);
    assert.equal(names.at(-1), 'video.cancelled');
  });

  test('an unknown task has no stream: 404 in the envelope', async () => {
    const { status, body } = await shared.client.json('GET', '/v1/videos/video_nothing/events');
    assert.equal(status, 404);
    assert.equal(body.error.type, 'not_found_error');
  });

  test('retrieve tells pollers when to ask again, until the task ends', async () => {
    const { client } = shared;
    const { body } = await client.json('POST', '/v1/videos', short('poll hint'));
    const first = await client.request('GET', `/v1/videos/${body.id}`);
    assert.ok(['1000', '2000'].includes(first.headers.get('openai-poll-after-ms') ?? ''));
    await client.waitFor(body.id);
    const done = await client.request('GET', `/v1/videos/${body.id}`);
    assert.equal(done.headers.get('openai-poll-after-ms'), null);
  });
});

describe('delete', () => {
  test('a deleted video is gone from every read route, even right after they were read', async () => {
    const { client } = shared;
    const { body } = await client.json('POST', '/v1/videos', short('delete me'));
    await client.waitFor(body.id);
    // Read first, so that whatever a read keeps is kept when the delete comes.
    const reads = ['/v1/videos', '/v1/videos/generations', '/v1/video/generations'].map((route) => `${route}/${body.id}`);
    for (const route of reads) assert.equal((await client.json('GET', route)).status, 200, route);

    const deleted = await client.json('DELETE', `/v1/videos/${body.id}`);
    assert.deepEqual(deleted.body, { id: body.id, object: 'video.deleted', deleted: true });
    for (const route of [...reads, `/v1/videos/${body.id}/content`]) {
      const { status, body: answer } = await client.json('GET', route);
      assert.equal(status, 404, route);
      assert.equal(answer.error.type, 'not_found_error', route);
    }
    assert.equal((await client.json('POST', `/v1/videos/${body.id}/cancel`)).status, 404);
  });

  test("a deleted video's Idempotency-Key makes a new task instead of a 409", async () => {
    const { client } = shared;
    const headers = { 'idempotency-key': 'delete-then-retry' };
    const { body: first } = await client.json('POST', '/v1/videos', short('idempotent, deleted'), headers);
    await client.json('DELETE', `/v1/videos/${first.id}`);
    const retried = await client.json('POST', '/v1/videos', short('idempotent, deleted'), headers);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.notEqual(retried.body.id, first.id);
    await client.waitFor(retried.body.id);
  });
});
