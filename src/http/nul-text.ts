import { invalidRequest } from './errors.ts';

/**
 * Text with a NUL character (U+0000) is refused wherever a request carries it (path, query,
 * JSON body, form field): no id or field of ours means one, and PostgreSQL's text cannot hold
 * it (it would be a 500 at the first statement). The answer names where it was.
 */
export function refuseNul(value: unknown, where: string | null): void {
  const found = nulAt(value, where);
  if (found !== undefined) throw invalidRequest(`${found ?? 'The request'} holds a NUL character (U+0000), which no field takes`, found, 'invalid_text');
}

/** Where in `value` a string holds a NUL (a path such as `images[0].url`), or undefined. */
function nulAt(value: unknown, path: string | null): string | null | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = nulAt(value[index], `${path ?? ''}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const name = path ? `${path}.${key}` : key;
      // A key is text too.
      if (key.includes('\0')) return name;
      const found = nulAt(item, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
