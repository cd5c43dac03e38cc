import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/**
 * The operator's key: ADMIN_KEY if set, else the one in DATA_DIR/admin.key, made on
 * first start (mode 600). Only its location is ever logged.
 */
export async function resolveAdminKey(configured: string | null, dataDir: string, log: Logger): Promise<string> {
  if (configured) return configured;
  const file = path.join(dataDir, 'admin.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = `vg-admin-${randomBytes(24).toString('base64url')}`;
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    log.info({ file }, 'generated an admin key; it is stored in this file');
    return key;
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw error;
  }
}
