/**
 * Every request example of ../shared/seeds, as the seeds show it, with the example media
 * supplied by the test (data URIs here, a local origin's URLs there): seeds.test.ts checks
 * the submit answers; upstream-seeds.test.ts runs each one through an upstream adapter.
 */
export interface SeedMedia {
  image: string;
  otherImage: string;
  video: string;
}

export interface SeedExample {
  route: string;
  body: Record<string, unknown>;
}

export function seedExamples({ image, otherImage, video }: SeedMedia) {
  return {
    '000 text-to-video': {
      route: '/v1/video/generations',
      body: { model: 'grok-imagine', prompt: ' camera, fast, camera. ', size: '720p', aspect_ratio: '16:9', duration: 6 },
    },
    '000 single-image-to-video': {
      route: '/v1/video/generations',
      body: { model: 'grok-imagine', prompt: ' camera, camera. ', image, size: '480p', aspect_ratio: '9:16', duration: 10 },
    },
    '001 7.1 text-to-video': {
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' camera, fast, camera. ', size: '720p', aspect_ratio: '16:9', duration: 6 },
    },
    '001 7.2 single-image-to-video': {
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' camera, camera. ', image, size: '480p', aspect_ratio: 'auto', duration: 10 },
    },
    '001 7.3 reference-image-to-video': {
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' @Image1 @Image2, slow camera push-in. ', images: [image, otherImage], size: '720p', aspect_ratio: '4:3', duration: 10 },
    },
    '001 7.4 video editing': {
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: 'to change videointo, reserved action and. ', video, size: '720p', extra_body: { operation: 'edit_video', input_video_seconds: 8 } },
    },
    '001 7.5 video extension': {
      route: '/v1/videos',
      body: { model: 'grok-imagine', prompt: ' camera, video and Orientation. ', video, duration: 6, extra_body: { operation: 'video_extend', input_video_seconds: 8 } },
    },
    '002 text-to-video': {
      route: '/v1/video/generations',
      body: { model: 'viduq3p-720p', prompt: ' camera, and, slow camera push-in. ', aspect_ratio: '16:9', duration: 5, extra_body: { audio: false, seed: 42, bgm: false } },
    },
    '002 single-image-to-video': {
      route: '/v1/video/generations',
      body: { model: 'viduq3t-540p', prompt: ' camera, natural motion, camera. ', image, duration: 5, extra_body: { seed: 42 } },
    },
    '002 first-and-last-frame': {
      route: '/v1/video/generations',
      body: { model: 'viduq3p-1080p-offpeak', prompt: ', keep identity stable, action. ', image, last_image: otherImage, duration: 6 },
    },
    '002 reference-image-to-video': {
      route: '/v1/video/generations',
      body: {
        model: 'viduq3p-mix-720p', prompt: 'A @Image1 walking through a beach in the visual style of @Image2',
        reference_image_urls: [image, otherImage], aspect_ratio: '16:9', duration: 5, extra_body: { audio: false, seed: 42 },
      },
    },
    '003 text-to-video': {
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video', prompt: 'A city street in the early morning, sunlight filtering through leaves, camera slowly moving forward',
        seconds: '8', aspect_ratio: '16:9', resolution: '720P',
      },
    },
    '003 single image': {
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video', prompt: 'Have the person in the reference image turn around naturally, keeping a soft depth of field in the background',
        seconds: '6', aspect_ratio: '9:16', resolution: '720P', image,
      },
    },
    '003 multiple images': {
      route: '/v1/videos',
      body: {
        model: 'grok-imagine-video', prompt: 'Reference the subject features from multiple images to generate a coherent product showcase video',
        seconds: '10', aspect_ratio: '16:9', resolution: '720P', images: [image, otherImage],
      },
    },
  } satisfies Record<string, SeedExample>;
}
