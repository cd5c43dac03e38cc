import type { z } from 'zod';
import { InvalidInput } from '../errors.ts';
import type { Dialect, Slot } from './dialects.ts';
import { toMediaRef } from './media-ref.ts';
import { SLOT_TYPES, type Parsed } from './slot-types.ts';
import type { MediaRef } from './types.ts';

export type Body = Record<string, unknown>;

const EXTRA = 'extra_body.';

/** Absent and null say the same: the client left the field out. */
const sent = (value: unknown) => value !== undefined && value !== null;

/** Reads canonical slots out of a body through a dialect's key names. */
export class BodyReader {
  constructor(
    private readonly body: Body,
    readonly dialect: Dialect,
  ) {
    const extra = body.extra_body;
    if (typeof extra === 'string') {
      // Some clients (and multipart forms) send extra_body as a JSON string.
      try {
        this.extra = JSON.parse(extra) as unknown;
      } catch {
        throw new InvalidInput('extra_body must be an object', 'extra_body');
      }
    } else {
      this.extra = extra;
    }
    if (this.extra !== undefined && this.extra !== null && (typeof this.extra !== 'object' || Array.isArray(this.extra))) {
      throw new InvalidInput('extra_body must be an object', 'extra_body');
    }
  }

  private readonly extra: unknown;

  private value(key: string): unknown {
    if (!key.startsWith(EXTRA)) return this.body[key];
    const extra = this.extra as Body | null | undefined;
    return extra?.[key.slice(EXTRA.length)];
  }

  /**
   * Every key the client gave a value, those under extra_body written `extra_body.<name>`
   * (the container itself is no field): what the model must either take or ignore.
   */
  sentKeys(): string[] {
    const extra = (this.extra ?? {}) as Body;
    return [
      ...Object.keys(this.body).filter((key) => key !== 'extra_body' && sent(this.body[key])),
      ...Object.keys(extra).filter((key) => sent(extra[key])).map((key) => `${EXTRA}${key}`),
    ];
  }

  /**
   * What `find` answered for each slot: validation asks about one slot several times (the
   * capability, then the inputs it takes), and the body does not change in between.
   */
  readonly #found = new Map<Slot, { key: string; value: unknown } | undefined>();

  /** The one key (if any) under which the client sent this slot; two keys for one slot conflict. */
  find(slot: Slot): { key: string; value: unknown } | undefined {
    if (this.#found.has(slot)) return this.#found.get(slot);
    let first: { key: string; value: unknown } | undefined;
    for (const key of this.dialect.keys[slot] ?? []) {
      const value = this.value(key);
      if (!sent(value) || !this.belongs(slot, key, value)) continue;
      if (first) throw new InvalidInput(`Pass either ${first.key} or ${key}, not both`, key, 'conflicting_parameters');
      first = { key, value };
    }
    this.#found.set(slot, first);
    return first;
  }

  /** A repeatable key fills `image` with one value and `images` with several. */
  private belongs(slot: Slot, key: string, value: unknown): boolean {
    if (!this.dialect.oneOrMany?.includes(key)) return true;
    const many = Array.isArray(value) && value.length > 1;
    return slot === 'images' ? many : !many;
  }

  /** The key a client should use for a slot, for "is required" messages. */
  keyFor(slot: Slot): string {
    return this.dialect.keys[slot]?.[0] ?? slot;
  }

  /** The slot's value, parsed with its type in SLOT_TYPES. */
  parse<S extends Slot>(slot: S): { key: string; value: Parsed<S> } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    const { schema, expect } = SLOT_TYPES[slot];
    // TypeScript cannot pair an indexed schema with its own output type; the table fixes the pair.
    const parsed = (schema as unknown as z.ZodType<Parsed<S>>).safeParse(found.value);
    if (!parsed.success) {
      // A form field sent twice arrives as a list: say so rather than only "must be a string".
      const list = Array.isArray(found.value) ? `, not a list of ${found.value.length} (was it sent more than once?)` : '';
      throw new InvalidInput(`${found.key} must be ${expect}${list}`, found.key);
    }
    return { key: found.key, value: parsed.data };
  }

  string(slot: 'prompt' | 'resolution' | 'aspectRatio' | 'operation'): { key: string; value: string } | undefined {
    const found = this.parse(slot);
    return found && { key: found.key, value: String(found.value) };
  }

  media(slot: Slot, kind: 'image' | 'video'): { key: string; value: MediaRef } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    if (Array.isArray(found.value) && found.value.length > 1) {
      // A form field sent twice arrives as a list, as parse() says of a text field.
      throw new InvalidInput(`${found.key} must be one ${kind}, not a list of ${found.value.length} (was it sent more than once?)`, found.key);
    }
    const value = Array.isArray(found.value) ? found.value[0] : found.value;
    return { key: found.key, value: toMediaRef(value, found.key, kind) };
  }

  mediaList(slot: Slot, kind: 'image' | 'video'): { key: string; value: MediaRef[] } | undefined {
    const found = this.find(slot);
    if (!found) return undefined;
    // A multipart form with a single repeated field arrives as one value.
    const items = Array.isArray(found.value) ? found.value : [found.value];
    return { key: found.key, value: items.map((item, index) => toMediaRef(item, `${found.key}[${index}]`, kind)) };
  }
}
