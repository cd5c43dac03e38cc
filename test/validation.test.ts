import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { mp4File, pngDataUri } from './support/media.ts';
import { gatewayPerFile } from './support/gateway.ts';

/**
 * Section 4 of the core issue: every catalog rule, each with a request it rejects (and
 * the precise `param` it names) and one it accepts. ROLE=api, so nothing renders.
 */
const image = pngDataUri(64, 48);
const video = `data:video/mp4;base64,${readFileSync(mp4File(2, 160, 120)).toString('base64')}`;

const shared = gatewayPerFile({ ROLE: 'api' });

type Case = [name: string, body: Record<string, unknown>, param?: string];

/** Each case without a param must be accepted; with one, rejected naming it. */
function cases(title: string, list: Case[]) {
  describe(title, () => {
    for (const [name, body, param] of list) {
      test(`${param ? 'rejects' : 'accepts'}: ${name}`, async () => {
        const { status, body: answer } = await shared.client.json('POST', '/v1/videos', body);
        if (param === undefined) {
          assert.equal(status, 200, JSON.stringify(answer));
          assert.equal(answer.status, 'queued');
        } else {
          assert.equal(status, 400, JSON.stringify(answer));
          assert.equal(answer.error.param, param, answer.error.message);
          assert.equal(answer.error.type, 'invalid_request_error');
          assert.ok(answer.error.message.length > 10);
        }
      });
    }
  });
}

const gi = (body: Record<string, unknown>) => ({ model: 'grok-imagine', prompt: 'a fox', ...body });
const edit = { operation: 'edit_video' };
const extend = { operation: 'video_extend' };

cases('grok-imagine: capabilities', [
  ['no media is text_to_video', gi({ duration: 5 })],
  ['image is image_to_video', gi({ image, duration: 5 })],
  ['image as {url}', gi({ image: { url: image }, duration: 5 })],
  ['image_url alias', gi({ image_url: image, duration: 5 })],
  ['image and image_url together', gi({ image, image_url: image, duration: 5 }), 'image_url'],
  ['images is reference_to_video', gi({ images: [image, image], duration: 5 })],
  ['image_urls alias', gi({ image_urls: [image], duration: 5 })],
  ['videos as references', gi({ videos: [video], duration: 5 })],
  ['a video without extra_body.operation', gi({ video, duration: 5 }), 'extra_body.operation'],
  ['an unknown operation', gi({ video, extra_body: { operation: 'dance' } }), 'extra_body.operation'],
  ['edit_video without a video', gi({ extra_body: edit }), 'video'],
  ['text_to_video operation with an image', gi({ image, duration: 5, extra_body: { operation: 'text_to_video' } }), 'image'],
  ['image_to_video operation without an image', gi({ duration: 5, extra_body: { operation: 'image_to_video' } }), 'image'],
  ['video as {url} with edit_video', gi({ video: { url: video }, extra_body: edit })],
  ['a video that is an image data URI', gi({ video: image, extra_body: edit }), 'video'],
  ['an image that is not a URL', gi({ image: 'portrait.png', duration: 5 }), 'image'],
  ['an ftp image URL', gi({ image: 'ftp://example.com/a.png', duration: 5 }), 'image'],
  ['a broken data URI in images[1]', gi({ images: [image, 'data:image/png;base64,@@@'], duration: 5 }), 'images[1]'],
  // Nothing inside a media value is dropped (a new user's trial: detail and id were).
  ['image as {url} with a key beside it', gi({ image: { url: image, detail: 'high' }, duration: 5 }), 'image.detail'],
  ['video as {id} and {url} at once', gi({ video: { id: 'video_0123abcd', url: video }, extra_body: edit }), 'video'],
  ['images[1] as {image_url} with a key beside it', gi({ images: [image, { image_url: image, name: 'b' }], duration: 5 }), 'images[1].name'],
  ['image as {url} whose url is not a string', gi({ image: { url: 5 }, duration: 5 }), 'image.url'],
  ['video as {url} whose url is an object', gi({ video: { url: { url: video } }, extra_body: edit }), 'video.url'],
  ['eight reference images', gi({ images: Array(8).fill(image), duration: 5 }), 'images'],
]);

