import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import { DIALECTS, type Dialect, type Slot } from './dialects.ts';
import { findModel, type ModelSpec } from './models.ts';

/**
 * Which body fields a request may carry. A field the model does not take would be dropped
 * without a word, and the client would get a video other than the one asked for (a
 * `resolution` that grok-imagine did not read rendered 720p), so every field is either
 * taken by the model's dialect, ignored because it cannot change the video, or refused.
 */

/**
 * Fields accepted from any client and ignored, because they change nothing about the
 * video: `user` is OpenAI's end-user tag for abuse tracking, `metadata` the caller's own
 * labels. Neither is stored or forwarded. GET /openapi.json lists them in every request schema.
 */
export const IGNORED_FIELDS = ['user', 'metadata'] as const;

const EXTRA = 'extra_body.';

/** What a dialect takes, `model` and `extra_body.<name>` included; the allowed set adds the ignored fields. */
interface Fields {
  taken: readonly string[];
  allowed: ReadonlySet<string>;
}

const fieldsOf = (taken: readonly string[]): Fields => ({ taken, allowed: new Set([...taken, ...IGNORED_FIELDS]) });
// Dialects are fixed data: work their fields out once, not on every request (it showed in the create profile).
const DIALECT_FIELDS = new WeakMap<Dialect, Fields>();
const REMIX_FIELDS = fieldsOf(['prompt']);

function dialectFields(dialect: Dialect): Fields {
  let fields = DIALECT_FIELDS.get(dialect);
  if (!fields) {
    fields = fieldsOf(['model', ...new Set(Object.values(dialect.keys).flatMap((keys) => keys ?? []))]);
    DIALECT_FIELDS.set(dialect, fields);
  }
  return fields;
}

/** Refuses the first field that the model neither takes nor ignores, naming it. */
export function refuseUntakenFields(reader: BodyReader, model: ModelSpec): void {
  const { taken, allowed } = dialectFields(reader.dialect);
  const field = reader.sentKeys().find((key) => !allowed.has(key));
  if (field === undefined) return;
  throw new InvalidInput(`${field} is not a parameter of ${model.id}${whereItGoes(field, taken)}; ${model.id} takes ${taken.join(', ')}`, field, 'unsupported_parameter');
}

/** A remix keeps the source's model, inputs and settings: it takes a new prompt and nothing else. */
export function refuseRemixFields(reader: BodyReader): void {
  const field = reader.sentKeys().find((key) => !REMIX_FIELDS.allowed.has(key));
  if (field === undefined) return;
  throw new InvalidInput(`A remix takes only prompt (it keeps the source video's model, inputs and settings); ${field} is not accepted`, field, 'unsupported_parameter');
}

/** The likeliest slip: a field sent at the top level that belongs under extra_body, or the reverse. */
function whereItGoes(field: string, taken: readonly string[]): string {
  if (taken.includes(`${EXTRA}${field}`)) return ` at the top level: send it as ${EXTRA}${field}`;
  const name = field.startsWith(EXTRA) ? field.slice(EXTRA.length) : null;
  if (name !== null && taken.includes(name)) return `: send ${name} at the top level, not inside extra_body`;
  return '';
}

/** The body field that holds `slot` for this model: the one the client sent, else the dialect's first name for it. */
export function fieldFor(modelId: string, slot: Slot, body: unknown): string {
  const model = findModel(modelId);
  const keys = model ? (DIALECTS[model.family].keys[slot] ?? []) : [];
  const sent = (key: string) => {
    let value: unknown = body;
    for (const part of key.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    return value !== undefined;
  };
  return keys.find(sent) ?? keys[0] ?? slot;
}
