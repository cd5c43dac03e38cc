import path from 'node:path';
import { parseArgs } from 'node:util';
import { KeyService } from '../auth/keys.ts';
import { Accounts } from '../billing/accounts.ts';
import { checkLedger } from '../billing/ledger-check.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { openSqliteStore } from '../store/sqlite.ts';

const USAGE = `Usage:
  vidgate keys create --name NAME [--balance MICROS] [--test]
                                    issue a key (shown once); with a balance in
                                    micro-dollars (1 USD = 1000000) it is metered;
                                    --test: a test-mode key (preview renderer, never charged)
  vidgate ledger check              check the books: balances are the sum of their
                                    entries, never below zero, each hold ended once;
                                    exit 0 when they hold, 1 with a line per problem
  vidgate keys topup ID --amount MICROS
                                    add to a metered key's balance (a ledger entry)
  vidgate keys ledger ID            a key's ledger entries, oldest first
  vidgate keys list                 list keys (no secrets)
  vidgate keys revoke ID            revoke a key
  vidgate --help                    this text
Reads DATA_DIR (default ./data) like the server; the server itself starts with npm start.`;

/** The operator's CLI; it works on the database directly, server running or not. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, balance: { type: 'string' }, amount: { type: 'string' }, test: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
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
  if ((group !== 'keys' && group !== 'ledger') || !command) {
    const what = positionals.length === 0 ? 'a command is needed' : `unknown command: ${positionals.join(' ')}`;
    process.stderr.write(`vidgate: ${what}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const store = await openSqliteStore(path.join(config.dataDir, 'vidgate.db'));
  const keys = new KeyService(store);
  const accounts = new Accounts(store);
  try {
    if (group === 'ledger') {
      if (command !== 'check') {
        process.stderr.write(`vidgate: unknown command: ledger ${command}\n${USAGE}\n`);
        return 2;
      }
      const problems = await checkLedger(store);
      for (const problem of problems) process.stdout.write(`${problem}\n`);
      process.stdout.write(problems.length === 0 ? 'ledger ok\n' : `${problems.length} problem(s)\n`);
      return problems.length === 0 ? 0 : 1;
    }
    switch (command) {
      case 'create': {
        if (!values.name?.trim()) {
          process.stderr.write('keys create needs --name NAME\n');
          return 2;
        }
        const balance = values.balance === undefined ? null : Number(values.balance);
        if (balance !== null && !(Number.isSafeInteger(balance) && balance >= 0)) {
          process.stderr.write('--balance is micro-dollars: a whole number of at least 0\n');
          return 2;
        }
        process.stdout.write(`${JSON.stringify(await keys.create(values.name.trim(), { balance, mode: values.test ? 'test' : 'live' }), null, 2)}\n`);
        return 0;
      }
      case 'topup': {
        const amount = Number(values.amount);
        if (!argument || !(Number.isSafeInteger(amount) && amount >= 1)) {
          process.stderr.write('keys topup needs a key id and --amount MICROS (a whole number of at least 1)\n');
          return 2;
        }
        const balance = await accounts.topUp(argument, amount, 'vidgate keys topup');
        process.stdout.write(`${JSON.stringify({ key_id: argument, balance }, null, 2)}\n`);
        return 0;
      }
      case 'ledger': {
        if (!argument) {
          process.stderr.write('keys ledger needs a key id\n');
          return 2;
        }
        const entries = [];
        for (let after = 0, page; (page = await accounts.ledger(argument, after, 100)).data.length > 0; after = page.last_id!) entries.push(...page.data);
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
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
  // A domain refusal (no such key, an unmetered key) is the operator's to read, as a line.
  process.stderr.write(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
