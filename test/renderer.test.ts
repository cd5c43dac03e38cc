import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FfmpegError, ffmpegPath, probeMedia, runFfmpeg } from '../src/media/ffmpeg.ts';
import { renderVideo, type RenderSpec } from '../src/providers/local/scenes.ts';

/**
 * The preview renderer on its own: every scene's codec, frame, length and audio; awkward
 * prompts; progress; abort; broken inputs. Inputs are made here with ffmpeg, small and fast.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'vidgate-renderer-test-'));
const inputs = path.join(root, 'inputs');
const outputs = path.join(root, 'outputs');
// The renderer's scratch folders land here (os.tmpdir() follows TMPDIR), so we can see they are removed.
const scratch = path.join(root, 'scratch');
const originalTmpdir = process.env.TMPDIR;

const file = (name: string) => path.join(inputs, name);
let outputCount = 0;

function make(name: string, args: string[]): string {
  execFileSync(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', ...args, file(name)]);
  return file(name);
}

before(() => {
  for (const directory of [inputs, outputs, scratch]) mkdirSync(directory, { recursive: true });
  process.env.TMPDIR = scratch;
  make('wide.png', ['-f', 'lavfi', '-i', 'testsrc2=s=640x360', '-frames:v', '1']);
  make('tall.jpg', ['-f', 'lavfi', '-i', 'mandelbrot=s=300x500', '-frames:v', '1']);
  make('small.webp', ['-f', 'lavfi', '-i', 'testsrc2=s=200x120', '-frames:v', '1', '-c:v', 'libwebp']);
  // 30 fps with a tone: the renderer must retime it and must not let the tone through.
  make('clip.mp4', [
    '-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=30:d=2', '-f', 'lavfi', '-i', 'sine=frequency=300:d=2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
  ]);
  make('silent-portrait.mp4', ['-f', 'lavfi', '-i', 'testsrc2=s=240x320:r=24:d=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']);
  writeFileSync(file('not-a-picture.png'), 'this is not a picture');
  // A real PNG cut short: this ffmpeg build crashes (SIGSEGV) decoding it; that must still be a plain rejection.
  const png = readFileSync(file('wide.png'));
  writeFileSync(file('truncated.png'), png.subarray(0, Math.floor(png.length / 6)));
  const mp4 = readFileSync(file('clip.mp4'));
  writeFileSync(file('truncated.mp4'), mp4.subarray(0, Math.floor(mp4.length / 4)));
});

after(() => {
  if (originalTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = originalTmpdir;
  rmSync(root, { recursive: true, force: true });
});

function spec(overrides: Partial<RenderSpec>): RenderSpec {
  return {
    capability: 'text_to_video',
    prompt: 'A lighthouse on a cliff at dusk, waves rolling in, seen from a slowly circling drone',
    width: 854,
    height: 480,
    seconds: 1,
    images: [],
    lastImage: null,
    video: null,
    inputVideoSeconds: null,
    audio: false,
    outputPath: path.join(outputs, `out-${outputCount++}.mp4`),
    ...overrides,
  };
}

async function assertRendered(input: RenderSpec): Promise<void> {
  await renderVideo(input, {});
  const info = await probeMedia(input.outputPath);
  assert.equal(info.videoCodec, 'h264');
  assert.equal(info.pixelFormat, 'yuv420p');
  assert.equal(info.width, input.width);
  assert.equal(info.height, input.height);
  assert.ok(Math.abs(info.duration - input.seconds) <= 0.1, `duration ${info.duration}, wanted ${input.seconds}`);
  assert.equal(info.hasAudio, input.audio);
  assert.deepEqual(readdirSync(scratch), [], 'the scratch folder is removed');
}

/** Live ffmpeg processes whose command line names `needle` (read from /proc: ps may truncate long lines). */
function ffmpegProcesses(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args[0] === ffmpegPath && args.includes(needle)) found.push(pid);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

describe('probeMedia', () => {
  test('an image has its size and no duration', async () => {
    const info = await probeMedia(file('tall.jpg'));
    assert.deepEqual([info.width, info.height, info.duration, info.hasAudio], [300, 500, 0, false]);
  });

  test('a video has its size, length and audio', async () => {
    const info = await probeMedia(file('clip.mp4'));
    assert.deepEqual([info.width, info.height, info.videoCodec, info.hasAudio], [320, 240, 'h264', true]);
    assert.ok(Math.abs(info.duration - 2) < 0.1);
  });

  test('undecodable files reject with an Error', async () => {
    for (const name of ['not-a-picture.png', 'truncated.mp4', 'missing.png']) {
      await assert.rejects(probeMedia(file(name)), Error, name);
    }
  });
});

