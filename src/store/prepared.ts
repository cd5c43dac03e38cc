import type { Compilable } from 'kysely';

/**
 * A query built once with the query builder and run many times with fresh values.
 * Building and compiling a Kysely query costs several times more than the SQLite read
 * itself (bench: ~20 µs against ~3 µs), and the poll route runs two per request; so
 * each query is compiled at start-up with named placeholders, and each dialect runs
 * the SQL text as a prepared statement, binding values in the compiled order.
 */
class Placeholder {
  constructor(readonly name: string) {}
}

export interface PreparedQuery<P> {
  readonly sql: string;
  bind(params: P): unknown[];
}

/**
 * `build` receives stand-ins for its parameters; it may only pass them on as values.
 * `fields` lists the parameters up front, for builders that spread the whole object
 * (an insert's values).
 */
export function prepare<P extends object>(build: (params: P) => Compilable<unknown>, fields?: readonly (keyof P & string)[]): PreparedQuery<P> {
  const stand = fields
    ? (Object.fromEntries(fields.map((field) => [field, new Placeholder(field)])) as P)
    : (new Proxy({}, { get: (_target, name) => new Placeholder(String(name)) }) as P);
  const compiled = build(stand).compile();
  const order = compiled.parameters.map((value) => (value instanceof Placeholder ? value.name : null));
  const constants = compiled.parameters;
  return {
    sql: compiled.sql,
    bind(params: P) {
      const values = params as Record<string, unknown>;
      return order.map((name, index) => (name === null ? constants[index] : (values[name] ?? null)));
    },
  };
}

/**
 * A statement over `count` rows (a multi-row insert), built once per count: `build` receives
 * `count` stand-in rows of `fields`; `bind` takes that many rows.
 */
export function prepareRows<R extends object>(build: (rows: R[]) => Compilable<unknown>, fields: readonly (keyof R & string)[], count: number): PreparedQuery<R[]> {
  const stand = Array.from({ length: count }, (_, row) => Object.fromEntries(fields.map((field) => [field, new Placeholder(`${row}:${field}`)])) as R);
  const compiled = build(stand).compile();
  const order = compiled.parameters.map((value) => {
    if (!(value instanceof Placeholder)) throw new Error('prepareRows: every value must be a row field');
    const at = value.name.indexOf(':');
    return { row: Number(value.name.slice(0, at)), field: value.name.slice(at + 1) };
  });
  return {
    sql: compiled.sql,
    bind: (rows: R[]) => order.map(({ row, field }) => (rows[row] as Record<string, unknown>)[field] ?? null),
  };
}