cases('grok-imagine: durations per capability', [
  ['text_to_video 15 s', gi({ duration: 15 })],
  ['text_to_video 16 s', gi({ duration: 16 }), 'duration'],
  ['text_to_video 0 s', gi({ duration: 0 }), 'duration'],
  ['image_to_video 1 s', gi({ image, duration: 1 })],
  ['image_to_video 16 s', gi({ image, duration: 16 }), 'duration'],
  ['reference_to_video 10 s', gi({ images: [image], duration: 10 })],
  ['reference_to_video 11 s', gi({ images: [image], duration: 11 }), 'duration'],
  ['video_extend 2 s', gi({ video, duration: 2, extra_body: extend })],
  ['video_extend 1 s', gi({ video, duration: 1, extra_body: extend }), 'duration'],
  ['video_extend 11 s', gi({ video, duration: 11, extra_body: extend }), 'duration'],
  ['edit_video with a duration', gi({ video, duration: 5, extra_body: edit }), 'duration'],
  ['edit_video with seconds', gi({ video, seconds: '5', extra_body: edit }), 'seconds'],
  ['duration as a numeric string', gi({ duration: '6' })],
  ['duration as a fraction', gi({ duration: 6.5 }), 'duration'],
  ['duration as words', gi({ duration: 'six' }), 'duration'],
  ['seconds as a string', gi({ seconds: '6' })],
  ['duration and seconds together', gi({ duration: 6, seconds: '6' }), 'seconds'],
  ['no duration at all', gi({}), 'duration'],
]);

cases('grok-imagine: size, aspect ratio, input_video_seconds', [
  ['size 480p', gi({ duration: 5, size: '480p' })],
  ['resolution 480p (xAI and the other grok models call it so)', gi({ duration: 5, resolution: '480p' })],
  ['size beside resolution', gi({ duration: 5, size: '480p', resolution: '480p' }), 'resolution'],
  ['an OpenAI size against its aspect_ratio', gi({ duration: 5, size: '1280x720', aspect_ratio: '9:16' }), 'aspect_ratio'],
  ['size 1080p', gi({ duration: 5, size: '1080p' }), 'size'],
  ['size on video_extend', gi({ video, duration: 5, size: '720p', extra_body: extend }), 'size'],
  ['size on edit_video', gi({ video, size: '720p', extra_body: edit })],
  ['an OpenAI size 1280x720 (720p, 16:9)', gi({ duration: 5, size: '1280x720' })],
  ['an OpenAI size 854x480 (480p, near 16:9)', gi({ duration: 5, size: '854x480' })],
  ['an OpenAI size 1920x1080 (no 1080p here)', gi({ duration: 5, size: '1920x1080' }), 'size'],
  ['an OpenAI size whose ratio text_to_video lacks', gi({ duration: 5, size: '960x720' }), 'size'],
  ['input_reference as {image_url}', gi({ input_reference: { image_url: image }, duration: 5 })],
  ['input_reference beside image', gi({ input_reference: image, image, duration: 5 }), 'input_reference'],
  ['text_to_video 9:16', gi({ duration: 5, aspect_ratio: '9:16' })],
  ['text_to_video 4:3', gi({ duration: 5, aspect_ratio: '4:3' }), 'aspect_ratio'],
  ['text_to_video auto', gi({ duration: 5, aspect_ratio: 'auto' }), 'aspect_ratio'],
  ['image_to_video auto', gi({ image, duration: 5, aspect_ratio: 'auto' })],
  ['reference_to_video 3:2', gi({ images: [image], duration: 5, aspect_ratio: '3:2' })],
  ['edit_video with an aspect ratio', gi({ video, aspect_ratio: '16:9', extra_body: edit }), 'aspect_ratio'],
  ['input_video_seconds 8 on edit', gi({ video, extra_body: { ...edit, input_video_seconds: 8 } })],
  ['input_video_seconds 0', gi({ video, extra_body: { ...edit, input_video_seconds: 0 } }), 'extra_body.input_video_seconds'],
  ['input_video_seconds 2.5', gi({ video, extra_body: { ...edit, input_video_seconds: 2.5 } }), 'extra_body.input_video_seconds'],
  ['input_video_seconds on text_to_video', gi({ duration: 5, extra_body: { input_video_seconds: 3 } }), 'extra_body.input_video_seconds'],
  ['extra_body that is not an object', gi({ duration: 5, extra_body: 'fast' }), 'extra_body'],
]);

