import { InvalidInput } from '../errors.ts';
import { BodyReader, type Body } from './body-reader.ts';
import { chooseCapability, type Route } from './capability.ts';
import { DIALECTS } from './dialects.ts';
import { readDimensions } from './dimensions.ts';
import { refuseRemixFields, refuseUntakenFields } from './fields.ts';
import { readInputs } from './inputs.ts';
import { findModel, type CapabilityRule, type ModelSpec } from './models.ts';
import type { Capability, VideoJob } from './types.ts';

// What other modules import from here, wherever it now lives.
export type { Route } from './capability.ts';
export { SLOT_TYPES } from './slot-types.ts';

/**
 * validate(route, body) is the one gate every create route shares: a pure function from
 * the client's body to a VideoJob, or an InvalidInput whose `param` names the offending field.
 * It runs on every create, so the catalog's helpers are module functions, not closures made
 * per call: under tsx each named closure costs a defineProperty as it is made (http/body.ts).
 */
export function validate(route: Route, input: unknown): VideoJob {
  const body = asBody(input);
  const model = readModel(body);
  const reader = new BodyReader(body, DIALECTS[model.family]);
  // First: a field from another dialect explains the errors that would follow from its absence.
  refuseUntakenFields(reader, model);
  const prompt = readPrompt(reader, model);
  const capability = chooseCapability(route, model, reader);
  const rule = model.capabilities[capability]!;
  const inputs = readInputs(reader, capability, rule);
  const warnings: string[] = [];
  const offPeak = model.offPeak ? { offPeak: true } : {};
  return {
    model: model.id,
    capability,
    prompt,
    seconds: readDuration(reader, capability, rule),
    ...readDimensions(reader, model, capability, rule, warnings),
    ...inputs,
    inputVideoSeconds: readInputVideoSeconds(reader, capability, rule),
    options: { ...readOptions(reader), ...offPeak },
    warnings,
  };
}

/** A remix: the source's job with a new prompt, which must suit the source's model. */
export function validateRemix(source: VideoJob, input: unknown): VideoJob {
  const body = asBody(input);
  const model = findModel(source.model);
  if (!model) {
    throw new InvalidInput(
      `The source video's model '${source.model}' is no longer offered, so it cannot be remixed; GET /v1/models lists the models to make a new video with`,
      null,
      'model_not_found',
    );
  }
  const reader = new BodyReader(body, DIALECTS[model.family]);
  refuseRemixFields(reader);
  return { ...source, prompt: readPrompt(reader, model), warnings: [] };
}

function asBody(input: unknown): Body {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInput('The request body must be a JSON object or a multipart form', null, 'invalid_body');
  }
  return input as Body;
}

function readModel(body: Body): ModelSpec {
  const id = body.model;
  if (id === undefined || id === null || id === '') throw new InvalidInput('model is required', 'model', 'missing_required_parameter');
  if (typeof id !== 'string') throw new InvalidInput('model must be a string', 'model');
  const model = findModel(id);
  if (!model) {
    throw new InvalidInput(`The model '${id}' does not exist; GET /v1/models lists the models`, 'model', 'model_not_found');
  }
  return model;
}

function readPrompt(reader: BodyReader, model: ModelSpec): string {
  const prompt = reader.string('prompt');
  if (!prompt || prompt.value.trim() === '') {
    throw new InvalidInput('prompt is required', 'prompt', 'missing_required_parameter');
  }
  if (prompt.value.length > model.promptMaxLength) {
    throw new InvalidInput(`prompt must be at most ${model.promptMaxLength} characters for ${model.id}`, 'prompt');
  }
  return prompt.value;
}

function readDuration(reader: BodyReader, capability: Capability, rule: CapabilityRule): number | null {
  const found = reader.parse('duration');
  if (rule.duration === 'forbidden') {
    if (found) {
      throw new InvalidInput(`${capability} takes no ${found.key}: the output follows the input video`, found.key, 'unsupported_parameter');
    }
    return null;
  }
  const { min, max } = rule.duration;
  if (!found) {
    if (rule.duration.default !== undefined) return rule.duration.default;
    const key = reader.keyFor('duration');
    throw new InvalidInput(`${key} is required for ${capability} (${min}-${max} seconds)`, key, 'missing_required_parameter');
  }
  if (found.value < min || found.value > max) {
    const allowed = min === max ? `must be ${min}` : `must be between ${min} and ${max}`;
    throw new InvalidInput(`${found.key} ${allowed} seconds for ${capability}`, found.key);
  }
  return found.value;
}

function readInputVideoSeconds(reader: BodyReader, capability: Capability, rule: CapabilityRule): number | null {
  const found = reader.parse('inputVideoSeconds');
  if (!found) return null;
  if (!rule.inputVideoSeconds) {
    throw new InvalidInput(`${found.key} is only for video edits and extensions`, found.key, 'unsupported_parameter');
  }
  const { min, max } = rule.inputVideoSeconds;
  if (found.value < 1) throw new InvalidInput(`${found.key} must be a positive whole number of seconds`, found.key);
  if (found.value < min || found.value > max) {
    throw new InvalidInput(`${found.key} must be between ${min} and ${max} seconds for ${capability}`, found.key);
  }
  return found.value;
}

function readOptions(reader: BodyReader): VideoJob['options'] {
  const options: VideoJob['options'] = {};
  const audio = reader.parse('audio')?.value;
  const bgm = reader.parse('bgm')?.value;
  const seed = reader.parse('seed');
  if (audio !== undefined) options.audio = audio;
  if (bgm !== undefined) options.bgm = bgm;
  if (seed) {
    if (seed.value < 0 || seed.value > 2 ** 31 - 1) throw new InvalidInput(`${seed.key} must be between 0 and 2147483647`, seed.key);
    options.seed = seed.value;
  }
  return options;
}
