import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { UploadedFile } from '../catalog/types.ts';
import { ApiError, invalidRequest } from './errors.ts';
import { refuseBadText } from './bad-text.ts';

/**
 * The create routes accept JSON and multipart/form-data alike (the openai client always
 * sends multipart). A form becomes the same object a JSON body would be: bracketed names
 * nest (`extra_body[operation]`, `images[]`, `input_reference[image_url]`), a repeated
 * name becomes a list, and file parts become UploadedFiles spooled to disk.
 */
/**
 * One text field of a form: a prompt is at most 4096 characters, but a field may hold an
 * image as a data URI. All parts together stay within MAX_BODY_MB (readCreateBody).
 */
export const MAX_FORM_FIELD_BYTES = 16 * 1024 * 1024;

export interface ParsedBody {
  body: unknown;
  /** Removes spooled uploads that nothing took over. */
  cleanup(): Promise<void>;
}

/**
 * Made once: tsx transpiles with esbuild's keepNames, which wraps every named closure in a
 * __name() call that runs each time the closure is made (evanw/esbuild#2605) — measurable
 * on a create's path (bench/), so closures made per request there are hoisted.
 */
const nothingToClean = async (): Promise<void> => undefined;

export async function readCreateBody(request: FastifyRequest, uploadDirectory: string, { maxBytes, maxFileBytes }: { maxBytes: number; maxFileBytes: number }): Promise<ParsedBody> {
  if (!request.isMultipart()) return { body: request.body === undefined ? {} : request.body, cleanup: nothingToClean };
  const declared = Number(request.headers['content-length']);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const body: Record<string, unknown> = {};
  // The parser bounds each part; the whole form is bounded here, part by part, as it arrives.
  let total = 0;
  const files: string[] = [];
  const cleanup = async () => {
    await Promise.all(files.map((file) => rm(file, { force: true })));
  };
  try {
    await mkdir(uploadDirectory, { recursive: true });
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        // A file's name is text; its bytes are not.
        refuseBadText({ [part.fieldname]: '' }, null);
        const file = path.join(uploadDirectory, `upload-${randomBytes(12).toString('hex')}`);
        files.push(file);
        const hash = createHash('sha256');
        part.file.on('data', (chunk: Buffer) => hash.update(chunk));
        await pipeline(part.file, createWriteStream(file));
        if (part.file.truncated) {
          const limit = `${maxFileBytes / 1024 / 1024} MB, MAX_INPUT_MB`;
          throw new ApiError(413, `${part.fieldname} is larger than the upload limit (${limit}); send a smaller file, or a URL`, 'invalid_request_error', 'file_too_large', part.fieldname);
        }
        total += part.file.bytesRead;
        if (total > maxBytes) throw tooLarge(maxBytes);
        assign(body, part.fieldname, new UploadedFile(file, part.mimetype, part.filename, part.file.bytesRead, hash.digest('hex')));
      } else {
        if (part.valueTruncated) {
          throw new ApiError(413, `Form field ${part.fieldname} is longer than ${MAX_FORM_FIELD_BYTES} bytes`, 'invalid_request_error', 'field_too_large', part.fieldname);
        }
        const value = String(part.value);
        total += Buffer.byteLength(value);
        if (total > maxBytes) throw tooLarge(maxBytes);
        // The form parser decodes text leniently, turning bytes that are not UTF-8 into U+FFFD;
        // a prompt must not be stored mangled. (A client that means U+FFFD can send JSON.)
        if (value.includes('\uFFFD')) throw invalidRequest(`Form field ${part.fieldname} is not valid UTF-8`, part.fieldname, 'invalid_encoding');
        refuseBadText({ [part.fieldname]: value }, null);

        assign(body, part.fieldname, value);
      }
    }
    return { body, cleanup };
  } catch (error) {
    await cleanup();
    throw asClientFault(error);
  }
}

/** What a body over MAX_BODY_MB is told, JSON or form alike. */
export const bodyTooLargeMessage = (maxBytes: number) => `The request body is larger than ${maxBytes} bytes (MAX_BODY_MB)`;

const tooLarge = (maxBytes: number) => new ApiError(413, bodyTooLargeMessage(maxBytes), 'invalid_request_error', 'body_too_large');

/**
 * A form the parser cannot read is the client's fault (400); our own disk failing is not
 * (system errors keep their 500), and the parser's size limits keep their 413.
 */
function asClientFault(error: unknown): unknown {
  const known = error as { syscall?: string; statusCode?: number; message?: string };
  if (error instanceof ApiError || known.syscall || known.statusCode) return error;
  return invalidRequest(`Malformed multipart/form-data body: ${known.message ?? 'unreadable'}`, null, 'invalid_multipart');
}

/**
 * Sets `name` (plain, `a[b]`, `a[]`, `a[0]`, `a[0][url]`) on `target`. A plain name sent
 * twice (a repeated input_reference) is a list; anything else that would land where a value
 * is already (`images[0]` twice, `video[url]` inside a file part) is refused, never dropped.
 */
export function assign(target: Record<string, unknown>, name: string, value: unknown): void {
  const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
  if (!match) throw invalidRequest(`Malformed form field name '${name}'`, name);
  const keys = [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!)];
  const conflict = () => invalidRequest(`Form field '${name}' conflicts with another field`, name);
  let node: Record<string, unknown> | unknown[] = target;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const last = index === keys.length - 1;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw invalidRequest(`Malformed form field name '${name}'`, name);
    const place = Array.isArray(node) ? (key === '' ? node.length : Number(key)) : key;
    if (typeof place === 'number' && (!Number.isInteger(place) || place < 0 || place > 100)) throw invalidRequest(`Malformed form field name '${name}'`, name);
    const slots = node as Record<string | number, unknown>;
    const existing = slots[place];
    if (last) {
      if (existing === undefined) slots[place] = value;
      else if (typeof place === 'number') throw conflict();
      else slots[place] = Array.isArray(existing) ? [...existing, value] : [existing, value];
      return;
    }
    if (existing === undefined) node = (slots[place] = /^\d*$/.test(keys[index + 1]!) ? [] : {}) as Record<string, unknown> | unknown[];
    // Only a list or a plain object takes fields: not a file part, nor a text value.
    else if (Array.isArray(existing) || (typeof existing === 'object' && existing !== null && Object.getPrototypeOf(existing) === Object.prototype)) node = existing as Record<string, unknown>;
    else throw conflict();
  }
}
