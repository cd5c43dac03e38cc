import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { databaseEnv, dropSchemaOf } from './database.ts';
import { storageEnv } from './s3.ts';
import { retryUntil } from './wait.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface RunningGateway {
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** Log lines seen so far (JSON strings). */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `src/main.ts` as a real process on a free port; resolves once it listens. A start
 * that fails leaves nothing running, nor the data folder (and schema) it made itself.
 * `logs`: where its log lines go, to be read while it is still starting.
 */
export async function startGateway(env: Record<string, string> = {}, given?: string, logs: string[] = []): Promise<RunningGateway> {
  const dataDir = given ?? mkdtempSync(path.join(os.tmpdir(), 'vidgate-test-'));
  try {
    return await startIn(dataDir, env, logs);
  } catch (error) {
    if (given === undefined) removeDataDir(dataDir);
    throw error;
  }
}

async function startIn(dataDir: string, env: Record<string, string>, logs: string[]): Promise<RunningGateway> {
  // GATEWAY_NODE_ARGS: extra node flags for the gateway, e.g. `--cpu-prof` when profiling a benchmark.
  const nodeArgs = process.env.GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_KEY, LOG_LEVEL: 'info', ...databaseEnv(dataDir), ...(await storageEnv(dataDir)), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start in time\n${stderr}`));
    }, 30_000);
    lines.on('line', (line) => {
      logs.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string | null };
      if (entry.msg === 'vidgate started') {
        clearTimeout(timer);
        resolve(entry.url ?? '');
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}\n${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    dataDir,
    process: child,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
  dropSchemaOf(dataDir);
}

/** A small client for the gateway's HTTP API. */
export class Client {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  request(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${this.key}`, ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    return fetch(`${this.base}${route}`, init);
  }

  // Tests read answers field by field; `any` keeps them short, and assertions check the values.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async json<T = Record<string, any>>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }> {
    const response = await this.request(method, route, body, headers);
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
  }

  /** Polls until the task leaves queued/in_progress. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async waitFor(id: string, timeoutMs = 60_000): Promise<Record<string, any>> {
    const poll = async () => (await this.json('GET', `/v1/videos/${id}`)).body;
    return retryUntil(poll, (body) => !['queued', 'in_progress'].includes(body.status), `task ${id} to leave queued/in_progress`, timeoutMs, 150);
  }
}

/** Issues a fresh API key through the admin API. */
export async function newClient(gateway: { url: string }, name = 'test'): Promise<Client> {
  const response = await fetch(`${gateway.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (response.status !== 201) throw new Error(`creating a key failed: ${response.status} ${await response.text()}`);
  const { key } = (await response.json()) as { key: string };
  return new Client(gateway.url, key);
}

/** One gateway and one client key for a whole test file, started before its tests and removed after. */
export function gatewayPerFile(env: Record<string, string> = {}): { gateway: RunningGateway; client: Client } {
  const shared = {} as { gateway: RunningGateway; client: Client };
  before(async () => {
    shared.gateway = await startGateway(env);
    shared.client = await newClient(shared.gateway);
  });
  after(async () => {
    await shared.gateway.stop();
    removeDataDir(shared.gateway.dataDir);
  });
  return shared;
}
