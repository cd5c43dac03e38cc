import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Scratch } from '../src/scratch.ts';

/** What a process starting on a DATA_DIR clears from scratch/, and what it leaves to others. */
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vidgate-scratch-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function leave(name: string, ageMs = 0): void {
  const folder = path.join(dataDir, 'scratch', name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, 'upload.part'), 'x');
  const when = new Date(Date.now() - ageMs);
  utimesSync(folder, when, when);
}

test("a process clears its host's dead processes' folders and its own pid's, and leaves live ones and other hosts' recent ones", async () => {
  const host = 'box-1';
  // pid 1 in a container: the folder of the previous start has the very same pid.
  leave(`${host}-1-old`);
  leave(`${host}-${process.pid}-live`);
  leave(`${host}-999999999-dead`);
  leave('999999998-legacy');
  leave('other-host-7-recent');
  leave('other-host-8-stale', 2 * 24 * 3600_000);
  leave('not-ours');
  const scratch = await Scratch.open(dataDir, 1, host);
  const left = readdirSync(path.join(dataDir, 'scratch')).sort();
  assert.deepEqual(left, [path.basename(scratch.directory), `${host}-${process.pid}-live`, 'other-host-7-recent'].sort());
  assert.match(path.basename(scratch.directory), /^box-1-1-[0-9a-z]+$/);
});
