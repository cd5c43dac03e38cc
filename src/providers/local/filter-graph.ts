/**
 * Quoting for ffmpeg filter graphs. A graph string passes through two parsers (the graph
 * parser, then each filter's option parser), and each strips one layer of quoting, so
 * anything taken from outside (a path, a prompt's file, an expression with commas) must be
 * quoted for both or it splits the chain or is read as syntax.
 */

/**
 * A literal option value (a path, a fixed text): quoted for the option parser, then escaped
 * for the graph parser.
 */
export function filterValue(value: string): string {
  const quoted = `'${value.replace(/'/g, `'\\''`)}'`;
  return quoted.replace(/[\\'[\],;]/g, '\\$&');
}

/** An expression: quoted for the graph parser so its commas do not split the chain. */
export function expr(expression: string): string {
  // Expressions are built from our own numbers and names; a quote or colon means a bug upstream, not input to escape.
  if (/[':]/.test(expression)) throw new Error(`unexpected quote or colon in filter expression ${expression}`);
  return `'${expression}'`;
}
