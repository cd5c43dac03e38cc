import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ffmpegPath, probeMedia } from '../src/media/ffmpeg.ts';
import { readMp4Header, TruncatedMp4 } from '../src/media/mp4-header.ts';
import { mp4File } from './support/media.ts';

/**
 * The in-process MP4 reader that measures kept results: on what it reads it answers as
 * ffprobe does; what it does not fully understand it leaves to ffprobe (null); a file cut
 * short it refuses, where ffprobe would report a whole video.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-mp4-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function remux(input: string, name: string, args: string[]): string {
  const file = path.join(dir, name);
  execFileSync(ffmpegPath, ['-y', '-loglevel', 'error', '-i', input, ...args, file]);
  return file;
}

test('an MP4 with its index first or last: the same length, frame, codec and sound as ffprobe reads', async () => {
  for (const file of [mp4File(2, 320, 240, { faststart: true }), mp4File(3, 256, 144)]) {
    const header = await readMp4Header(file);
    const probed = await probeMedia(file);
    assert.ok(header, `${file} read in process`);
    assert.deepEqual({ ...header, duration: header.duration.toFixed(1) }, { ...probed, pixelFormat: null, duration: probed.duration.toFixed(1) });
  }
});

test('a faststart MP4 cut in half is refused as truncated, though ffprobe reads it as the whole video', async () => {
  const whole = readFileSync(mp4File(2, 320, 240, { faststart: true }));
  const cut = path.join(dir, 'cut.mp4');
  writeFileSync(cut, whole.subarray(0, whole.length / 2));
  assert.equal(Math.round((await probeMedia(cut)).duration), 2, 'ffprobe is fooled');
  await assert.rejects(readMp4Header(cut), TruncatedMp4);
});

test('what it does not fully understand is left to ffprobe: another container, a fragmented or turned MP4, no MP4 at all', async () => {
  const source = mp4File(2, 320, 240, { faststart: true });
  const noise = path.join(dir, 'noise.mp4');
  writeFileSync(noise, Buffer.alloc(4096, 7));
  const empty = path.join(dir, 'empty.mp4');
  writeFileSync(empty, '');
  const cases = {
    webm: remux(source, 'clip.webm', ['-an', '-c:v', 'libvpx-vp9', '-b:v', '100k']),
    fragmented: remux(source, 'frag.mp4', ['-c', 'copy', '-movflags', 'frag_keyframe+empty_moov']),
    turned: remux(source, 'turned.mp4', ['-c', 'copy', '-metadata:s:v', 'rotate=90']),
    noise,
    empty,
  };
  for (const [what, file] of Object.entries(cases)) assert.equal(await readMp4Header(file), null, what);
  // ffprobe then reads the turned one upright-corrected, as the task reports it.
  assert.deepEqual([(await probeMedia(cases.turned)).width, (await probeMedia(cases.turned)).height], [240, 320]);
});