describe('scenes', () => {
  const cases: [string, () => Partial<RenderSpec>][] = [
    ['text to video, landscape, 2 s', () => ({ seconds: 2 })],
    ['text to video, portrait, with a tone', () => ({ width: 480, height: 854, audio: true })],
    ['image to video: a tall JPEG covering a wide frame', () => ({ capability: 'image_to_video', images: [file('tall.jpg')], seconds: 1.5 })],
    ['image to video: a WebP in a square frame', () => ({ capability: 'image_to_video', images: [file('small.webp')], width: 480, height: 480 })],
    ['first and last frame, portrait', () => ({ capability: 'first_last_frame', images: [file('wide.png')], lastImage: file('tall.jpg'), width: 480, height: 854 })],
    ['three reference images', () => ({ capability: 'reference_to_video', images: [file('wide.png'), file('tall.jpg'), file('small.webp')] })],
    ['one reference image, square, with a tone', () => ({ capability: 'reference_to_video', images: [file('tall.jpg')], width: 480, height: 480, audio: true })],
    ['edit drops the input audio', () => ({ capability: 'edit_video', video: file('clip.mp4'), width: 640, height: 480, seconds: 2 })],
    ['edit with a tone, reframed to portrait', () => ({ capability: 'edit_video', video: file('clip.mp4'), width: 480, height: 854, seconds: 2, audio: true })],
    ['extend appends a second', () => ({ capability: 'video_extend', video: file('clip.mp4'), inputVideoSeconds: 2, width: 640, height: 480, seconds: 3 })],
    ['extend probes the input length when not given', () => ({ capability: 'video_extend', video: file('silent-portrait.mp4'), width: 480, height: 640, seconds: 2, audio: true })],
  ];
  for (const [name, overrides] of cases) test(name, () => assertRendered(spec(overrides())));

  test('a prompt with quotes, colons, %, backslashes, braces, newlines and emoji', async () => {
    const prompt = `It's a "test": 100% \\ done, %{pts} {braces} [brackets]; semicolons\nnew line 🚀🎬 ünïcödé — ${'and a long tail '.repeat(30)}`;
    await assertRendered(spec({ prompt }));
    await assertRendered(spec({ prompt, capability: 'edit_video', video: file('clip.mp4'), width: 480, height: 480, seconds: 2 }));
  });

  test('an empty prompt still renders', () => assertRendered(spec({ prompt: '', width: 480, height: 480 })));
});

describe('the render process', () => {
  test('progress rises and ends at 1', async () => {
    const seen: number[] = [];
    // ffmpeg reports about twice a second: a clip that takes a couple of seconds to make.
    await renderVideo(spec({ seconds: 10 }), { onProgress: (fraction) => seen.push(fraction) });
    assert.ok(seen.length >= 2, `progress values: ${seen.join(', ')}`);
    assert.ok(seen[0]! > 0);
    // Steps of at least 1%, except the closing 1, which is always sent.
    for (let index = 1; index < seen.length; index++) {
      assert.ok(seen[index]! - seen[index - 1]! >= (index === seen.length - 1 ? Number.EPSILON : 0.01), `not increasing: ${seen.join(', ')}`);
    }
    assert.equal(seen.at(-1), 1);
  });

  test('an abort kills ffmpeg and rejects with an AbortError', async () => {
    const controller = new AbortController();
    const input = spec({ seconds: 60, width: 1280, height: 720 });
    let firstProgress = -1;
    let runningBeforeAbort = 0;
    const render = renderVideo(input, {
      signal: controller.signal,
      onProgress: (fraction) => {
        // Abort once ffmpeg is surely running and encoding.
        if (firstProgress < 0) {
          firstProgress = fraction;
          runningBeforeAbort = ffmpegProcesses(input.outputPath).length;
          controller.abort();
        }
      },
    });
    const started = Date.now();
    await assert.rejects(render, (error: Error) => error.name === 'AbortError');
    assert.ok(firstProgress > 0 && firstProgress < 0.5, `aborted at ${firstProgress}`);
    assert.ok(Date.now() - started < 5000);
    assert.equal(runningBeforeAbort, 1, 'the process check sees the running ffmpeg');
    assert.deepEqual(ffmpegProcesses(input.outputPath), []);
    assert.deepEqual(readdirSync(scratch), []);
  });

  test('an already aborted signal rejects without starting ffmpeg', async () => {
    const reason = new DOMException('stopped by the test', 'AbortError');
    const input = spec({});
    await assert.rejects(renderVideo(input, { signal: AbortSignal.abort(reason) }), (error) => error === reason);
    assert.deepEqual(readdirSync(outputs).filter((name) => input.outputPath.endsWith(name)), []);
  });

  test('corrupt inputs reject with an Error, not a crash or a hang', async () => {
    const broken: Partial<RenderSpec>[] = [
      { capability: 'image_to_video', images: [file('not-a-picture.png')] },
      { capability: 'image_to_video', images: [file('truncated.png')] },
      { capability: 'first_last_frame', images: [file('wide.png')], lastImage: file('not-a-picture.png') },
      { capability: 'edit_video', video: file('truncated.mp4'), seconds: 2 },
      { capability: 'video_extend', video: file('not-a-picture.png'), inputVideoSeconds: 1, seconds: 2 },
    ];
    for (const overrides of broken) {
      await assert.rejects(renderVideo(spec(overrides), { timeoutMs: 10_000 }), (error: Error) => {
        assert.ok(error instanceof FfmpegError, `${error.name}: ${error.message}`);
        assert.ok(error.stderrTail.length > 0);
        return true;
      });
    }
    assert.deepEqual(readdirSync(scratch), []);
  });

  test('runFfmpeg rejects with the end of stderr', async () => {
    await assert.rejects(runFfmpeg(['-i', file('missing.mp4'), path.join(outputs, 'never.mp4')], { durationSeconds: 1 }), /No such file or directory/);
  });

  test('a spec missing its inputs is refused before ffmpeg runs', async () => {
    await assert.rejects(renderVideo(spec({ capability: 'edit_video' }), {}), /needs a video/);
    await assert.rejects(renderVideo(spec({ width: 853 }), {}), /even/);
  });
});
