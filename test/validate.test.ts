import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { VideoJob } from '../src/catalog/types.ts';
import { validate, validateRemix, type Route } from '../src/catalog/validate.ts';
import { InvalidInput } from '../src/errors.ts';

/**
 * validate() as the pure function it is: a body in, a VideoJob or an InvalidInput out. No
 * server, no files: media are data URIs and URLs that nothing decodes or fetches here.
 * The HTTP tests (validation, seeds, openapi) check the same gate through the routes.
 */
const image = 'data:image/png;base64,iVBORw0KGgo=';
const otherImage = 'https://example.com/street.png';
const video = 'data:video/mp4;base64,AAAAIGZ0eXBpc29t';

const gi = (body: Record<string, unknown>) => ({ model: 'grok-imagine', prompt: 'a fox', ...body });
const giv = (body: Record<string, unknown>) => ({ model: 'grok-imagine-video', prompt: 'a fox', ...body });
const gv = (model: string, body: Record<string, unknown>) => ({ model, prompt: 'a fox', ...body });
const vidu = (model: string, body: Record<string, unknown>) => ({ model, prompt: 'a fox', ...body });

/** Asserts that the body is refused with this param and code; answers the error for further checks. */
function refused(body: unknown, param: string | null, code?: string, route: Route = 'create'): InvalidInput {
  let caught: unknown;
  try {
    validate(route, body);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidInput, `expected an InvalidInput, got ${String(caught)}`);
  assert.equal(caught.param, param, caught.message);
  if (code !== undefined) assert.equal(caught.code, code, caught.message);
  return caught;
}

const ratio = (label: string, width: number, height: number) => ({ kind: 'ratio', label, width, height });

describe('grok-imagine: what each body becomes', () => {
  test('no media is text_to_video at the default tier and ratio', () => {
    const job = validate('create', gi({ duration: 5 }));
    assert.equal(job.model, 'grok-imagine');
    assert.equal(job.capability, 'text_to_video');
    assert.equal(job.prompt, 'a fox');
    assert.equal(job.seconds, 5);
    assert.deepEqual(job.resolution, { label: '720p', shortSide: 720 });
    assert.deepEqual(job.aspectRatio, ratio('16:9', 16, 9));
    assert.deepEqual([job.images, job.lastImage, job.video, job.videos], [[], null, null, []]);
    assert.deepEqual(job.warnings, []);
  });
  test('image is image_to_video; the ratio follows the image', () => {
    const job = validate('create', gi({ image, duration: 10, size: '480p' }));
    assert.equal(job.capability, 'image_to_video');
    assert.deepEqual(job.images, [{ kind: 'data', mime: 'image/png', base64: 'iVBORw0KGgo=' }]);
    assert.deepEqual(job.aspectRatio, { kind: 'auto' });
    assert.deepEqual(job.resolution, { label: '480p', shortSide: 480 });
  });
  test('images and videos are reference_to_video', () => {
    const job = validate('create', gi({ images: [image, otherImage], videos: [video], duration: 10, aspect_ratio: '4:3' }));
    assert.equal(job.capability, 'reference_to_video');
    assert.deepEqual(job.images.map((ref) => ref.kind), ['data', 'url']);
    assert.equal(job.videos.length, 1);
    assert.deepEqual(job.aspectRatio, ratio('4:3', 4, 3));
  });
  test('extra_body.operation edit_video: no seconds, the frame follows the video', () => {
    const job = validate('create', gi({ video: { url: 'https://example.com/in.mp4' }, size: '720p', extra_body: { operation: 'edit_video', input_video_seconds: 8 } }));
    assert.equal(job.capability, 'edit_video');
    assert.equal(job.seconds, null);
    assert.equal(job.aspectRatio, null);
    assert.deepEqual(job.video, { kind: 'url', url: 'https://example.com/in.mp4' });
    assert.equal(job.inputVideoSeconds, 8);
  });
  test('the extensions route makes video_extend; an id names one of my videos', () => {
    const job = validate('extend', { model: 'grok-imagine', prompt: 'and then', seconds: '3', video: { id: 'video_abc123' } });
    assert.equal(job.capability, 'video_extend');
    assert.equal(job.seconds, 3);
    assert.equal(job.resolution, null);
    assert.deepEqual(job.video, { kind: 'video', id: 'video_abc123' });
  });
  test('an operation that contradicts the route is refused', () => {
    refused(gi({ video, extra_body: { operation: 'video_extend' } }), 'extra_body.operation', undefined, 'edit');
  });
  test('a body that is not an object is refused', () => {
    for (const body of [null, [], 'model=grok-imagine', 7]) refused(body, null, 'invalid_body');
  });
});

