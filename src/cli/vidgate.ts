import path from 'node:path';
import { parseArgs } from 'node:util';
import { KeyService } from '../auth/keys.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { openSqliteStore } from '../store/sqlite.ts';

const USAGE = `Usage:
  vidgate keys create --name NAME   issue a key (shown once)
  vidgate keys list                 list keys (no secrets)
  vidgate keys revoke ID            revoke a key
  vidgate --help                    this text
Reads DATA_DIR (default ./data) like the server; the server itself starts with npm start.`;

/** The operator's CLI; it works on the database directly, server running or not. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [group, command, argument] = positionals;
  if (group !== 'keys' || !command) {
    const what = positionals.length === 0 ? 'a command is needed' : `unknown command: ${positionals.join(' ')}`;
    process.stderr.write(`vidgate: ${what}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const store = await openSqliteStore(path.join(config.dataDir, 'vidgate.db'));
  const keys = new KeyService(store);
  try {
    switch (command) {
      case 'create': {
        if (!values.name?.trim()) {
          process.stderr.write('keys create needs --name NAME\n');
          return 2;
        }
        process.stdout.write(`${JSON.stringify(await keys.create(values.name.trim()), null, 2)}\n`);
        return 0;
      }
      case 'list':
        process.stdout.write(`${JSON.stringify(await keys.list(), null, 2)}\n`);
        return 0;
      case 'revoke':
        if (!argument) {
          process.stderr.write('keys revoke needs a key id\n');
          return 2;
        }
        if (!(await keys.revoke(argument))) {
          process.stderr.write(`no active key with id ${argument}\n`);
          return 1;
        }
        process.stdout.write(`revoked ${argument}\n`);
        return 0;
      default:
        process.stderr.write(`vidgate: unknown command: keys ${command}\n${USAGE}\n`);
        return 2;
    }
  } finally {
    await store.close();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
