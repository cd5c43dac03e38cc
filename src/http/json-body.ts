import { isUtf8 } from 'node:buffer';
import { invalidRequest } from './errors.ts';

/**
 * A JSON request body, bounded by what it can cost before JSON.parse sees it. Size alone
 * is no bound: 60 MB of tiny objects kept the event loop busy for 20 s and took 2 GB, and
 * a deeply nested body makes every recursive walk of it (hashing, validation) overflow.
 * A create body is a few dozen fields at depth three or four; these limits leave room
 * for far more and still cost nothing worth measuring.
 */
export const MAX_JSON_DEPTH = 32;
/** Arrays, objects and the values in them, counted by their brackets and commas. */
export const MAX_JSON_NODES = 10_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Refuses a body that is not valid UTF-8 or exceeds the limits; JSON.parse then does the parsing proper. */
export function checkJsonBody(bytes: Buffer): void {
  if (!isUtf8(bytes)) throw invalidRequest('The request body is not valid UTF-8', null, 'invalid_encoding');
  checkShape(bytes);
}

/** One pass over the bytes: strings are skipped with indexOf, so long data URIs cost a memchr. */
function checkShape(bytes: Buffer): void {
  let depth = 0;
  let nodes = 0;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index];
    if (byte === QUOTE) {
      index = stringEnd(bytes, index);
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw invalidRequest(`The JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`, null, 'json_too_deep');
      nodes++;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
    } else if (byte === 0x2c) {
      nodes++;
    } else {
      continue;
    }
    if (nodes > MAX_JSON_NODES) throw invalidRequest(`The JSON body holds more than ${MAX_JSON_NODES} values`, null, 'json_too_complex');
  }
}

/** The index of the quote that closes the string opening at `start` (or the end: JSON.parse then refuses it). */
function stringEnd(bytes: Buffer, start: number): number {
  let at = start;
  for (;;) {
    at = bytes.indexOf(QUOTE, at + 1);
    if (at === -1) return bytes.length;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}
