import { createParser } from 'eventsource-parser';
import { type GatewayClient, GatewayError } from './client.ts';

export interface VideoObject {
  id: string;
  status: string;
  progress: number;
  model: string;
  seconds: string | null;
  size: string | null;
  error: { code: string; message: string } | null;
  billing?: { price: number | null; cost: number | null };
}

const ENDED = new Set(['completed', 'failed', 'cancelled']);

/**
 * Follows a task's event stream to its end, drawing progress on `out`: a bar redrawn in
 * place on a terminal, else one line each time the status or progress changes (a log
 * reads well). Falls back to polling if the stream breaks off before the end.
 */
export async function follow(client: GatewayClient, id: string, out: NodeJS.WriteStream): Promise<VideoObject> {
  const route = `/v1/videos/${encodeURIComponent(id)}`;
  let last: VideoObject | null = null;
  let shown = '';
  const draw = (video: VideoObject) => {
    last = video;
    const line = `${video.status} ${video.progress}%`;
    if (line === shown) return;
    shown = line;
    if (!out.isTTY) {
      out.write(`${id} ${line}\n`);
      return;
    }
    const width = 30;
    const filled = Math.round((video.progress / 100) * width);
    out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(video.progress).padStart(3)}% ${video.status.padEnd(12)}`);
    if (ENDED.has(video.status)) out.write('\n');
  };
  try {
    const response = await client.request('GET', `${route}/events`);
    const parser = createParser({
      onEvent(event) {
        if (event.event?.startsWith('video.') && event.event !== 'video.deleted') draw(JSON.parse(event.data) as VideoObject);
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch (error) {
    // A refusal is the user's to read; a stream that broke off (a restart, a proxy) is polled below.
    if (error instanceof GatewayError && error.status >= 400 && error.status < 500) throw error;
  }
  // Assigned by draw(), which TypeScript cannot see from here.
  let video = (last as VideoObject | null) ?? (await client.json<VideoObject>('GET', route));
  while (!ENDED.has(video.status)) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    video = await client.json<VideoObject>('GET', route);
    draw(video);
  }
  return video;
}
