import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FakeTask, FakeUpstream, RecordedRequest } from '../fakes/server.ts';
import type { Client } from './gateway.ts';

/**
 * Small helpers for the end-to-end fault tests (upstream-faults, upstream-channels): what a
 * fake saw, for which of our tasks, and when.
 */

/** One xAI channel of CHANNELS pointing at a fake. */
export function xaiChannel(name: string, fake: FakeUpstream, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'xai', base_url: fake.url, keys: ['xai-test-key'], ...fields };
}

/**
 * When each request reached the fake (Date.now() on arrival). The fakes keep no times, so
 * the push onto their request log is wrapped: the log is one array the fake appends to.
 */
export function stampArrivals(fake: FakeUpstream): WeakMap<RecordedRequest, number> {
  const arrivals = new WeakMap<RecordedRequest, number>();
  const push = fake.requests.push.bind(fake.requests);
  fake.requests.push = (...items: RecordedRequest[]) => {
    for (const item of items) arrivals.set(item, Date.now());
    return push(...items);
  };
  return arrivals;
}

/** The submits the fake received for one of our tasks (we send our task id as the idempotency key). */
export function createsFor(fake: FakeUpstream, taskId: string): RecordedRequest[] {
  return fake.requests.filter((request) => request.method === 'POST' && request.headers['idempotency-key'] === taskId);
}

/** Every submit the fake received. */
export function creates(fake: FakeUpstream): RecordedRequest[] {
  return fake.requests.filter((request) => request.method === 'POST');
}

/** The fake's tasks made from a prompt (prompts are unique per test). */
export function fakeTasksFor(fake: FakeUpstream, prompt: string): FakeTask[] {
  return [...fake.tasks.values()].filter((task) => task.body.prompt === prompt);
}

/** Status GETs the fake received for one of its tasks, faulted ones included. */
export function checksOf(fake: FakeUpstream, fakeTaskId: string): RecordedRequest[] {
  return fake.requests.filter((request) => request.method === 'GET' && request.path === `/v1/videos/${fakeTaskId}`);
}

/** Result downloads the fake received for one of its tasks. */
export function downloadsOf(fake: FakeUpstream, fakeTaskId: string): RecordedRequest[] {
  return fake.requests.filter((request) => request.path === `/files/${fakeTaskId}.mp4`);
}

/** Creates a task; throws unless the gateway took it. */
export async function createTask(client: Client, body: Record<string, unknown>): Promise<string> {
  const created = await client.json('POST', '/v1/videos', { duration: 2, ...body });
  if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body.id as string;
}

/** The bytes served as a task's content. */
export async function contentOf(client: Client, taskId: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await client.request('GET', `/v1/videos/${taskId}/content`);
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** Parsed JSON log lines of a gateway (non-JSON lines are skipped). */
export function logEntries(logs: readonly string[]): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of logs) {
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return entries;
}

/** Every file under a folder, as paths relative to it. */
export function walkFiles(root: string): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) visit(full);
      else found.push(path.relative(root, full));
    }
  };
  visit(root);
  return found;
}

/** Every folder under a folder, as paths relative to it. */
export function walkFolders(root: string): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) {
        found.push(path.relative(root, full));
        visit(full);
      }
    }
  };
  visit(root);
  return found;
}
