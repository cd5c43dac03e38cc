/**
 * Text layout for drawtext, which cannot wrap: lines are broken here from estimated glyph
 * widths of DejaVu Sans, and the font shrinks until the text fits its box.
 */

/** drawtext's line height is the font's (about 1.17 em) plus line_spacing. */
export const LINE_GAP = 0.2;
export const LINE_HEIGHT = 1.17 + LINE_GAP;

/**
 * Breaks `text` into lines that fit `width`×`height` px, trying font sizes from `largest`
 * down to `smallest`; at the smallest size, what still does not fit ends in an ellipsis.
 */
export function layoutText(text: string, box: { width: number; height: number; largest: number; smallest: number }): { text: string; fontSize: number } {
  const clean = cleanText(text);
  const smallest = Math.max(8, Math.round(box.smallest));
  let fontSize = Math.max(smallest, Math.round(box.largest));
  for (;;) {
    const maxEm = box.width / fontSize;
    const lines = wrap(clean, maxEm);
    const maxLines = Math.max(1, Math.floor(box.height / (fontSize * LINE_HEIGHT)));
    if (lines.length <= maxLines) return { text: lines.join('\n'), fontSize };
    if (fontSize === smallest) return { text: [...lines.slice(0, maxLines - 1), ellipsize(lines[maxLines - 1] ?? '', maxEm)].join('\n'), fontSize };
    fontSize = Math.max(smallest, Math.floor(fontSize * 0.9));
  }
}

/**
 * One line of plain text: whitespace collapsed, control characters dropped, and characters
 * outside the Basic Multilingual Plane (emoji) removed, since DejaVu has no glyphs for them
 * and drawtext would draw empty boxes.
 */
function cleanText(text: string): string {
  return text
    .replace(/[\u{10000}-\u{10FFFF}\u200D\uFE0E\uFE0F]/gu, '')
    .replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ')
    .trim();
}

function wrap(text: string, maxEm: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ').filter(Boolean)) {
    const joined = line ? `${line} ${word}` : word;
    if (emWidth(joined) <= maxEm) {
      line = joined;
      continue;
    }
    if (line) lines.push(line);
    // A word wider than the line (a URL, a long compound) is cut wherever it must be.
    line = '';
    for (const char of word) {
      if (line && emWidth(line + char) > maxEm) {
        lines.push(line);
        line = '';
      }
      line += char;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function ellipsize(line: string, maxEm: number): string {
  const chars = [...line];
  while (chars.length > 0 && emWidth(`${chars.join('')}…`) > maxEm) chars.pop();
  return `${chars.join('').trimEnd()}…`;
}

/** Approximate advance widths of DejaVu Sans, in em; generous, so lines fall short rather than overflow. */
function emWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    if (char === ' ') width += 0.32;
    else if (/[il.,:;'|!]/.test(char)) width += 0.3;
    else if (/[fjrt()[\]{}"`\-/\\]/.test(char)) width += 0.42;
    else if (/[mwMW@%]/.test(char)) width += 0.95;
    else if (/[A-Z0-9#&]/.test(char)) width += 0.72;
    else if (/[a-z?*+=<>^~_$]/.test(char)) width += 0.6;
    else if (/[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/.test(char)) width += 1;
    else width += 0.75;
  }
  return width;
}
