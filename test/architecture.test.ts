import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support/gateway.ts';

/**
 * The shape of the code, held by a test: data flows one way (HTTP → tasks → store;
 * worker → provider → storage → store), so no module below HTTP imports it, and no two
 * modules import each other, however indirectly.
 */
const SRC = path.join(ROOT, 'src');

function sources(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a file (type-only imports count too: they still tie the modules together). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)].map((match) => path.resolve(path.dirname(file), match[1]!));
}

const graph = new Map(sources(SRC).map((file) => [file, imports(file)]));
const layer = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;

test('no module below HTTP imports src/http/', () => {
  const offenders = [...graph]
    .filter(([file]) => !['http', 'main.ts', 'gateway.ts', 'cli'].includes(layer(file)))
    .flatMap(([file, targets]) => targets.filter((target) => layer(target) === 'http').map((target) => `${path.relative(SRC, file)} → ${path.relative(SRC, target)}`));
  assert.deepEqual(offenders, []);
});

test('no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f)).join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});