const giv = (body: Record<string, unknown>) => ({ model: 'grok-imagine-video', prompt: 'a fox', ...body });
cases('grok-imagine-video', [
  ['prompt of 4096 characters', giv({ prompt: 'x'.repeat(4096) })],
  ['prompt of 4097 characters', giv({ prompt: 'x'.repeat(4097) }), 'prompt'],
  ['an empty prompt', giv({ prompt: '  ' }), 'prompt'],
  ['seconds "1"', giv({ seconds: '1' })],
  ['seconds "0"', giv({ seconds: '0' }), 'seconds'],
  ['a preset ratio 19.5:9', giv({ aspect_ratio: '19.5:9' })],
  ['a custom ratio 5:4', giv({ aspect_ratio: '5:4' })],
  ['a ratio that is not a ratio', giv({ aspect_ratio: 'wide' }), 'aspect_ratio'],
  ['a custom ratio of 0:1', giv({ aspect_ratio: '0:1' }), 'aspect_ratio'],
  ['resolution 480P', giv({ resolution: '480P' })],
  ['resolution 720', giv({ resolution: '720' })],
  ['resolution 1080P', giv({ resolution: '1080P' }), 'resolution'],
  ['an OpenAI size with a custom ratio', giv({ size: '1000x720' })],
  ['size beside resolution', giv({ size: '1280x720', resolution: '720P' }), 'size'],
  ['image as a data URI', giv({ image })],
  ['images as data URIs', giv({ images: [image, image] })],
  // Neither field is wrong alone: the pair is, and the second is named, as for duration and seconds.
  ['image together with images', giv({ image, images: [image] }), 'images'],
  ['a text data URI as image', giv({ image: 'data:text/plain;base64,aGVsbG8=' }), 'image'],
]);

const gv = (model: string, body: Record<string, unknown>) => ({ model, prompt: 'a fox', ...body });
cases('grok-video-1.5 and grok-video-3', [
  ['grok-video-1.5 size 1080P', gv('grok-video-1.5', { size: '1080P' })],
  ['grok-video-1.5 size 540P', gv('grok-video-1.5', { size: '540P' })],
  ['grok-video-1.5 size 360P', gv('grok-video-1.5', { size: '360P' }), 'size'],
  ['grok-video-1.5 input_reference', gv('grok-video-1.5', { input_reference: image })],
  ['grok-video-1.5 image_url', gv('grok-video-1.5', { image_url: image, duration: 15 })],
  ['grok-video-1.5 two input_references', gv('grok-video-1.5', { input_reference: [image, image] }), 'input_reference'],
  ['grok-video-3 two input_references', gv('grok-video-3', { input_reference: [image, image] })],
  ['grok-video-3-pro without seconds (fixed 10 s)', gv('grok-video-3-pro', {})],
  ['grok-video-3-pro at 10 s', gv('grok-video-3-pro', { seconds: '10' })],
  ['grok-video-3-pro at 6 s', gv('grok-video-3-pro', { seconds: '6' }), 'seconds'],
  ['grok-video-3-max at 15 s', gv('grok-video-3-max', { duration: 15 })],
  ['grok-video-3-max at 10 s', gv('grok-video-3-max', { duration: 10 }), 'duration'],
]);

