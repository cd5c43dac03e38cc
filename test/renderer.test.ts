import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ffmpegPath, probeMedia } from '../src/media/ffmpeg.ts';
import { renderVideo, type RenderSpec } from '../src/providers/local/scenes.ts';
import { mp4File, pngFile } from './support/media.ts';

/** The preview renderer on its own: each scene's frame, length, codec; progress; abort; bad input. */
const scratch = mkdtempSync(path.join(os.tmpdir(), 'vidgate-renderer-'));
const wide = pngFile(640, 360);
const tall = pngFile(300, 500);
const clip = mp4File(2, 320, 240);
const tricky = `It's a "test": 100% \\ done, {braces} [brackets] ; semicolons 🚀 ${'and a long tail '.repeat(20)}`;

function spec(overrides: Partial<RenderSpec>): RenderSpec {
  return {
    capability: 'text_to_video', prompt: tricky, width: 854, height: 480, seconds: 1,
    images: [], lastImage: null, video: null, inputVideoSeconds: null, audio: false,
    outputPath: path.join(scratch, `${Math.random().toString(36).slice(2)}.mp4`),
    ...overrides,
  };
}

async function assertRendered(input: RenderSpec) {
  await renderVideo(input, {});
  const info = await probeMedia(input.outputPath);
  assert.equal(info.videoCodec, 'h264');
  assert.equal(info.pixelFormat, 'yuv420p');
  assert.equal(info.width, input.width);
  assert.equal(info.height, input.height);
  assert.ok(Math.abs(info.duration - input.seconds) <= 0.1, `duration ${info.duration}`);
  assert.equal(info.hasAudio, input.audio);
}

describe('scenes', () => {
  const cases: [string, Partial<RenderSpec>][] = [
    ['text to video, landscape', { width: 854, height: 480, seconds: 2 }],
    ['text to video, portrait, with a tone', { width: 480, height: 854, audio: true }],
    ['image to video from a JPEG-sized portrait', { capability: 'image_to_video', images: [tall], width: 480, height: 480 }],
    ['first and last frame', { capability: 'first_last_frame', images: [wide], lastImage: tall, width: 960, height: 540 }],
    ['three reference images', { capability: 'reference_to_video', images: [wide, tall, wide], width: 854, height: 480 }],
    ['edit keeps the input length', { capability: 'edit_video', video: clip, width: 640, height: 480, seconds: 2 }],
    ['extend appends to the input', { capability: 'video_extend', video: clip, inputVideoSeconds: 2, width: 320, height: 240, seconds: 3 }],
  ];
  for (const [name, overrides] of cases) test(name, () => assertRendered(spec(overrides)));
});

describe('the render process', () => {
  test('progress rises and ends near 1', async () => {
    const seen: number[] = [];
    // ffmpeg reports about twice a second: a clip long enough for several reports.
    await renderVideo(spec({ seconds: 10, width: 1280, height: 720 }), { onProgress: (fraction) => seen.push(fraction) });
    assert.ok(seen.length >= 2);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.ok(seen.at(-1)! > 0.9);
  });

  test('an abort stops ffmpeg and rejects', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const render = renderVideo(spec({ seconds: 15, width: 1280, height: 720 }), { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(render, (error: Error) => error.name === 'AbortError');
    assert.ok(Date.now() - started < 5000);
    const running = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((line) => line.startsWith(ffmpegPath) && line.includes(scratch));
    assert.deepEqual(running, []);
  });

  test('a corrupt input rejects with an error, not a crash or a hang', async () => {
    const corrupt = path.join(scratch, 'corrupt.png');
    writeFileSync(corrupt, 'this is not a picture');
    // ffmpeg spins on some broken stills instead of failing: the time limit ends it.
    await assert.rejects(renderVideo(spec({ capability: 'image_to_video', images: [corrupt] }), { timeoutMs: 3000 }), /ffmpeg/);
    await assert.rejects(probeMedia(corrupt), /ffprobe exited|no picture/);
  });
});
