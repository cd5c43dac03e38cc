import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { VideoJob } from '../src/catalog/types.ts';
import { FfmpegError, ffmpegPath, ffprobePath, PROBE_CONCURRENCY, probeMedia, runFfmpeg } from '../src/media/ffmpeg.ts';
import { inputProblem, MAX_INPUT_PIXELS } from '../src/media/limits.ts';
import { MediaResolver } from '../src/net/media.ts';
import { FetchError } from '../src/net/guarded-fetch.ts';
import { ProviderFailure, type ProviderContext, type ProviderStatus } from '../src/providers/interface.ts';
import { isRetryable } from '../src/providers/local/failures.ts';
import { LocalProvider } from '../src/providers/local/provider.ts';
import { renderTimeoutMs } from '../src/providers/local/render-timeout.ts';
import { renderVideo, type RenderSpec } from '../src/providers/local/scenes.ts';
import { LocalStorage } from '../src/storage/local.ts';
import { pngFile } from './support/media.ts';
import { startOrigin } from './support/origin.ts';
import { retryUntil } from './support/wait.ts';

/**
 * The preview renderer on its own: every scene's codec, frame, length and audio; awkward
 * prompts; progress; abort; broken inputs; then the local provider around it: input limits,
 * cleanup on every way a render ends, failures logged and, when a retry can mend them, retried.
 * Inputs are made here with ffmpeg, small and fast.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'vidgate-renderer-test-'));
const inputs = path.join(root, 'inputs');
const outputs = path.join(root, 'outputs');
// The scratch root every render is given: it must be empty again after each one.
const scratch = path.join(root, 'scratch');

const file = (name: string) => path.join(inputs, name);
let outputCount = 0;

function make(name: string, args: string[]): string {
  execFileSync(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', ...args, file(name)]);
  return file(name);
}

before(() => {
  for (const directory of [inputs, outputs, scratch]) mkdirSync(directory, { recursive: true });
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
  // Just over the pixel limit (7072² = 50.01 MP); a flat colour, so it is quick to make and small on disk.
  make('over-limit.png', ['-f', 'lavfi', '-i', 'color=c=gray:s=7072x7072', '-frames:v', '1']);
  // Longer than an edit takes (1 to 8 s); tiny and at 2 fps, so it is quick to make.
  make('twelve-seconds.mp4', ['-f', 'lavfi', '-i', 'testsrc2=s=64x64:r=2:d=12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']);
});

after(() => {
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
    referenceVideos: [],
    lastImage: null,
    video: null,
    inputVideoSeconds: null,
    audio: false,
    outputPath: path.join(outputs, `out-${outputCount++}.mp4`),
    ...overrides,
  };
}

async function assertRendered(input: RenderSpec): Promise<void> {
  await renderVideo(input, { scratchDirectory: scratch });
  const info = await probeMedia(input.outputPath);
  assert.equal(info.videoCodec, 'h264');
  assert.equal(info.pixelFormat, 'yuv420p');
  assert.equal(info.width, input.width);
  assert.equal(info.height, input.height);
  assert.ok(Math.abs(info.duration - input.seconds) <= 0.1, `duration ${info.duration}, wanted ${input.seconds}`);
  assert.equal(info.hasAudio, input.audio);
  assert.deepEqual(readdirSync(scratch), [], 'the scratch root is left empty');
}

/** Live ffmpeg processes with an argument that contains `needle` (read from /proc: ps may truncate long lines). */
function ffmpegProcesses(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args[0] === ffmpegPath && args.some((arg) => arg.includes(needle))) found.push(pid);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** The memory high-water marks (kB) of live `program` processes with `needle` among their arguments. */
function peakRssKb(program: string, needle: string): number[] {
  const peaks: number[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args[0] !== program || !args.includes(needle)) continue;
      const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) peaks.push(Number(hwm[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  return peaks;
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

  test('a picture too big to accept is measured without decoding it whole', async () => {
    // Probing is how oversized inputs are caught: it must not cost what rendering them would.
    const probing = probeMedia(file('over-limit.png'));
    let peakKb = 0;
    for (let settled = false; !settled; ) {
      peakKb = Math.max(peakKb, ...peakRssKb(ffprobePath, file('over-limit.png')));
      settled = await Promise.race([probing.then(() => true, () => true), delay(5).then(() => false)]);
    }
    const info = await probing;
    assert.deepEqual([info.width, info.height], [7072, 7072]);
    assert.ok(peakKb < 100_000, `ffprobe peaked at ${peakKb} kB`);
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
    ['a reference video alone', () => ({ capability: 'reference_to_video', referenceVideos: [file('clip.mp4')] })],
    ['reference images and videos together', () => ({ capability: 'reference_to_video', images: [file('wide.png')], referenceVideos: [file('clip.mp4'), file('silent-portrait.mp4')], width: 480, height: 480 })],
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
    await renderVideo(spec({ seconds: 10 }), { scratchDirectory: scratch, onProgress: (fraction) => seen.push(fraction) });
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
      scratchDirectory: scratch,
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
    assert.equal(existsSync(input.outputPath), false, 'no partial output is left');
  });

  test('an already aborted signal rejects without starting ffmpeg', async () => {
    const reason = new DOMException('stopped by the test', 'AbortError');
    const input = spec({});
    await assert.rejects(renderVideo(input, { scratchDirectory: scratch, signal: AbortSignal.abort(reason) }), (error) => error === reason);
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
      const input = spec(overrides);
      await assert.rejects(renderVideo(input, { scratchDirectory: scratch, timeoutMs: 10_000 }), (error: Error) => {
        assert.ok(error instanceof FfmpegError, `${error.name}: ${error.message}`);
        assert.ok(error.stderrTail.length > 0);
        return true;
      });
      assert.equal(existsSync(input.outputPath), false, 'no partial output is left');
    }
    assert.deepEqual(readdirSync(scratch), []);
  });

  test('runFfmpeg rejects with the end of stderr', async () => {
    await assert.rejects(runFfmpeg(['-i', file('missing.mp4'), path.join(outputs, 'never.mp4')], { durationSeconds: 1 }), /No such file or directory/);
  });

  test('a spec missing its inputs is refused before ffmpeg runs', async () => {
    await assert.rejects(renderVideo(spec({ capability: 'edit_video' }), { scratchDirectory: scratch }), /needs a video/);
    await assert.rejects(renderVideo(spec({ width: 853 }), { scratchDirectory: scratch }), /even/);
  });

  test('scratch is made under the given root, never in the OS temp dir', async () => {
    // What kill -9 leaves in the OS temp dir stays forever; under the given root its owner clears it.
    const osTemp = path.join(root, 'os-temp');
    mkdirSync(osTemp);
    const originalTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = osTemp;
    const during: { root: string[]; osTemp: string[] }[] = [];
    try {
      await renderVideo(spec({ seconds: 4 }), {
        scratchDirectory: scratch,
        onProgress: () => {
          if (during.length === 0) during.push({ root: readdirSync(scratch), osTemp: readdirSync(osTemp) });
        },
      });
    } finally {
      if (originalTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = originalTmpdir;
    }
    assert.equal(during[0]?.root.length, 1, 'one scratch folder under the given root while rendering');
    assert.deepEqual(during[0]?.osTemp, []);
    assert.deepEqual(readdirSync(scratch), []);
  });

  test('the time limit grows with the pixels encoded, from a floor', () => {
    const limit = (width: number, height: number, seconds: number) => renderTimeoutMs({ width, height, seconds });
    // The shortest clips still get the floor, which covers starting ffmpeg and decoding the inputs.
    assert.ok(limit(16, 16, 1) >= 60_000);
    assert.ok(limit(854, 480, 1) < 70_000, `${limit(854, 480, 1)}`);
    // Twice the pixel-seconds, twice the time above the floor, however they are made up.
    const floor = limit(16, 16, 0);
    assert.equal(limit(1280, 720, 12) - floor, 2 * (limit(1280, 720, 6) - floor));
    assert.equal(limit(1280, 720, 12), limit(2560, 720, 6));
    // A long 1080p extension (the largest the catalog allows) gets minutes, not an hour.
    assert.ok(limit(1920, 1080, 25) > 5 * 60_000 && limit(1920, 1080, 25) < 10 * 60_000, `${limit(1920, 1080, 25)}`);
  });
});

describe('input limits', () => {
  test('probes run a few at a time, however many are asked for at once (a flood of quotes with inputs must not start an ffprobe each)', async () => {
    // A large picture: ffprobe decodes its first frame, so each probe lasts long enough to overlap.
    const file = pngFile(4000, 3000);
    // This process's own ffprobes (children of its probe host, itself a child of this process):
    // other test files probe at the same time on this machine.
    const read = (pid: string, file: string) => {
      try {
        return readFileSync(`/proc/${pid}/${file}`, 'utf8');
      } catch {
        return ''; // gone meanwhile
      }
    };
    const parentOf = (pid: string) => Number(read(pid, 'stat').split(') ')[1]?.split(' ')[1] ?? -1);
    const running = () => {
      const pids = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid));
      const hosts = new Set(pids.filter((pid) => parentOf(pid) === process.pid).map(Number));
      return pids.filter((pid) => hosts.has(parentOf(pid)) && read(pid, 'cmdline').startsWith(ffprobePath)).length;
    };
    let most = 0;
    let done = false;
    const sampling = (async () => {
      while (!done) {
        most = Math.max(most, running());
        await delay(2);
      }
    })();
    const infos = await Promise.all(Array.from({ length: 40 }, () => probeMedia(file)));
    done = true;
    await sampling;
    assert.ok(infos.every((info) => info.width === 4000 && info.still));
    assert.ok(most >= 1 && most <= PROBE_CONCURRENCY, `at most ${PROBE_CONCURRENCY} ffprobe at once, saw ${most}`);
  });

  const picture = (width: number, height: number, duration = 0) => ({ width, height, duration, still: duration === 0 });

  test('pictures up to the limit pass: a 48 MP phone photo, an 8K video frame', () => {
    assert.equal(inputProblem('image', picture(8064, 6048), 'images[0]'), null);
    assert.equal(inputProblem('video', picture(7680, 4320, 5), 'video'), null);
    assert.ok(MAX_INPUT_PIXELS >= 8064 * 6048);
  });

  test('an image input that is no still picture (a video, a GIF, bytes read as another format) is refused, naming it', () => {
    const problem = inputProblem('image', { width: 480, height: 3750, duration: 0, still: false }, 'images[0]');
    assert.deepEqual([problem?.code, problem?.message], ['invalid_media', 'images[0] could not be read as a still picture; send a PNG, JPEG or WebP image']);
  });

  test('a picture over the limit is refused, naming the input and the limit', () => {
    const problem = inputProblem('image', picture(16000, 16000), 'images[1]');
    assert.equal(problem?.code, 'input_too_large');
    assert.match(problem?.message ?? '', /images\[1\]/);
    assert.match(problem?.message ?? '', /16000×16000/);
    assert.match(problem?.message ?? '', new RegExp(`${MAX_INPUT_PIXELS / 1e6} megapixels`));
    assert.equal(inputProblem('video', picture(7072, 7072, 3), 'video')?.code, 'input_too_large');
  });

  test('an input video must be within the range once rounded to whole seconds', () => {
    const edit = { min: 1, max: 8 };
    const extend = { min: 2, max: 15 };
    assert.equal(inputProblem('video', picture(320, 240, 8.4), 'video', edit), null);
    assert.equal(inputProblem('video', picture(320, 240, 0.3), 'video', edit), null, 'a short clip counts as 1 s');
    const long = inputProblem('video', picture(320, 240, 3600), 'video', edit);
    assert.equal(long?.code, 'input_video_out_of_range');
    assert.match(long?.message ?? '', /3600\.0 s/);
    assert.match(long?.message ?? '', /1 to 8 s/);
    assert.equal(inputProblem('video', picture(320, 240, 8.6), 'video', edit)?.code, 'input_video_out_of_range');
    assert.equal(inputProblem('video', picture(320, 240, 1.4), 'video', extend)?.code, 'input_video_out_of_range');
    assert.equal(inputProblem('video', picture(320, 240, 3600), 'video'), null, 'no range, no length rule');
  });
});

