/**
 * Fetches one URL several times in a process of its own and writes every body
 * it got to `<outDir>/<mode>-<round>.bin`. It runs apart from the test because
 * the failure it guards against (undici's `assert(!this.paused)` when an
 * HTTP/1.0 server closes right after the body) is thrown where no caller can
 * catch it and kills the whole process. Rounds repeat because that failure
 * depends on timing.
 *
 * Usage: http10-fetch-child.ts fetch|download <url> <host:port allowed> <outDir> <rounds>
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadToFile, guardedFetch } from '../../src/net/guarded-fetch.ts';
import type { GuardOptions } from '../../src/net/guarded-fetch.ts';

const [mode, url, hostPort, outDir, rounds] = process.argv.slice(2);
if ((mode !== 'fetch' && mode !== 'download') || !url || !hostPort || !outDir || !rounds) {
  console.error('usage: http10-fetch-child.ts fetch|download <url> <host:port> <outDir> <rounds>');
  process.exit(2);
}

const options: GuardOptions = { allowedPrivateHosts: new Set([hostPort]), maxBytes: 64 * 1024 * 1024, timeoutMs: 20_000 };
for (let round = 0; round < Number(rounds); round++) {
  const path = join(outDir, `${mode}-${round}.bin`);
  if (mode === 'fetch') await writeFile(path, (await guardedFetch(url, options)).body);
  else await downloadToFile(url, path, options);
}
