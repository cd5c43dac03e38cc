import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { CachedTable } from './read-cache.ts';

/** How long to wait before listening again after the connection was lost. */
const RECONNECT_MS = 1000;

/** The channel a schema's changes are announced on (migrations 0012, 0013; change-notices.ts): a channel name has at most 63 bytes. */
export const changeChannel = (schema: string): string => `vidgate_${schema}`.slice(0, 63);

export interface ChangeHandlers {
  /** A row of `table` was changed or deleted, and committed. */
  changed(table: CachedTable, id: string): void;
  /** Changes may have been missed (not listening for a while): whatever was kept may be old. */
  missed(): void;
}

/**
 * One connection that LISTENs for a schema's change notices (migration 0013, change-notices.ts). `listening`
 * is true only while that connection is up and subscribed: a read cache must not answer
 * from memory otherwise. A lost connection is made again every second, for as long as the
 * process runs; every (re)subscription is a gap, so the handlers hear `missed` first.
 */
export class ChangeListener {
  #client: pg.Client | null = null;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    /** How to connect: the pool's settings, its time limits too, so that a silent server is given up. */
    private readonly connection: pg.ClientConfig,
    /** How long closing waits for the server's goodbye. */
    private readonly timeoutMs: number,
    private readonly schema: string,
    private readonly handlers: ChangeHandlers,
  ) {}

  get listening(): boolean {
    return this.#client !== null;
  }

  /** Resolves once listening, or once the first try failed (the cache then waits for a later one). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.connection);
    let lost = false;
    const lose = () => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = null;
      this.handlers.missed();
      client.end().catch(() => undefined);
      if (!this.#closed) this.#retry = setTimeout(() => void this.#connect(), RECONNECT_MS);
    };
    client.on('error', lose);
    client.on('end', lose);
    // A notice names one changed row (the trigger), or several, a line each (change-notices.ts).
    client.on('notification', ({ payload }) => {
      for (const line of (payload ?? '').split('\n')) {
        const [table, id] = line.split(' ');
        if ((table === 'tasks' || table === 'api_keys') && id) this.handlers.changed(table, id);
        // Anything else is not ours to read: drop everything rather than guess.
        else this.handlers.missed();
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${changeChannel(this.schema)}"`);
    } catch {
      lose();
      return;
    }
    if (this.#closed || lost) {
      await client.end().catch(() => undefined);
      return;
    }
    this.handlers.missed();
    this.#client = client;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    // A silent server never says goodbye.
    if (client) await Promise.race([client.end().catch(() => undefined), delay(this.timeoutMs, undefined, { ref: false })]);
  }
}
