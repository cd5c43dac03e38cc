import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { NoDatabase } from '../store/open.ts';
import { GatewayClient, GatewayError, TaskUnfinished, UsageError } from './client.ts';
import { operator } from './operator.ts';
import { generate, usage, videos } from './user.ts';

// A reader that stops reading (`vidgate keys list | head`) has what it wanted: end quietly, as
// Unix tools do, not with a stack trace. What was printed was already committed.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

const USAGE = `Usage:
  For users, against any vidgate (VIDGATE_URL, default http://127.0.0.1:8080, and
  VIDGATE_API_KEY; or --url and --api-key):
  vidgate generate --model M --prompt P [--seconds N] [--size S] [--image FILE|URL] [-o out.mp4]
                                    make a video: a progress bar, then the file saved
  vidgate videos list [--limit N]   your videos, newest first
  vidgate videos get ID             one video object
  vidgate videos download ID [-o FILE] [--variant video|thumbnail|spritesheet]
  vidgate videos delete ID | cancel ID
  vidgate usage [--from DATE] [--to DATE] [--group-by model|day]
                                    your usage (with a key; DATE is YYYY-MM-DD or Unix seconds)
  --json                            answers as JSON, for scripts

  For the operator, on DATA_DIR's database (default ./data), server running or not:
  vidgate keys create --name NAME [--balance MICROS] [--test]
                                    issue a key (shown once); with a balance in
                                    micro-dollars (1 USD = 1000000) it is metered;
                                    --test: a test-mode key (preview renderer, never charged)
  vidgate keys topup ID --amount MICROS
                                    add to a metered key's balance (a ledger entry)
  vidgate keys ledger ID            a key's ledger entries, oldest first
  vidgate keys list                 list keys (no secrets)
  vidgate keys revoke ID            revoke a key
  vidgate ledger check              check the books: balances are the sum of their
                                    entries, never below zero, each hold ended once;
                                    exit 0 when they hold, 1 with a line per problem
  vidgate usage [--from DATE] [--to DATE] [--group-by key|model|day] [--key-id ID]
                                    without an API key: revenue, upstream cost and margin
                                    across keys, as GET /admin/usage

  vidgate --help                    this text

Exit codes: 0 done; 1 the video failed or was cancelled (or the books do not hold);
2 the command line is wrong; 3 the gateway refused (its message is printed);
4 the gateway could not be reached or failed.`;

const OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  model: { type: 'string' },
  prompt: { type: 'string' },
  seconds: { type: 'string' },
  size: { type: 'string' },
  image: { type: 'string' },
  output: { type: 'string', short: 'o' },
  limit: { type: 'string' },
  variant: { type: 'string' },
  name: { type: 'string' },
  balance: { type: 'string' },
  amount: { type: 'string' },
  test: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  'group-by': { type: 'string' },
  'key-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const { positionals, values } = parsed;
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [group, ...words] = positionals;
  const print = (text: string) => process.stdout.write(`${text}\n`);
  const apiKey = values['api-key'] ?? process.env.VIDGATE_API_KEY;
  const client = () => {
    if (!apiKey) throw new UsageError(`${group} needs an API key: VIDGATE_API_KEY or --api-key`);
    return new GatewayClient({ url: (values.url ?? process.env.VIDGATE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''), key: apiKey });
  };
  switch (group) {
    case 'generate':
      return generate(client(), { words, flags: values }, print, process.stderr);
    case 'videos':
      return videos(client(), { words, flags: values }, print);
    case 'usage':
      return apiKey ? usage(client(), { words, flags: values }, print) : operator('usage', { words, flags: values }, print);
    case 'keys':
    case 'ledger':
      return operator(group, { words, flags: values }, print);
    default:
      throw new UsageError(positionals.length === 0 ? 'a command is needed' : `unknown command: ${positionals.join(' ')}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`vidgate: ${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else if (error instanceof GatewayError) {
    process.stderr.write(`vidgate: ${error.message}${error.param ? ` (${error.param})` : ''}${error.code ? ` [${error.code}]` : ''}\n`);
    process.exitCode = error.status >= 400 && error.status < 500 ? 3 : 4;
  } else if (error instanceof TaskUnfinished || error instanceof NoDatabase) {
    process.stderr.write(`vidgate: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    // A domain refusal (no such key, an unmetered key) or a bad config is the operator's to read, as a line.
    process.stderr.write(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