describe('resolution and size are one field across the grok family', () => {
  test('grok-imagine takes resolution as well as size (it rendered 720p before)', () => {
    const job = validate('create', gi({ duration: 3, resolution: '480p' }));
    assert.deepEqual(job.resolution, { label: '480p', shortSide: 480 });
  });
  test('grok-imagine-video and grok-video take size as well as resolution', () => {
    assert.deepEqual(validate('create', giv({ size: '480P' })).resolution, { label: '480P', shortSide: 480 });
    assert.deepEqual(validate('create', gv('grok-video-1.5', { resolution: '1080P' })).resolution, { label: '1080P', shortSide: 1080 });
  });
  test('both at once is a conflict naming the second', () => {
    refused(gi({ duration: 3, size: '480p', resolution: '480p' }), 'resolution', 'conflicting_parameters');
    refused(giv({ resolution: '720P', size: '1280x720' }), 'size', 'conflicting_parameters');
    refused(gv('grok-video-3', { size: '720P', resolution: '720P' }), 'resolution', 'conflicting_parameters');
  });
});

describe('a WIDTHxHEIGHT size is echoed in its own form', () => {
  test('720x1280 is the label; 720 drives the frame; the ratio is 9:16', () => {
    const job = validate('create', gi({ duration: 3, size: '720x1280' }));
    assert.deepEqual(job.resolution, { label: '720x1280', shortSide: 720 });
    assert.deepEqual(job.aspectRatio, ratio('9:16', 9, 16));
  });
  test('the label is normalized: no spaces, a lower-case x', () => {
    assert.deepEqual(validate('create', gi({ duration: 3, size: ' 854 X 480 ' })).resolution, { label: '854x480', shortSide: 480 });
    assert.deepEqual(validate('create', gi({ duration: 3, size: '1280×720' })).resolution, { label: '1280x720', shortSide: 720 });
  });
  test('a custom ratio on grok-imagine-video', () => {
    const job = validate('create', giv({ size: '1000x720' }));
    assert.deepEqual(job.resolution, { label: '1000x720', shortSide: 720 });
    assert.deepEqual(job.aspectRatio, ratio('25:18', 25, 18));
  });
  test('a tier keeps the family form', () => {
    assert.deepEqual(validate('create', giv({ resolution: '720' })).resolution, { label: '720P', shortSide: 720 });
  });
  test('an aspect_ratio that agrees with the size is fine; one that contradicts it is a conflict', () => {
    assert.deepEqual(validate('create', gi({ duration: 3, size: '1280x720', aspect_ratio: '16:9' })).aspectRatio, ratio('16:9', 16, 9));
    refused(gi({ duration: 3, size: '1280x720', aspect_ratio: '9:16' }), 'aspect_ratio', 'conflicting_parameters');
    refused(gi({ image, duration: 3, size: '1280x720', aspect_ratio: 'auto' }), 'aspect_ratio', 'conflicting_parameters');
  });
  test('an edit follows its input video, so a WIDTHxHEIGHT it cannot honour is refused', () => {
    refused(gi({ video, size: '1280x720', extra_body: { operation: 'edit_video' } }), 'size', 'unsupported_parameter');
  });
});