const vidu = (model: string, body: Record<string, unknown>) => ({ model, prompt: 'a fox', ...body });
cases('Vidu Q3', [
  ['every tier and resolution exists', vidu('viduq3t-1080p-offpeak', {})],
  ['duration 16', vidu('viduq3p-540p', { duration: 16 })],
  ['duration 17', vidu('viduq3p-540p', { duration: 17 }), 'duration'],
  ['image is image-to-video', vidu('viduq3p-720p', { image })],
  ['image + last_image is first-and-last-frame', vidu('viduq3p-720p', { image, last_image: image })],
  ['last_image alone', vidu('viduq3p-720p', { last_image: image }), 'last_image'],
  ['reference_image_urls on a non-mix model', vidu('viduq3p-720p', { reference_image_urls: [image] }), 'reference_image_urls'],
  ['a mix model without references', vidu('viduq3p-mix-720p', {}), 'reference_image_urls'],
  ['a mix model with an image', vidu('viduq3p-mix-720p', { image }), 'image'],
  ['aspect 3:4 on text-to-video', vidu('viduq3p-720p', { aspect_ratio: '3:4' })],
  ['aspect 21:9', vidu('viduq3p-720p', { aspect_ratio: '21:9' }), 'aspect_ratio'],
  ['a size beside a resolution-named model', vidu('viduq3p-720p', { size: '1080p' }), 'size'],
  ['audio/seed/bgm typed', vidu('viduq3p-720p', { extra_body: { audio: true, seed: 7, bgm: 'false' } })],
  ['audio as a word', vidu('viduq3p-720p', { extra_body: { audio: 'loud' } }), 'extra_body.audio'],
  ['seed negative', vidu('viduq3p-720p', { extra_body: { seed: -1 } }), 'extra_body.seed'],
  ['seed as a word', vidu('viduq3p-720p', { extra_body: { seed: 'lucky' } }), 'extra_body.seed'],
  ['a prompt of 5001 characters', vidu('viduq3p-720p', { prompt: 'x'.repeat(5001) }), 'prompt'],
]);

cases('fields a model does not take are refused, never dropped', [
  ['fps on grok-imagine', gi({ duration: 5, fps: 24 }), 'fps'],
  ['an invented field on a Vidu model', vidu('viduq3p-720p', { motion_strength: 3 }), 'motion_strength'],
  ["another family's image_url on grok-imagine-video", giv({ image_url: image }), 'image_url'],
  ['an unknown extra_body key', vidu('viduq3p-720p', { extra_body: { seed: 7, off_peak: true } }), 'extra_body.off_peak'],
  ['extra_body on a family that has none', giv({ extra_body: { operation: 'text_to_video' } }), 'extra_body.operation'],
  ['user and metadata change nothing', gi({ duration: 5, user: 'end-user-42', metadata: { order: '7' } })],
  ['an empty extra_body', giv({ extra_body: {} })],
  ['seconds on a Vidu model', vidu('viduq3p-540p', { seconds: '4' })],
]);

cases('every model', [
  ['an unknown model', { model: 'sora-9', prompt: 'p' }, 'model'],
  ['no model', { prompt: 'p' }, 'model'],
  ['a model that is a number', { model: 7, prompt: 'p' }, 'model'],
]);

describe('answers', () => {
  test('an unknown model is model_not_found and names the model', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', { model: 'sora-9', prompt: 'p' });
    assert.equal(status, 400);
    assert.equal(body.error.code, 'model_not_found');
    assert.match(body.error.message, /sora-9/);
  });
  test('a field the model does not take is unsupported_parameter and names the model', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', gi({ duration: 3, resolution: '480p', fps: 24 }));
    assert.equal(status, 400);
    assert.equal(body.error.code, 'unsupported_parameter');
    assert.match(body.error.message, /fps.*grok-imagine/);
  });
  test('grok-imagine takes resolution, and answers the tier it was given', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', gi({ duration: 3, resolution: '480p' }));
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.size, '480p');
  });
  test('an OpenAI size is answered in its own form', async () => {
    for (const [size, answered] of [['720x1280', '720x1280'], ['854 X 480', '854x480']]) {
      const { status, body } = await shared.client.json('POST', '/v1/videos', gi({ duration: 3, size }));
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.size, answered);
    }
  });
  test('image and images together say so', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', giv({ image, images: [image] }));
    assert.equal(status, 400);
    assert.equal(body.error.code, 'conflicting_parameters');
    assert.match(body.error.message, /Pass image or images, not both/);
  });
  test('an accepted option the model ignores comes back as a warning', async () => {
    const { status, body } = await shared.client.json('POST', '/v1/videos', vidu('viduq3p-720p', { image, aspect_ratio: '1:1' }));
    assert.equal(status, 200);
    assert.match(body.warnings[0], /aspect_ratio is ignored/);
  });
});