describe('failures a retry can mend', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: something, write '/data/work/x'`), { code });

  test('a full disk, a full quota, too many open files and I/O errors are retried', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EIO', 'EAGAIN']) assert.equal(isRetryable(errno(code)), true, code);
    assert.equal(isRetryable(new FfmpegError('ffmpeg failed (exit code 1)', 'av_interleaved_write_frame(): No space left on device', 1, null)), true);
    // ffmpeg could not even be started (spawn EMFILE, EAGAIN): the cause says why.
    assert.equal(isRetryable(new Error('could not start ffmpeg: spawn EMFILE', { cause: errno('EMFILE') })), true);
  });

  test('what a retry cannot mend is not retried', () => {
    for (const code of ['EACCES', 'ENOENT', 'EISDIR']) assert.equal(isRetryable(errno(code)), false, code);
    assert.equal(isRetryable(new FfmpegError('ffmpeg failed (exit code 1)', 'Invalid data found when processing input', 1, null)), false);
    assert.equal(isRetryable(new ProviderFailure('input_too_large', 'too big')), false);
    assert.equal(isRetryable(new FetchError('fetch_failed', 'Could not fetch http://example.com/a.png: EAGAIN.')), false);
    assert.equal(isRetryable(new DOMException('stopped', 'AbortError')), false);
    assert.equal(isRetryable('ENOSPC'), false);
  });
});

describe('the local provider', () => {
  const storage = new LocalStorage(path.join(root, 'files'));
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let media: MediaResolver;
  let works = 0;
  let tasks = 0;

  before(async () => {
    // The origin matches the whole request URL: the query is part of the name.
    origin = await startOrigin({ '/long.mp4?token=secret-in-query': { type: 'video/mp4', body: readFileSync(file('twelve-seconds.mp4')) } });
    media = new MediaResolver(storage, { allowedPrivateHosts: new Set([origin.hostPort]), maxBytes: 100 * 1024 * 1024, timeoutMs: 10_000 }, path.join(root, 'probes'));
    for (const name of ['wide.png', 'truncated.png', 'over-limit.png']) await storage.putBuffer(`inputs/${name}`, readFileSync(file(name)));
  });
  after(() => origin.close());

  const stored = (name: string) => ({ kind: 'stored' as const, key: `inputs/${name}`, mime: 'image/png' });

  /** A provider over its own work directory, with its log lines kept for the test to read. */
  function localProvider(workDirectory = path.join(root, `work-${works++}`)) {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { provider: new LocalProvider({ media, workDirectory, concurrency: 1, log }), workDirectory, lines };
  }

  function context(overrides: Partial<VideoJob>, signal = new AbortController().signal): ProviderContext {
    const job: VideoJob = {
      model: 'grok-imagine',
      capability: 'text_to_video',
      prompt: 'a red kite over the sea',
      seconds: 1,
      resolution: { label: '480p', shortSide: 480 },
      aspectRatio: { kind: 'ratio', label: '16:9', width: 16, height: 9 },
      images: [],
      lastImage: null,
      video: null,
      videos: [],
      inputVideoSeconds: null,
      options: {},
      warnings: [],
      ...overrides,
    };
    return { taskId: `video_test${tasks++}`, job, signal };
  }

  /** What the runner does: start, then ask for status until the render ends. */
  async function runToEnd(provider: LocalProvider, task: ProviderContext): Promise<ProviderStatus> {
    await provider.start(task);
    for (;;) {
      const status = await provider.status({}, task);
      if (status.state !== 'pending') return status;
    }
  }

  /** Files are removed a moment after the render settles: wait for that, within a bound. */
  async function assertEmptied(directory: string): Promise<void> {
    await retryUntil(() => (existsSync(directory) ? readdirSync(directory) : []), (left) => left.length === 0, `${directory} emptied`, 5000, 50);
    assert.deepEqual(existsSync(directory) ? readdirSync(directory) : [], [], `${directory} is left empty`);
  }

  test('a finished video the runner does not take is removed once it lets go of the task', async () => {
    const { provider, workDirectory } = localProvider();
    const controller = new AbortController();
    const status = await runToEnd(provider, context({}, controller.signal));
    assert.equal(status.state, 'completed', JSON.stringify(status));
    const info = await probeMedia((status as { file: string }).file);
    assert.deepEqual([info.videoCodec, info.width, info.height], ['h264', 854, 480]);
    assert.ok(Math.abs(info.duration - 1) <= 0.1);
    // The runner aborts its signal whenever it lets go; here it never moved the file into storage (say, the disk was full).
    controller.abort();
    await assertEmptied(workDirectory);
  });

  test('an aborted render leaves the work directory empty and is not logged as an error', async () => {
    const { provider, workDirectory, lines } = localProvider();
    const controller = new AbortController();
    const task = context({ seconds: 60, resolution: { label: '720p', shortSide: 720 } }, controller.signal);
    await provider.start(task);
    for (let status = await provider.status({}, task); status.state === 'pending' && status.progress === 0; status = await provider.status({}, task));
    assert.ok(readdirSync(workDirectory).length > 0, 'the render works in its directory');
    // As the runner does when the task is cancelled: its reason is a plain Error, not an AbortError.
    controller.abort(new Error('task cancelled'));
    await assertEmptied(workDirectory);
    assert.deepEqual(ffmpegProcesses(workDirectory), []);
    assert.deepEqual(lines.filter((line) => (line.level as number) >= 40), [], 'a cancel is no failure to alarm anyone');
  });

  test('a failed render leaves the work directory empty and is logged with ffmpeg’s own words', async () => {
    const { provider, workDirectory, lines } = localProvider();
    const task = context({ capability: 'image_to_video', images: [stored('truncated.png')] });
    const status = await runToEnd(provider, task);
    assert.equal(status.state, 'failed');
    assert.equal((status as { code: string }).code, 'render_failed');
    await assertEmptied(workDirectory);
    const logged = lines.find((line) => line.task === task.taskId && (line.level as number) >= 50);
    assert.ok(logged, JSON.stringify(lines));
    assert.ok(JSON.stringify(logged).length > 200, 'the log line carries the end of ffmpeg’s stderr');
  });

  test('an input image over the pixel limit is refused before rendering, by its name', async () => {
    const { provider, workDirectory } = localProvider();
    const cases: [Partial<VideoJob>, string][] = [
      [{ capability: 'reference_to_video', images: [stored('wide.png'), stored('over-limit.png')] }, 'images[1]'],
      [{ capability: 'first_last_frame', images: [stored('wide.png')], lastImage: stored('over-limit.png') }, 'last_image'],
    ];
    for (const [job, param] of cases) {
      const status = await runToEnd(provider, context(job));
      assert.equal(status.state, 'failed', JSON.stringify(status));
      const { code, message } = status as { code: string; message: string };
      assert.equal(code, 'input_too_large');
      assert.ok(message.includes(param), message);
      assert.ok(message.includes(`${MAX_INPUT_PIXELS / 1e6} megapixels`), message);
    }
    await assertEmptied(workDirectory);
  });

  test('an edit of a video given as a URL is refused when the video is longer than edits take', async () => {
    const { provider, workDirectory, lines } = localProvider();
    const url = `${origin.url}/long.mp4?token=secret-in-query`;
    const status = await runToEnd(provider, context({ capability: 'edit_video', seconds: null, aspectRatio: null, video: { kind: 'url', url } }));
    assert.equal(status.state, 'failed', JSON.stringify(status));
    const { code, message } = status as { code: string; message: string };
    assert.equal(code, 'input_video_out_of_range');
    assert.match(message, /12\.0 s/);
    assert.match(message, /1 to 8 s/);
    await assertEmptied(workDirectory);
    assert.ok(lines.length > 0, 'the refusal is logged');
    assert.ok(!JSON.stringify(lines).includes('secret-in-query'), 'no input URL query in the log');
  });

  test('a full disk is handed back to be retried, not failed, and logged', async (t) => {
    const full = path.join(root, 'full');
    mkdirSync(full);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a small tmpfs here (needs root)');
      return;
    }
    try {
      const { provider, lines } = localProvider(path.join(full, 'work'));
      const task = context({ seconds: 3, resolution: { label: '720p', shortSide: 720 } });
      await assert.rejects(runToEnd(provider, task), (error: Error) => {
        // A plain Error, so that the runner releases the task and retries it with backoff.
        assert.ok(!(error instanceof ProviderFailure), `${error.name}: ${error.message}`);
        return true;
      });
      await assertEmptied(path.join(full, 'work'));
      const logged = lines.find((line) => line.task === task.taskId && (line.level as number) >= 40);
      assert.match(JSON.stringify(logged), /No space left on device/);
    } finally {
      execFileSync('umount', [full]);
    }
  });
});