describe('no field that would change the output is dropped', () => {
  test('a top-level field the model does not take is refused by name', () => {
    const error = refused(gi({ duration: 3, fps: 24 }), 'fps', 'unsupported_parameter');
    assert.match(error.message, /fps/);
    assert.match(error.message, /grok-imagine/);
    refused(giv({ negative_prompt: 'rain' }), 'negative_prompt', 'unsupported_parameter');
    refused(vidu('viduq3p-720p', { watermark: true }), 'watermark', 'unsupported_parameter');
  });
  test("a field of another family's dialect is refused too", () => {
    refused(giv({ image_url: image }), 'image_url', 'unsupported_parameter');
    refused(gv('grok-video-1.5', { last_image: image }), 'last_image', 'unsupported_parameter');
  });
  test('an unknown key inside extra_body is refused as extra_body.<key>', () => {
    refused(gi({ duration: 3, extra_body: { operation: 'text_to_video', motion: 'high' } }), 'extra_body.motion', 'unsupported_parameter');
    refused(vidu('viduq3p-720p', { extra_body: { seed: 1, off_peak: true } }), 'extra_body.off_peak', 'unsupported_parameter');
    refused(giv({ extra_body: { seed: 1 } }), 'extra_body.seed', 'unsupported_parameter');
  });
  test('a top-level field that belongs in extra_body says where it goes', () => {
    const error = refused(gi({ duration: 3, operation: 'text_to_video' }), 'operation', 'unsupported_parameter');
    assert.match(error.message, /extra_body\.operation/);
  });
  test('user and metadata change nothing and are ignored', () => {
    const job = validate('create', gi({ duration: 3, user: 'user-1234', metadata: { order: 7 } }));
    assert.equal(job.capability, 'text_to_video');
    validate('create', vidu('viduq3p-720p', { user: 'u', metadata: {} }));
  });
  test('an empty extra_body and fields sent as null carry nothing', () => {
    validate('create', giv({ extra_body: {} }));
    validate('create', gi({ duration: 3, fps: null }));
  });
  test('an edit as the openai client sends it (model filled in by the task service)', () => {
    const job = validate('edit', { prompt: 'make it winter', video: { id: 'video_abc123' }, model: 'grok-imagine' });
    assert.equal(job.capability, 'edit_video');
  });
});

describe('grok-video-*: input_reference holds one image or several', () => {
  test('one input_reference animates it', () => {
    const job = validate('create', gv('grok-video-1.5', { input_reference: { image_url: image }, size: '540P' }));
    assert.equal(job.capability, 'image_to_video');
    assert.equal(job.images.length, 1);
    assert.deepEqual(job.resolution, { label: '540P', shortSide: 540 });
    assert.equal(job.seconds, 6);
  });
  test('several are references on grok-video-3, refused on grok-video-1.5', () => {
    assert.equal(validate('create', gv('grok-video-3', { input_reference: [image, otherImage] })).capability, 'reference_to_video');
    refused(gv('grok-video-1.5', { input_reference: [image, otherImage] }), 'input_reference', 'unsupported_capability');
  });
  test('the pro and max tiers have fixed lengths', () => {
    assert.equal(validate('create', gv('grok-video-3-pro', {})).seconds, 10);
    refused(gv('grok-video-3-max', { seconds: '10' }), 'seconds');
  });
});

describe('Vidu Q3', () => {
  test('text, image, first and last frame; the tier is in the name', () => {
    const text = validate('create', vidu('viduq3p-720p', { aspect_ratio: '16:9', duration: 5, extra_body: { audio: false, seed: 42, bgm: false } }));
    assert.equal(text.capability, 'text_to_video');
    assert.deepEqual(text.resolution, { label: '720p', shortSide: 720 });
    assert.deepEqual(text.options, { audio: false, seed: 42, bgm: false });
    const frames = validate('create', vidu('viduq3p-1080p-offpeak', { image, last_image: otherImage, duration: 6 }));
    assert.equal(frames.capability, 'first_last_frame');
    assert.equal(frames.images.length, 1);
    assert.deepEqual(frames.lastImage, { kind: 'url', url: otherImage });
    assert.equal(frames.options.offPeak, true);
  });
  test("seconds, the OpenAI client's name for the duration, is understood", () => {
    assert.equal(validate('create', vidu('viduq3t-540p', { seconds: '4' })).seconds, 4);
    refused(vidu('viduq3t-540p', { seconds: '4', duration: 4 }), 'seconds', 'conflicting_parameters');
  });
  test('a size beside a model that names its tier is refused, unless it is that tier (the schema lists resolution for the family)', () => {
    assert.match(refused(vidu('viduq3p-720p', { size: '1080p' }), 'size', 'unsupported_parameter').message, /makes 720p/);
    refused(vidu('viduq3p-720p', { resolution: '1280x720' }), 'resolution', 'unsupported_parameter');
    for (const resolution of ['720p', '720', ' 720P ']) assert.deepEqual(validate('create', vidu('viduq3p-720p', { resolution })).resolution, { label: '720p', shortSide: 720 }, resolution);
  });
  test('the mix models take reference_image_urls', () => {
    const job = validate('create', vidu('viduq3p-mix-720p', { reference_image_urls: [image, otherImage], duration: 5 }));
    assert.equal(job.capability, 'reference_to_video');
    assert.equal(job.images.length, 2);
  });
});

