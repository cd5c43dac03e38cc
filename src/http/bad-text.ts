import { invalidRequest } from './errors.ts';

/**
 * Text no field takes is refused wherever a request carries it (path, query, JSON body, form
 * field): a NUL character (U+0000), and half a surrogate pair (which a JSON body can spell as
 * `\ud800`, and which is no Unicode text). PostgreSQL's text holds neither (it would be a 500
 * at the first statement) and SQLite would keep the second changed. The answer names where it was.
 */
export function refuseBadText(value: unknown, where: string | null): void {
  const found = badTextAt(value, where);
  if (found === undefined) return;
  throw invalidRequest(`${found.path ?? 'The request'} holds ${found.flaw}, which no field takes`, found.path, 'invalid_text');
}

/** What is wrong with a string as text, or null. */
function flawOf(text: string): string | null {
  if (text.includes('\0')) return 'a NUL character (U+0000)';
  if (!text.isWellFormed()) return 'half a surrogate pair (\\ud800 to \\udfff alone: not Unicode text)';
  return null;
}

/** Where in `value` a string (or a key) is bad text (a path such as `images[0].url`), and what is wrong; undefined when none is. */
function badTextAt(value: unknown, path: string | null): { path: string | null; flaw: string } | undefined {
  if (typeof value === 'string') {
    const flaw = flawOf(value);
    return flaw === null ? undefined : { path, flaw };
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = badTextAt(value[index], `${path ?? ''}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const name = path ? `${path}.${key}` : key;
      // A key is text too.
      const flaw = flawOf(key);
      if (flaw !== null) return { path: name, flaw };
      const found = badTextAt(item, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
