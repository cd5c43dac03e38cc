import { InvalidInput } from '../errors.ts';
import type { BodyReader } from './body-reader.ts';
import type { Dialect } from './dialects.ts';
import type { ModelSpec } from './models.ts';

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

/** The fields a dialect takes, `model` and those under extra_body (`extra_body.<name>`) included. */
export function takenFields(dialect: Dialect): string[] {
  return ['model', ...new Set(Object.values(dialect.keys).flatMap((keys) => keys ?? []))];
}

/** Refuses the first field that the model neither takes nor ignores, naming it. */
export function refuseUntakenFields(reader: BodyReader, model: ModelSpec): void {
  const taken = takenFields(reader.dialect);
  const field = untaken(reader, taken);
  if (field === undefined) return;
  throw new InvalidInput(`${field} is not a parameter of ${model.id}${whereItGoes(field, taken)}; ${model.id} takes ${taken.join(', ')}`, field, 'unsupported_parameter');
}

/** A remix keeps the source's model, inputs and settings: it takes a new prompt and nothing else. */
export function refuseRemixFields(reader: BodyReader): void {
  const field = untaken(reader, ['prompt']);
  if (field === undefined) return;
  throw new InvalidInput(`A remix takes only prompt (it keeps the source video's model, inputs and settings); ${field} is not accepted`, field, 'unsupported_parameter');
}

function untaken(reader: BodyReader, taken: readonly string[]): string | undefined {
  const allowed = new Set<string>([...taken, ...IGNORED_FIELDS]);
  return reader.sentKeys().find((field) => !allowed.has(field));
}

/** The likeliest slip: a field sent at the top level that belongs under extra_body, or the reverse. */
function whereItGoes(field: string, taken: readonly string[]): string {
  if (taken.includes(`${EXTRA}${field}`)) return ` at the top level: send it as ${EXTRA}${field}`;
  const name = field.startsWith(EXTRA) ? field.slice(EXTRA.length) : null;
  if (name !== null && taken.includes(name)) return `: send ${name} at the top level, not inside extra_body`;
  return '';
}