describe('a field that takes one image, sent more than once', () => {
  test('is refused as a list, as a repeated text field is (a form sends a repeated field as a list)', () => {
    assert.match(refused(vidu('viduq3p-720p', { image: [image, otherImage] }), 'image').message, /^image must be one image, not a list of 2 \(was it sent more than once\?\)/);
    assert.match(refused(vidu('viduq3p-720p', { image, last_image: [image, image, image] }), 'last_image').message, /not a list of 3/);
    assert.equal(validate('create', vidu('viduq3p-720p', { image: [image] })).capability, 'image_to_video', 'a list of one is that one');
  });
});

describe('what a refusal says', () => {
  test('a media type of the wrong kind reads as English', () => {
    assert.match(refused(gi({ video: image, extra_body: { operation: 'edit_video' } }), 'video').message, /must be a video data URI, not image\/png/);
    assert.match(refused(gi({ image: video, duration: 3 }), 'image').message, /must be an image data URI, not video\/mp4/);
  });
  test('empty reference lists name both fields that could hold a reference', () => {
    const error = refused(gi({ videos: [], images: [], duration: 3, extra_body: { operation: 'reference_to_video' } }), 'images', 'missing_required_parameter');
    assert.match(error.message, /^images or videos must hold at least one reference for reference_to_video/);
  });
});

describe('a list sent where the operation takes one', () => {
  test('videos on an edit or an extension is refused by its own name, saying which field takes the one video', () => {
    for (const route of ['edit', 'extend'] as const) {
      const error = refused(gi({ videos: [video] }), 'videos', 'unsupported_parameter', route);
      assert.match(error.message, /^videos is not accepted for (edit_video|video_extend); it takes one video, as video$/);
    }
  });
});

describe('one image and a list of images at once is a conflict, in every family', () => {
  const conflicts: [string, Record<string, unknown>, string][] = [
    ['grok-imagine image + images', gi({ image, images: [image], duration: 3 }), 'images'],
    ['grok-imagine image_url + image_urls', gi({ image_url: image, image_urls: [image], duration: 3 }), 'image_urls'],
    ['grok-imagine input_reference + images', gi({ input_reference: image, images: [image], duration: 3 }), 'images'],
    ['grok-imagine-video image + images', giv({ image, images: [image] }), 'images'],
    ['grok-imagine-video input_reference + images', giv({ input_reference: image, images: [image, image] }), 'images'],
    ['grok-video-3 image + two input_references', gv('grok-video-3', { image, input_reference: [image, image] }), 'input_reference'],
    ['a Vidu mix model image + reference_image_urls', vidu('viduq3p-mix-720p', { image, reference_image_urls: [image] }), 'reference_image_urls'],
  ];
  for (const [name, body, param] of conflicts) {
    test(name, () => {
      const error = refused(body, param, 'conflicting_parameters');
      assert.match(error.message, new RegExp(`^Pass \\w+ or ${param}, not both`));
    });
  }
  test('also with an explicit operation', () => {
    refused(gi({ image, images: [image], duration: 3, extra_body: { operation: 'reference_to_video' } }), 'images', 'conflicting_parameters');
  });
});

describe('remix', () => {
  const source: VideoJob = validate('create', gi({ duration: 3, size: '854x480' }));

  test('keeps everything but the prompt', () => {
    const job = validateRemix(source, { prompt: 'at night' });
    assert.deepEqual(job, { ...source, prompt: 'at night' });
  });
  test('user and metadata are ignored; any other field is refused, since a remix keeps the settings', () => {
    validateRemix(source, { prompt: 'at night', user: 'u', metadata: { a: 1 } });
    for (const field of ['seconds', 'size', 'model']) {
      assert.throws(
        () => validateRemix(source, { prompt: 'at night', [field]: '4' }),
        (error: unknown) => error instanceof InvalidInput && error.param === field && error.code === 'unsupported_parameter',
      );
    }
  });
  test('a source whose model has left the catalog is model_not_found, not a crash', () => {
    assert.throws(
      () => validateRemix({ ...source, model: 'grok-imagine-retired' }, { prompt: 'again' }),
      (error: unknown) =>
        error instanceof InvalidInput && error.code === 'model_not_found' && error.param === null && /no longer offered/.test(error.message) && /grok-imagine-retired/.test(error.message),
    );
  });
});
