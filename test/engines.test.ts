import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { ROOT } from './support/gateway.ts';

/**
 * package.json's `engines` is a promise to operators: every Node version it admits must be
 * one that every installed package (as the lockfile pins it) says it runs on. fastify's
 * light-my-request 6.8 brought cookie 2, which wants Node >= 22; an override pins 6.6.
 */
const read = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, unknown>;

test('every Node version our engines admit is one every locked package runs on', () => {
  const ours = (read('package.json').engines as { node: string }).node;
  const packages = read('package-lock.json').packages as Record<string, { engines?: { node?: string } | string[] }>;
  const narrower = Object.entries(packages)
    .filter(([name, meta]) => name !== '' && !Array.isArray(meta.engines) && meta.engines?.node)
    .filter(([, meta]) => !semver.subset(ours, (meta.engines as { node: string }).node))
    .map(([name, meta]) => `${name} wants node ${(meta.engines as { node: string }).node}`);
  assert.deepEqual(narrower, []);
  assert.ok(semver.satisfies(process.version, ours), `this machine's ${process.version} is within ${ours}`);
});
