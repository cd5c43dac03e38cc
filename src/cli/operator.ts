import { KeyService } from '../auth/keys.ts';
import { Accounts } from '../billing/accounts.ts';
import { checkLedger } from '../billing/ledger-check.ts';
import { readUsageQuery } from '../billing/usage-query.ts';
import { loadConfig } from '../config.ts';
import { InvalidInput } from '../errors.ts';
import { openMadeStore } from '../store/open.ts';
import { UsageError } from './client.ts';

/** What an operator command was given. */
export interface OperatorArgs {
  words: string[];
  flags: { name?: string; balance?: string; amount?: string; test?: boolean; from?: string; to?: string; 'group-by'?: string; 'key-id'?: string };
}

type Print = (text: string) => void;

/**
 * The operator's commands: they work on DATA_DIR's database directly, server running or
 * not (keys, the ledger, the usage report across keys).
 */
export async function operator(group: 'keys' | 'ledger' | 'usage', { words, flags }: OperatorArgs, print: Print): Promise<number> {
  const [command, argument] = words;
  // Checked before the database is opened: a mistyped command leaves no data dir behind.
  if (group === 'ledger' && command !== 'check') throw new UsageError(command ? `unknown command: ledger ${command}` : 'ledger needs check');
  if (group === 'keys' && !['create', 'topup', 'ledger', 'list', 'revoke'].includes(command ?? '')) {
    throw new UsageError(command ? `unknown command: keys ${command}` : 'keys needs create, topup, ledger, list or revoke');
  }
  let query;
  if (group === 'usage') {
    try {
      query = readUsageQuery({ from: flags.from, to: flags.to, group_by: flags['group-by'], key_id: flags['key-id'] }, ['key', 'model', 'day'], Date.now());
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      // The API's param names the query field; the CLI's user typed the flag.
      throw new UsageError(`usage: ${error.message} (--${String(error.param).replace('group_by', 'group-by').replace('key_id', 'key-id')})`);
    }
  }
  const config = loadConfig();
  const store = await openMadeStore(config.database, config.dataDir);
  const keys = new KeyService(store);
  const accounts = new Accounts(store);
  try {
    if (query) {
      print(JSON.stringify(await accounts.usage(query, true), null, 2));
      return 0;
    }
    if (group === 'ledger') {
      const problems = await checkLedger(store);
      for (const problem of problems) print(problem);
      print(problems.length === 0 ? 'ledger ok' : `${problems.length} problem(s)`);
      return problems.length === 0 ? 0 : 1;
    }
    switch (command) {
      case 'create': {
        if (!flags.name?.trim()) throw new UsageError('keys create needs --name NAME');
        const balance = flags.balance === undefined ? null : Number(flags.balance);
        if (balance !== null && !(Number.isSafeInteger(balance) && balance >= 0)) throw new UsageError('--balance is micro-dollars: a whole number of at least 0');
        print(JSON.stringify(await keys.create(flags.name.trim(), { balance, mode: flags.test ? 'test' : 'live' }), null, 2));
        return 0;
      }
      case 'topup': {
        const amount = Number(flags.amount);
        if (!argument || !(Number.isSafeInteger(amount) && amount >= 1)) throw new UsageError('keys topup needs a key id and --amount MICROS (a whole number of at least 1)');
        const balance = await accounts.topUp(argument, amount, 'vidgate keys topup');
        print(JSON.stringify({ key_id: argument, balance }, null, 2));
        return 0;
      }
      case 'ledger': {
        if (!argument) throw new UsageError('keys ledger needs a key id');
        const entries = [];
        for (let after = 0, page; (page = await accounts.ledger(argument, after, 100)).data.length > 0; after = page.last_id!) entries.push(...page.data);
        print(JSON.stringify(entries, null, 2));
        return 0;
      }
      case 'list':
        print(JSON.stringify(await keys.list(), null, 2));
        return 0;
      default: {
        if (!argument) throw new UsageError('keys revoke needs a key id');
        if (!(await keys.revoke(argument))) {
          process.stderr.write(`no active key with id ${argument}\n`);
          return 1;
        }
        print(`revoked ${argument}`);
        return 0;
      }
    }
  } finally {
    await store.close();
  }
}
