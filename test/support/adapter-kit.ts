import assert from 'node:assert/strict';
import type { MediaRef, VideoJob } from '../../src/catalog/types.ts';
import { ProviderFailure } from '../../src/providers/interface.ts';
import type { UpstreamJob } from '../../src/providers/upstream.ts';

/** What the adapter tests (test/provider-*.test.ts) build jobs and read failures with. */

export const ratio = (label: string, width: number, height: number) => ({ kind: 'ratio' as const, label, width, height });
export const url = (value: string): MediaRef => ({ kind: 'url', url: value });
export const signal = () => new AbortController().signal;

/** A validated job with nothing but what the test names: no inputs, no options. */
export function baseJob(fields: Partial<VideoJob> & Pick<VideoJob, 'model' | 'prompt'>): VideoJob {
  return {
    capability: 'text_to_video',
    seconds: null,
    resolution: null,
    aspectRatio: null,
    images: [],
    lastImage: null,
    video: null,
    videos: [],
    inputVideoSeconds: null,
    options: {},
    warnings: [],
    ...fields,
  };
}

/** The job as the engine hands it over: its inputs as the strings in its refs. */
export function upstreamJob(videoJob: VideoJob, upstreamModel: string, callbackUrl: string | null = null): UpstreamJob {
  const text = (ref: MediaRef) => (ref.kind === 'url' ? ref.url : assert.fail('tests use url refs'));
  return {
    taskId: 'video_0123abcd',
    job: videoJob,
    upstreamModel,
    inputs: {
      images: videoJob.images.map(text),
      lastImage: videoJob.lastImage && text(videoJob.lastImage),
      video: videoJob.video && text(videoJob.video),
      videos: videoJob.videos.map(text),
    },
    callbackUrl,
  };
}

export async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection');
}

/** Every word an error carries (message, detail, causes) is free of the channel's keys. */
export function assertNoKey(error: unknown, keys: readonly string[]): void {
  const words: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    words.push(current.message, current instanceof ProviderFailure ? (current.detail ?? '') : '');
  }
  const text = words.join('\n');
  for (const key of keys) assert.ok(!text.includes(key), `a key leaked into: ${text}`);
}
