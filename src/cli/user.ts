import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type GatewayClient, mediaArgument, TaskUnfinished, UsageError } from './client.ts';
import { follow, type VideoObject } from './progress.ts';

/** What a user command was given: its words after the command, and the flags. */
export interface UserArgs {
  words: string[];
  flags: { model?: string; prompt?: string; seconds?: string; size?: string; image?: string; output?: string; limit?: string; variant?: string; from?: string; to?: string; 'group-by'?: string; json?: boolean };
}

type Print = (text: string) => void;

interface ModelEntry {
  id: string;
  fields: Record<string, string>;
}

/** Sets `extra_body.x`-style keys as nested objects. */
function put(body: Record<string, unknown>, key: string, value: unknown): void {
  const [head, rest] = key.split(/\.(.*)/s, 2) as [string, string | undefined];
  if (rest === undefined) body[head] = value;
  else put((body[head] ??= {}) as Record<string, unknown>, rest, value);
}

/** Saves the body of a download to `file` whole, or not at all. */
async function save(response: Response, file: string): Promise<void> {
  const partial = `${file}.part`;
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(partial));
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * vidgate generate: the request in the model's own field names (from GET /v1/models, as
 * the console does), a progress bar fed by the event stream, then the video saved.
 */
export async function generate(client: GatewayClient, { flags }: UserArgs, print: Print, progress: NodeJS.WriteStream): Promise<number> {
  if (!flags.model || !flags.prompt) throw new UsageError('generate needs --model M and --prompt P');
  const models = await client.json<{ data: ModelEntry[] }>('GET', '/v1/models');
  const model = models.data.find((one) => one.id === flags.model);
  if (!model) throw new UsageError(`no model ${flags.model} on ${client.url}; it has ${models.data.map((one) => one.id).join(', ')}`);
  const field = (name: string) => model.fields[name] ?? name;
  const body: Record<string, unknown> = { model: model.id };
  put(body, field('prompt'), flags.prompt);
  if (flags.seconds !== undefined) {
    const seconds = Number(flags.seconds);
    if (!Number.isFinite(seconds)) throw new UsageError('--seconds is a number');
    put(body, field('duration'), seconds);
  }
  if (flags.size !== undefined) put(body, field('resolution'), flags.size);
  if (flags.image !== undefined) put(body, field('image'), mediaArgument(flags.image));
  const created = await client.json<VideoObject>('POST', '/v1/videos', body, { 'idempotency-key': crypto.randomUUID() });
  if (!flags.json) print(`${created.id} queued${created.billing?.price != null ? `, at most $${(created.billing.price / 1e6).toFixed(2)}` : ''}`);
  const ended = await follow(client, created.id, progress);
  if (ended.status !== 'completed') {
    if (flags.json) print(JSON.stringify(ended, null, 2));
    throw new TaskUnfinished(`${ended.id} ${ended.status}${ended.error ? `: ${ended.error.code}: ${ended.error.message}` : ''}`);
  }
  const output = flags.output ?? `${ended.id}.mp4`;
  await save(await client.request('GET', `/v1/videos/${ended.id}/content`), output);
  print(flags.json ? JSON.stringify({ ...ended, saved_to: output }, null, 2) : `saved ${output} (${ended.seconds ?? '?'} s, ${ended.size ?? 'default size'})`);
  return 0;
}

/** vidgate videos list|get|download|delete|cancel. */
export async function videos(client: GatewayClient, { words, flags }: UserArgs, print: Print): Promise<number> {
  const [command, id] = words;
  const needId = () => {
    if (!id) throw new UsageError(`videos ${command} needs a video id`);
    return encodeURIComponent(id);
  };
  switch (command) {
    case 'list': {
      const limit = flags.limit ?? '20';
      const page = await client.json<{ data: VideoObject[] }>('GET', `/v1/videos?limit=${encodeURIComponent(limit)}`);
      if (flags.json) print(JSON.stringify(page, null, 2));
      else for (const video of page.data) print(`${video.id}  ${video.status.padEnd(11)} ${video.model}  ${video.seconds ?? '?'} s  ${video.size ?? ''}`);
      return 0;
    }
    case 'get': {
      const video = await client.json<VideoObject>('GET', `/v1/videos/${needId()}`);
      print(JSON.stringify(video, null, 2));
      return 0;
    }
    case 'download': {
      const variant = flags.variant ?? 'video';
      const output = flags.output ?? `${id}.${variant === 'thumbnail' ? 'webp' : variant === 'spritesheet' ? 'jpg' : 'mp4'}`;
      await save(await client.request('GET', `/v1/videos/${needId()}/content?variant=${encodeURIComponent(variant)}`), output);
      print(flags.json ? JSON.stringify({ id, saved_to: output }) : `saved ${output}`);
      return 0;
    }
    case 'delete': {
      const answer = await client.json<Record<string, unknown>>('DELETE', `/v1/videos/${needId()}`);
      print(flags.json ? JSON.stringify(answer) : `deleted ${id}`);
      return 0;
    }
    case 'cancel': {
      const video = await client.json<VideoObject>('POST', `/v1/videos/${needId()}/cancel`);
      print(flags.json ? JSON.stringify(video, null, 2) : `${video.id} ${video.status}`);
      return 0;
    }
    default:
      throw new UsageError(command ? `unknown command: videos ${command}` : 'videos needs list, get, download, delete or cancel');
  }
}

/** vidgate usage with a key: the key's own usage, from the gateway. */
export async function usage(client: GatewayClient, { flags }: UserArgs, print: Print): Promise<number> {
  const query = new URLSearchParams();
  if (flags.from) query.set('from', flags.from);
  if (flags.to) query.set('to', flags.to);
  if (flags['group-by']) query.set('group_by', flags['group-by']);
  const report = await client.json<{ data: { group: string; tasks: number; completed: number; spend: number }[] }>('GET', `/v1/usage?${query}`);
  if (flags.json) print(JSON.stringify(report, null, 2));
  else for (const line of report.data) print(`${line.group.padEnd(24)} ${String(line.tasks).padStart(5)} tasks ${String(line.completed).padStart(5)} completed  $${(line.spend / 1e6).toFixed(2)}`);
  return 0;
}
