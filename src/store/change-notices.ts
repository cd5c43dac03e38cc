import type pg from 'pg';
import { changeChannel } from './change-listener.ts';
import type { CachedTable } from './read-cache.ts';

/**
 * The application_name of the gateway's own database connections: the change trigger
 * (migration 0013) leaves their changes to ChangeNotices, and announces everyone else's.
 */
export const GATEWAY_APPLICATION_NAME = 'vidgate';

/** A notice's payload is at most 8000 bytes: lines of `table id` (ids are ASCII) up to this many go in one. */
const PAYLOAD_BYTES = 7900;

/**
 * Announces the rows this process changed, once their change has committed, to every
 * process's read cache (change-listener.ts). A NOTIFY inside the writing transaction would
 * hold PostgreSQL's one notify lock through that transaction's commit, so that all writers
 * commit one at a time (migration 0013); sent here, from a transaction that writes nothing,
 * the lock is held for a moment. The changes told during one turn of the event loop go in
 * one notice. The write that made a change answers only once its notice is sent (`changed`
 * resolves then): a client that asks another process next finds the notice ahead of it, not
 * on its way. A notice lost (a broken connection, a crash after the commit) leaves another
 * process a row at most its cache's age limit old (postgres.ts).
 */
export class ChangeNotices {
  #pending = new Set<string>();
  /** Settles once the pending changes' notice is sent (or failed to be); null when nothing is pending. */
  #sent: { promise: Promise<void>; resolve: () => void } | null = null;
  readonly #sending = new Set<Promise<void>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  /** Call once the change is committed; resolves once its notice is sent, or failed to be (never rejects). */
  changed(table: CachedTable, id: string): Promise<void> {
    this.#pending.add(`${table} ${id}`);
    if (this.#sent === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.#sent = { promise, resolve };
      setImmediate(() => this.#send());
    }
    return this.#sent.promise;
  }

  /** Sends what is pending and waits for every notice on its way: before the pool closes. */
  async flush(): Promise<void> {
    this.#send();
    await Promise.all(this.#sending);
  }

  #send(): void {
    const sent = this.#sent;
    this.#sent = null;
    if (sent === null || this.#pending.size === 0) return;
    const lines = [...this.#pending];
    this.#pending.clear();
    const payloads: string[] = [];
    let payload = '';
    for (const line of lines) {
      if (payload && payload.length + 1 + line.length > PAYLOAD_BYTES) {
        payloads.push(payload);
        payload = '';
      }
      payload = payload ? `${payload}\n${line}` : line;
    }
    payloads.push(payload);
    const channel = changeChannel(this.schema);
    const sending: Promise<void> = Promise.all(payloads.map((one) => this.pool.query('SELECT pg_notify($1, $2)', [channel, one]))).then(
      () => undefined,
      () => undefined,
    );
    this.#sending.add(sending);
    void sending.finally(() => {
      this.#sending.delete(sending);
      sent.resolve();
    });
  }
}
