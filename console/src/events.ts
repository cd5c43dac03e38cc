import { createParser } from 'eventsource-parser';
import { authHeaders } from './api.ts';
import type { Video } from './types.ts';

/**
 * Follows a task's event stream (GET /v1/videos/{id}/events). EventSource cannot send an
 * Authorization header, so the stream is read with fetch and parsed by eventsource-parser.
 * Resolves with the last state seen when the stream ends; `stop` aborts it.
 */
export function followTask(id: string, onUpdate: (video: Video) => void): { done: Promise<Video | null>; stop: () => void } {
  const controller = new AbortController();
  const done = (async () => {
    let last: Video | null = null;
    const response = await fetch(`/v1/videos/${encodeURIComponent(id)}/events`, { headers: authHeaders(), signal: controller.signal });
    if (!response.ok || !response.body) return null;
    const parser = createParser({
      onEvent(event) {
        if (event.event === 'video.deleted') return;
        last = JSON.parse(event.data) as Video;
        onUpdate(last);
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.feed(value);
    }
    return last;
  })().catch((error: unknown) => {
    if (controller.signal.aborted) return null;
    throw error;
  });
  return { done, stop: () => controller.abort() };
}
