import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import type { ModelSpec } from './models.ts';
import type { Capability } from './types.ts';

/** Which create route a body came in on: the edit and extension routes fix the capability. */
export type Route = 'create' | 'edit' | 'extend';

/**
 * The capability a body asks for: fixed by the route, named by extra_body.operation, or
 * inferred from the inputs it carries (an image animates, a set of images references, a
 * first and a last frame interpolate); refused if the model does not offer it.
 */
export function chooseCapability(route: Route, model: ModelSpec, reader: BodyReader): Capability {
  refuseOneAndMany(reader);
  const operation = reader.parse('operation');
  const routed: Capability | undefined = route === 'edit' ? 'edit_video' : route === 'extend' ? 'video_extend' : undefined;
  if (routed && operation && operation.value !== routed) {
    throw new InvalidInput(`${operation.key} ${operation.value} contradicts this route, which makes ${routed}`, operation.key);
  }
  const explicit = routed ?? (operation?.value as Capability | undefined);
  if (explicit) {
    return model.capabilities[explicit] ? explicit : refuse(model, explicit, operation?.key ?? 'model');
  }

  const video = reader.find('video');
  const images = reader.find('images') ?? reader.find('videos');
  const image = reader.find('image');
  const lastImage = reader.find('lastImage');
  let inferred: Capability;
  let cause: string;
  if (video) {
    if (model.capabilities.edit_video || model.capabilities.video_extend) {
      throw new InvalidInput(
        'A video input needs extra_body.operation: edit_video or video_extend',
        reader.keyFor('operation'),
        'missing_required_parameter',
      );
    }
    return refuse(model, 'edit_video', video.key);
  } else if (images) {
    [inferred, cause] = ['reference_to_video', images.key];
  } else if (lastImage && !image) {
    throw new InvalidInput(
      `${lastImage.key} needs ${reader.keyFor('image')} (the first frame); a last frame alone is not supported`,
      lastImage.key,
      'missing_required_parameter',
    );
  } else if (image && lastImage) {
    [inferred, cause] = ['first_last_frame', lastImage.key];
  } else if (image) {
    [inferred, cause] = ['image_to_video', image.key];
  } else {
    if (model.capabilities.text_to_video) return 'text_to_video';
    // A model without text-to-video needs some input: name the one it needs first.
    const supported = Object.keys(model.capabilities) as Capability[];
    const needed = supported[0] ? model.capabilities[supported[0]] : undefined;
    const missing = needed?.images ? reader.keyFor('images') : reader.keyFor('image');
    throw new InvalidInput(`${model.id} needs ${missing}: it supports ${supported.join(', ')}`, missing, 'missing_required_parameter');
  }
  return model.capabilities[inferred] ? inferred : refuse(model, inferred, cause);
}

function refuse(model: ModelSpec, capability: Capability, param: string): never {
  throw new InvalidInput(`${model.id} does not support ${capability}; it supports ${Object.keys(model.capabilities).join(', ')}`, param, 'unsupported_capability');
}

/**
 * One image (a first frame) and a set of images (references) ask for two different
 * capabilities, and no capability takes both: say so, rather than let the inferred one
 * refuse whichever it does not take as if that were the mistake.
 */
function refuseOneAndMany(reader: BodyReader): void {
  const one = reader.find('image');
  const many = reader.find('images');
  if (one && many) {
    throw new InvalidInput(
      `Pass ${one.key} or ${many.key}, not both: ${one.key} is one image to animate, ${many.key} a set of reference images`,
      many.key,
      'conflicting_parameters',
    );
  }
}
