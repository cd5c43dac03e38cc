import { type ExpressionBuilder, type Kysely, type RawBuilder, sql } from 'kysely';
import type { ApiKeyTable, ChargeTable, Database, KeyLimits, KeyMode, LedgerKind, TaskRow } from './schema.ts';
import { isPostgres } from './dialect.ts';
import { prepare, prepareRows, type PreparedQuery } from './prepared.ts';

/**
 * Every statement the gateway runs, in one place. Written once with the query builder;
 * each dialect (sqlite.ts, later postgres) compiles them with its own SQL flavour.
 */
export const TASK_COLUMNS = [
  'id', 'key_id', 'model', 'status', 'progress', 'job', 'prompt', 'seconds', 'size',
  'remixed_from_video_id', 'warnings', 'provider', 'operation', 'submit_started_at', 'usage', 'error_code', 'error_message',
  'created_at', 'updated_at', 'started_at', 'completed_at', 'expires_at', 'run_after', 'attempts',
  'claims', 'lease_owner', 'lease_expires_at', 'video_key', 'video_size', 'price', 'hold', 'cost', 'mode', 'request_id', 'callback_url',
] as const satisfies readonly (keyof TaskRow)[];

const ACTIVE = ['queued', 'in_progress'] as const;

const ACTIVE_KEY_COLUMNS = [
  'id', 'name', 'key_hash', 'key_prefix', 'created_at', 'revoked_at', 'mode', 'limit_rpm', 'limit_in_flight', 'limit_daily_spend', 'webhook_secret',
] as const satisfies readonly Exclude<keyof ApiKeyTable, 'balance'>[];
// Every column but the balance: a column added to the table and left out here fails to compile.
const _everyKeyColumn: [Exclude<keyof ApiKeyTable, 'balance' | (typeof ACTIVE_KEY_COLUMNS)[number]>] extends [never] ? true : never = true;

/** The most rows one multi-row statement writes (an insert's 35 values each: well inside both databases' bound on a statement's values). */
export const MAX_ROWS = 64;

/** One entry of a key's ledger, as written: `balance` is the key's balance after it. */
export type LedgerEntry = { keyId: string; taskId: string | null; kind: LedgerKind; amount: number; balance: number; now: number; note: string | null };
const LEDGER_COLUMNS = ['key_id', 'task_id', 'kind', 'amount', 'balance', 'created_at', 'note'] as const;

/** A check's outcome for one task (Store.checked). */
export type CheckedRow = { id: string; owner: string; progress: number; updatedAt: number; runAfter: number };
const CHECKED_FIELDS = ['id', 'owner', 'progress', 'updatedAt', 'runAfter'] as const satisfies readonly (keyof CheckedRow)[];

/** One lease to renew (Store.renewLeases): every row of a statement names the same owner and expiry. */
export type LeaseRow = { id: string; owner: string; leaseUntil: number };
const LEASE_FIELDS = ['id', 'owner', 'leaseUntil'] as const satisfies readonly (keyof LeaseRow)[];

/** A page of a key's tasks: after the cursor task, optionally only one status and one model (null: any). */
type Cursor = { keyId: string; createdAt: number; id: string; limit: number; status: string | null; model: string | null };
type Claim = { owner: string; now: number; leaseUntil: number; limit: number };

/** The channel name of tasks the preview renderer makes: they run as one long step, upstream tasks as short ones. */
export const LOCAL_CHANNEL = 'local';

export function buildQueries(db: Kysely<Database>) {
  /** A statement over 1 to MAX_ROWS rows: one statement per number of rows, prepared when first needed. */
  const perCount = <R extends object>(name: string, build: (count: number) => PreparedQuery<R[]>) => {
    const made = new Map<number, PreparedQuery<R[]>>();
    return (count: number) => {
      if (!Number.isInteger(count) || count < 1 || count > MAX_ROWS) throw new Error(`${name}: ${count} rows, not 1 to ${MAX_ROWS}`);
      let query = made.get(count);
      if (!query) made.set(count, (query = build(count)));
      return query;
    };
  };
  /**
   * A statement over many rows of `table` (a group of creates, their holds), built by
   * `statement` around a row source `r` with the table's `columns`. PostgreSQL reads the
   * rows from one JSON parameter, typed by the table itself, which costs its client half the
   * CPU of binding 35 values a row (measured: 15 against 30 µs a task). SQLite
   * reads JSON four times slower than bound VALUES, so it binds those, one statement per
   * number of rows. `toRow` names a row's values by their columns, where its fields differ.
   */
  function manyRows<R extends object>(
    table: 'tasks' | 'ledger',
    columns: readonly string[],
    toRow: ((row: R) => Record<string, unknown>) | null,
    statement: (rows: RawBuilder<unknown>) => RawBuilder<unknown>,
  ): (count: number) => PreparedQuery<R[]> {
    const compiled = (query: RawBuilder<unknown>) => ({ compile: () => query.compile(db) });
    if (isPostgres(db)) {
      const query = prepare((p: { rows: string }) => compiled(statement(sql`json_populate_recordset(null::${sql.table(table)}, ${p.rows}::json)`)));
      const asJson: PreparedQuery<R[]> = { sql: query.sql, bind: (rows) => query.bind({ rows: JSON.stringify(toRow ? rows.map(toRow) : rows) }) };
      return () => asJson;
    }
    return perCount(`${table} rows`, (count) => {
      const query = prepareRows(
        (rows: Record<string, unknown>[]) => {
          const values = sql.join(rows.map((row) => sql`(${sql.join(columns.map((column) => row[column]))})`));
          const named = sql.join(columns.map((column, index) => sql`${sql.ref(`column${index + 1}`)} as ${sql.ref(column)}`));
          return compiled(statement(sql`(select ${named} from (values ${values}))`));
        },
        columns,
        count,
      );
      return { sql: query.sql, bind: (rows: R[]) => query.bind(toRow ? rows.map(toRow) : (rows as Record<string, unknown>[])) };
    });
  }
  const taskColumns = sql.join(TASK_COLUMNS.map((column) => sql.ref(column)));
  const ledgerColumns = sql.join(LEDGER_COLUMNS.map((column) => sql.ref(column)));
  const ledgerValues = (p: LedgerEntry) => ({ key_id: p.keyId, task_id: p.taskId, kind: p.kind, amount: p.amount, balance: p.balance, created_at: p.now, note: p.note });
  const insertLedgers = manyRows('ledger', LEDGER_COLUMNS, ledgerValues, (rows) => sql`insert into "ledger" (${ledgerColumns}) select ${ledgerColumns} from ${rows} as r`);
  const insertTasks = manyRows<TaskRow>('tasks', TASK_COLUMNS, null, (rows) => sql`insert into "tasks" (${taskColumns}) select ${taskColumns} from ${rows} as r`);
  /**
   * Most creates — those of keys without limits — saved in one statement that commits as it
   * runs: on PostgreSQL one round trip for a group of them, where a transaction takes four or
   * six. It returns the ids it saved; the rest are left for insertTask's transaction, which
   * counts a limited key's tasks, or refuses a hold its balance does not cover.
   *
   * On PostgreSQL it takes the holds too: each metered key's group total comes off its
   * balance when the balance covers all of it, and each hold is written in the ledger with
   * the balance after it, in the order given (as one by one would have). The keys it debits
   * are locked in id order first, so that two groups meet in one order and never deadlock;
   * a debit waits for the other's commit and sees its balance. SQLite has no writing CTE:
   * there a held task is left for insertTask, whose transaction waits on no round trip.
   */
  const insertUnlimitedTasks = manyRows<TaskRow>('tasks', TASK_COLUMNS, null, (rows) => {
    const unlimited = sql`exists (select 1 from "api_keys" as k where k.id = r.key_id and k.revoked_at is null and k.limit_in_flight is null and k.limit_daily_spend is null)`;
    if (!isPostgres(db)) {
      return sql`insert into "tasks" (${taskColumns}) select ${taskColumns} from ${rows} as r where r.hold is null and ${unlimited} returning "id"`;
    }
    return sql`with given as (select * from ${rows} with ordinality),
      held as (select key_id, sum(hold) as total from given where hold is not null group by key_id),
      locked as (select k.id from "api_keys" as k where k.id in (select key_id from held) order by k.id for update),
      debited as (
        update "api_keys" as k set "balance" = k.balance - h.total from held as h
        where k.id = h.key_id and k.id in (select id from locked) and k.balance >= h.total and k.revoked_at is null and k.limit_in_flight is null and k.limit_daily_spend is null
        returning k.id, k.balance + h.total as opening
      ),
      holds as (
        insert into "ledger" (${ledgerColumns})
        select g.key_id, g.id, 'hold', -g.hold, d.opening - sum(g.hold) over (partition by g.key_id order by g.ordinality), g.created_at, null
        from given as g join debited as d on d.id = g.key_id
        order by g.ordinality
      )
      insert into "tasks" (${taskColumns}) select ${taskColumns} from given as r
      where (r.hold is null and ${unlimited}) or (r.hold is not null and r.key_id in (select id from debited))
      returning "id"`;
  });
  /**
   * The outcomes of checks of upstream tasks (as `checked`), each under its own lease, in one
   * statement: the ids of the tasks it wrote. The rows come in as VALUES, their columns named
   * by a subquery (SQLite cannot name them in an alias), their types cast (PostgreSQL reads
   * an untyped parameter there as text). The ids are distinct: a task's check holds its lease.
   */
  const checkedTasks = perCount('checkedTasks', (count) =>
    prepareRows(
      (rows: CheckedRow[]) => {
        const values = sql.join(
          rows.map((row) => sql`(${row.id}, ${row.owner}, CAST(${row.progress} AS integer), CAST(${row.updatedAt} AS bigint), CAST(${row.runAfter} AS bigint))`),
        );
        const query = sql`update "tasks" set "progress" = v.progress, "updated_at" = v.updated_at, "run_after" = v.run_after, "lease_owner" = null, "lease_expires_at" = null,
          "claims" = "claims" - case when "tasks"."status" = 'in_progress' then 1 else 0 end
          from (select column1 as id, column2 as owner, column3 as progress, column4 as updated_at, column5 as run_after from (values ${values}) as given) as v
          where "tasks"."id" = v.id and "tasks"."lease_owner" = v.owner and "tasks"."status" in ('queued', 'in_progress')
          returning "tasks"."id"`;
        return { compile: () => query.compile(db) };
      },
      CHECKED_FIELDS,
      count,
    ),
  );
  /** Unrevoked keys as ActiveKey (store.ts) has them: no balance, and whether there is one (1 or 0: SQLite has no boolean). */
  const activeKeys = () =>
    db
      .selectFrom('api_keys')
      .select(ACTIVE_KEY_COLUMNS)
      .select(sql<number>`case when "balance" is null then 0 else 1 end`.as('metered'))
      .where('revoked_at', 'is', null);
  const ownTasks = (p: { keyId: string }) => db.selectFrom('tasks').selectAll().where('key_id', '=', p.keyId);
  /** One page of a key's tasks in (created_at, id) order, optionally after a cursor task. */
  const page = (order: 'asc' | 'desc', afterCursor: boolean) =>
    prepare((p: Cursor) => {
      const beyond = order === 'desc' ? '<' : '>';
      const query = afterCursor
        ? ownTasks(p).where((eb) =>
            eb.or([eb('created_at', beyond, p.createdAt), eb.and([eb('created_at', '=', p.createdAt), eb('id', beyond, p.id)])]),
          )
        : ownTasks(p);
      return query
        .where(sql<boolean>`(CAST(${p.status} AS text) IS NULL OR status = ${p.status})`)
        .where(sql<boolean>`(CAST(${p.model} AS text) IS NULL OR model = ${p.model})`)
        .orderBy('created_at', order)
        .orderBy('id', order)
        .limit(p.limit);
    });
  /**
   * 1 while the task is in_progress, else 0. A claim counts towards `claims` only while the
   * task runs: a task claimed but still waiting for a render slot when its worker dies was
   * not what brought it down.
   */
  const running = (eb: ExpressionBuilder<Database, 'tasks'>) => eb.case().when('status', '=', 'in_progress').then(sql.lit(1)).else(sql.lit(0)).end();
  /** A running task under this owner's lease: a cancelled task refuses every runner write. */
  const held = (p: { id: string; owner: string }) =>
    db.updateTable('tasks').where('id', '=', p.id).where('lease_owner', '=', p.owner).where('status', 'in', ACTIVE);
  const unleased = (eb: ExpressionBuilder<Database, 'tasks'>, now: number) =>
    eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]);
  const postgres = isPostgres(db);
  const claim = (local: boolean) =>
    prepare((p: Claim) => {
      const due = db
        .selectFrom('tasks')
        .select('id')
        // Literals, not parameters: SQLite uses a partial index (tasks_due_local/_upstream)
        // only when the query's terms match its WHERE as written.
        .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
        .where('provider', local ? '=' : '<>', sql.lit(LOCAL_CHANNEL))
        .where('run_after', '<=', p.now)
        .where((eb) => unleased(eb, p.now))
        .orderBy('run_after')
        .limit(p.limit);
      // A runner whose own lease ran out before its heartbeat renewed it takes the task again
      // and goes on with the run it holds (runner.ts): that run is counted already.
      const newRun = (eb: ExpressionBuilder<Database, 'tasks'>) =>
        eb.case().when(eb.and([eb('status', '=', 'in_progress'), eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '<>', p.owner)])])).then(sql.lit(1)).else(sql.lit(0)).end();
      return (
        db
          .updateTable('tasks')
          .set((eb) => ({ lease_owner: p.owner, lease_expires_at: p.leaseUntil, claims: eb('claims', '+', newRun(eb)) }))
          // PostgreSQL: workers claiming at once skip each other's rows instead of queueing on
          // them (SQLite has one writer at a time, and no such clause).
          .where('id', 'in', postgres ? due.forUpdate().skipLocked() : due)
          .where((eb) => unleased(eb, p.now))
          .returningAll()
      );
    });

  /** Live tasks that ended in [from, to), per key, model or day; `keyId` null: every key. */
  const usage = (column: 'key_id' | 'model' | 'day') =>
    prepare((p: { from: number; to: number; keyId: string | null }) =>
      db
        .selectFrom('charges')
        .select((eb) => [
          `${column} as group`,
          eb.fn.countAll<number>().as('tasks'),
          eb.fn.sum<number>(eb.case().when('status', '=', 'completed').then(sql.lit(1)).else(sql.lit(0)).end()).as('completed'),
          eb.fn.sum<number>('cost').as('revenue'),
          eb.fn.sum<number | null>('upstream_cost').as('upstream_cost'),
        ])
        .where('mode', '=', 'live')
        .where('created_at', '>=', p.from)
        .where('created_at', '<', p.to)
        // Cast: PostgreSQL must know a parameter's type, and `$1 IS NULL` alone does not tell it.
        .where((eb) => eb.or([eb(eb.cast(eb.val(p.keyId), 'text'), 'is', null), eb('key_id', '=', p.keyId)]))
        .groupBy(column)
        .orderBy(column),
    );

  return {
    insertKey: prepare(
      (p: { id: string; name: string; hash: string; prefix: string; now: number; balance: number | null; mode: KeyMode } & KeyLimits) =>
        db.insertInto('api_keys').values({
          id: p.id, name: p.name, key_hash: p.hash, key_prefix: p.prefix, created_at: p.now, balance: p.balance, mode: p.mode,
          limit_rpm: p.limit_rpm, limit_in_flight: p.limit_in_flight, limit_daily_spend: p.limit_daily_spend,
        }),
    ),
    keyById: prepare((p: { id: string }) => db.selectFrom('api_keys').selectAll().where('id', '=', p.id)),

    /** Takes an amount off a metered balance that covers it; answers the new balance, or nothing. */
    debit: prepare((p: { keyId: string; amount: number }) =>
      db
        .updateTable('api_keys')
        .set((eb) => ({ balance: eb('balance', '-', p.amount) }))
        .where('id', '=', p.keyId)
        .where('balance', '>=', p.amount)
        .returning('balance'),
    ),
    /** Adds an amount to a metered balance; answers the new balance, or nothing for an unmetered key. */
    credit: prepare((p: { keyId: string; amount: number }) =>
      db
        .updateTable('api_keys')
        .set((eb) => ({ balance: eb('balance', '+', p.amount) }))
        .where('id', '=', p.keyId)
        .where('balance', 'is not', null)
        .returning('balance'),
    ),
    insertLedger: prepare((p: LedgerEntry) => db.insertInto('ledger').values(ledgerValues(p))),
    insertLedgers,
    /** Metered keys whose balance is not the sum of their ledger entries, or is below zero. */
    balanceMismatches: prepare((_: object) =>
      db
        .selectFrom('api_keys')
        .leftJoin('ledger', 'ledger.key_id', 'api_keys.id')
        .select((eb) => ['api_keys.id as key_id', 'api_keys.balance as balance', eb.fn.coalesce(eb.fn.sum<number>('ledger.amount'), eb.lit(0)).as('total')])
        .where('api_keys.balance', 'is not', null)
        .groupBy('api_keys.id')
        .having((eb) => eb.or([eb('api_keys.balance', '<', 0), eb('api_keys.balance', '<>', eb.fn.coalesce(eb.fn.sum<number>('ledger.amount'), eb.lit(0)))])),
    ),
    negativeEntries: prepare((_: object) => db.selectFrom('ledger').select(['id', 'key_id', 'balance']).where('balance', '<', 0)),
    /**
     * Holds and their ends, per task: an ended (or deleted) task must have exactly one
     * capture or release for its hold, a running one none, and no capture may exceed its hold.
     */
    holdsAndEnds: prepare((_: object) =>
      db
        .selectFrom('ledger as hold')
        .leftJoin('tasks', 'tasks.id', 'hold.task_id')
        .select((eb) => [
          'hold.task_id as task_id',
          'hold.amount as held',
          'tasks.status as status',
          'tasks.hold as task_hold',
          eb.selectFrom('ledger as end').select((inner) => inner.fn.countAll<number>().as('n')).whereRef('end.task_id', '=', 'hold.task_id').where('end.kind', 'in', ['capture', 'release']).as('ends'),
          eb.selectFrom('ledger as end').select((inner) => inner.fn.coalesce(inner.fn.sum<number>('end.amount'), inner.lit(0)).as('s')).whereRef('end.task_id', '=', 'hold.task_id').where('end.kind', 'in', ['capture', 'release']).as('given_back'),
        ])
        .where('hold.kind', '=', 'hold'),
    ),
    /** Tasks that say they hold an amount with no hold entry in the ledger. */
    holdsMissing: prepare((_: object) =>
      db
        .selectFrom('tasks')
        .select(['id', 'hold'])
        .where('hold', 'is not', null)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('ledger').select('ledger.id').whereRef('ledger.task_id', '=', 'tasks.id').where('ledger.kind', '=', 'hold')))),
    ),
    /** A key's unfinished tasks. */
    inFlight: prepare((p: { keyId: string }) =>
      db
        .selectFrom('tasks')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('key_id', '=', p.keyId)
        .where('status', 'in', ACTIVE.map((status) => sql.lit(status))),
    ),
    /** What a key's live tasks cost since `since`: billed when they ended, quoted while they run. */
    spentSince: prepare((p: { keyId: string; since: number }) =>
      db
        .selectNoFrom((eb) => [
          eb.selectFrom('charges').select((inner) => inner.fn.coalesce(inner.fn.sum<number>('cost'), inner.lit(0)).as('s')).where('key_id', '=', p.keyId).where('created_at', '>=', p.since).as('billed'),
          eb
            .selectFrom('tasks')
            .select((inner) => inner.fn.coalesce(inner.fn.sum<number>('price'), inner.lit(0)).as('s'))
            .where('key_id', '=', p.keyId)
            .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
            .where('mode', '=', 'live')
            .as('quoted'),
        ]),
    ),
    insertCharge: prepare((p: ChargeTable) => db.insertInto('charges').values(p), ['task_id', 'key_id', 'model', 'mode', 'status', 'cost', 'upstream_cost', 'created_at', 'day']),
    usageByKey: usage('key_id'),
    usageByModel: usage('model'),
    usageByDay: usage('day'),
    ledgerPage: prepare((p: { keyId: string; after: number; limit: number }) =>
      db.selectFrom('ledger').selectAll().where('key_id', '=', p.keyId).where('id', '>', p.after).orderBy('id').limit(p.limit),
    ),
    activeKeyByHash: prepare((p: { hash: string }) => activeKeys().where('key_hash', '=', p.hash)),
    activeKeyById: prepare((p: { id: string }) => activeKeys().where('id', '=', p.id)),
    listKeys: prepare((_: object) => db.selectFrom('api_keys').selectAll().orderBy('created_at', 'asc').orderBy('id', 'asc')),
    revokeKey: prepare((p: { id: string; now: number }) =>
      db.updateTable('api_keys').set({ revoked_at: p.now }).where('id', '=', p.id).where('revoked_at', 'is', null),
    ),

    insertTask: prepare((p: TaskRow) => db.insertInto('tasks').values(p), TASK_COLUMNS),
    insertTasks,
    insertUnlimitedTasks,
    /** Whether insertUnlimitedTasks takes held tasks too (PostgreSQL); else they go straight to insertTask. */
    unlimitedTakesHolds: isPostgres(db),
    checkedTasks,
    taskById: prepare((p: { id: string }) => db.selectFrom('tasks').selectAll().where('id', '=', p.id)),
    newestFirst: page('desc', false),
    newestFirstAfter: page('desc', true),
    oldestFirst: page('asc', false),
    oldestFirstAfter: page('asc', true),
    /** An upstream callback: look at the task now instead of at its next scheduled check. */
    checkNow: prepare((p: { id: string; now: number }) =>
      db.updateTable('tasks').set({ run_after: p.now }).where('id', '=', p.id).where('status', '=', 'in_progress').where('run_after', '>', p.now),
    ),

    /** Takes due, unleased tasks of one lane; the runner owns them until lease_expires_at unless it renews. */
    claimLocal: claim(true),
    claimUpstream: claim(false),
    /** The leases of one owner on these tasks, renewed: the ids it still held (one handed back, taken over or ended is not). */
    renewLeases: perCount('renewLeases', (count) =>
      prepareRows(
        (rows: LeaseRow[]) =>
          db
            .updateTable('tasks')
            .set({ lease_expires_at: rows[0]!.leaseUntil })
            .where('lease_owner', '=', rows[0]!.owner)
            .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
            .where('id', 'in', rows.map((row) => row.id))
            .returning('id'),
        LEASE_FIELDS,
        count,
      ),
    ),
    /** The task runs from now on, so this claim counts (the claim counted none while it was queued). */
    markStarted: prepare((p: { id: string; owner: string; operation: string; now: number }) =>
      held(p).set((eb) => ({
        status: 'in_progress',
        operation: p.operation,
        updated_at: p.now,
        started_at: p.now,
        claims: eb('claims', '+', eb.case().when('status', '=', 'queued').then(sql.lit(1)).else(sql.lit(0)).end()),
      })),
    ),
    /** A submission to an upstream begins: from this commit on, a crash leaves its outcome unknown. */
    markSubmitting: prepare((p: { id: string; owner: string; provider: string; now: number }) =>
      held(p).set({ submit_started_at: p.now, provider: p.provider, updated_at: p.now }),
    ),
    /** The upstream accepted the task: it runs from now on, checked first at runAfter, and the lease is handed back. */
    submitted: prepare((p: { id: string; owner: string; provider: string; operation: string; now: number; runAfter: number }) =>
      held(p).set((eb) => ({
        status: 'in_progress',
        provider: p.provider,
        operation: p.operation,
        updated_at: p.now,
        started_at: p.now,
        run_after: p.runAfter,
        lease_owner: null,
        lease_expires_at: null,
        claims: eb('claims', '-', running(eb)),
      })),
    ),
    /** A check found the task still going: note its progress, hand it back until the next check. */
    checked: prepare((p: { id: string; owner: string; progress: number; updatedAt: number; runAfter: number }) =>
      held(p).set((eb) => ({
        progress: p.progress,
        updated_at: p.updatedAt,
        run_after: p.runAfter,
        lease_owner: null,
        lease_expires_at: null,
        claims: eb('claims', '-', running(eb)),
      })),
    ),
    setProgress: prepare((p: { id: string; owner: string; progress: number; now: number }) =>
      held(p).set({ progress: p.progress, updated_at: p.now }),
    ),
    settleCompleted: prepare(
      (p: { id: string; owner: string; now: number; expiresAt: number; videoKey: string; videoSize: number; seconds: string; size: string; usage: string | null; cost: number }) =>
        held(p).set({
          status: 'completed',
          progress: 100,
          completed_at: p.now,
          updated_at: p.now,
          expires_at: p.expiresAt,
          video_key: p.videoKey,
          video_size: p.videoSize,
          seconds: p.seconds,
          size: p.size,
          usage: p.usage,
          cost: p.cost,
          lease_owner: null,
          lease_expires_at: null,
        }).returningAll(),
    ),
    settleFailed: prepare((p: { id: string; owner: string; now: number; code: string; message: string }) =>
      held(p).set({
        status: 'failed',
        progress: 100,
        error_code: p.code,
        error_message: p.message,
        completed_at: p.now,
        updated_at: p.now,
        cost: 0,
        lease_owner: null,
        lease_expires_at: null,
      }).returningAll(),
    ),
    settleCancelled: prepare((p: { id: string; keyId: string; now: number }) =>
      db
        .updateTable('tasks')
        .set({ status: 'cancelled', updated_at: p.now, completed_at: p.now, cost: 0, lease_owner: null, lease_expires_at: null })
        .where('id', '=', p.id)
        .where('key_id', '=', p.keyId)
        .where('status', 'in', ACTIVE)
        .returningAll(),
    ),
    settleDeleted: prepare((p: { id: string; keyId: string }) =>
      db.deleteFrom('tasks').where('id', '=', p.id).where('key_id', '=', p.keyId).returningAll(),
    ),
    /** A completed video past expires_at whose file is still kept: the file is gone from now on. */
    settleExpired: prepare((p: { id: string; now: number }) =>
      db
        .updateTable('tasks')
        .set({ video_key: null, updated_at: p.now })
        .where('id', '=', p.id)
        .where('status', '=', 'completed')
        .where('expires_at', '<', p.now)
        .where('video_key', 'is not', null)
        .returningAll(),
    ),
    /** Lets go of a task so that any runner may take it again from runAfter on; the claim is handed back, so it does not count as lost. */
    release: prepare((p: { id: string; owner: string; runAfter: number }) =>
      held(p).set((eb) => ({ lease_owner: null, lease_expires_at: null, run_after: p.runAfter, claims: eb('claims', '-', running(eb)) })),
    ),
    /**
     * As release, after a step failed: one more failed attempt. The submission mark stays as
     * the row has it (a submit may have begun since the task was read); `retryUnsent`
     * clears it, when the submit surely made nothing.
     */
    retry: prepare((p: { id: string; owner: string; runAfter: number }) =>
      held(p).set((eb) => ({ lease_owner: null, lease_expires_at: null, run_after: p.runAfter, claims: eb('claims', '-', running(eb)), attempts: eb('attempts', '+', 1) })),
    ),
    retryUnsent: prepare((p: { id: string; owner: string; runAfter: number }) =>
      held(p).set((eb) => ({
        submit_started_at: null,
        lease_owner: null,
        lease_expires_at: null,
        run_after: p.runAfter,
        claims: eb('claims', '-', running(eb)),
        attempts: eb('attempts', '+', 1),
      })),
    ),

    /**
     * Claims an Idempotency-Key for a task, or takes over a claim that binds nothing any
     * more: one older than `staleBefore`, or one whose task is gone (its video was deleted,
     * or an older version crashed between claiming and saving the task).
     */
    claimIdempotencyKey: prepare(
      (p: { keyId: string; key: string; hash: string; taskId: string; now: number; staleBefore: number }) =>
        db
          .insertInto('idempotency_keys')
          .values({ key_id: p.keyId, idempotency_key: p.key, request_hash: p.hash, task_id: p.taskId, created_at: p.now })
          .onConflict((oc) =>
            oc
              .columns(['key_id', 'idempotency_key'])
              .doUpdateSet({ request_hash: p.hash, task_id: p.taskId, created_at: p.now })
              .where((eb) =>
                eb.or([
                  eb('idempotency_keys.created_at', '<', p.staleBefore),
                  eb.not(eb.exists(eb.selectFrom('tasks').select('tasks.id').whereRef('tasks.id', '=', 'idempotency_keys.task_id'))),
                ]),
              ),
          ),
    ),
    idempotencyKey: prepare((p: { keyId: string; key: string }) =>
      db.selectFrom('idempotency_keys').selectAll().where('key_id', '=', p.keyId).where('idempotency_key', '=', p.key),
    ),

    /** Unfinished tasks per channel (`local` included), for the operator's channel page. */
    unfinishedByProvider: prepare((_: Record<string, never>) =>
      db
        .selectFrom('tasks')
        .select((eb) => ['provider', eb.fn.countAll<number>().as('tasks')])
        .where('status', 'in', ['queued', 'in_progress'])
        .groupBy('provider'),
    ),
    /** The metrics' view of the tasks: unfinished ones by model and status. */
    unfinishedByModel: prepare((_: Record<string, never>) =>
      db
        .selectFrom('tasks')
        .select((eb) => ['model', 'status', eb.fn.countAll<number>().as('tasks')])
        .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
        .groupBy(['model', 'status']),
    ),
    /** Due and unleased tasks per lane, with the earliest due time. */
    dueByLane: prepare((p: { now: number }) =>
      db
        .selectFrom('tasks')
        .select((eb) => [
          eb.case().when('provider', '=', sql.lit(LOCAL_CHANNEL)).then(sql.lit('local')).else(sql.lit('upstream')).end().as('lane'),
          eb.fn.countAll<number>().as('tasks'),
          eb.fn.min('run_after').as('oldest'),
        ])
        .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
        .where('run_after', '<=', p.now)
        .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', p.now)]))
        .groupBy('lane'),
    ),
    /**
     * Bytes kept, and money held by unfinished tasks: two filtered sums, each read from a
     * partial index (tasks_kept_bytes, tasks_active_by_key), so that a scrape costs what is
     * kept and unfinished, not the whole history (one pass over every task took 0.2 s at a
     * million tasks, at every scrape of every process).
     */
    keptAndHeld: prepare((_: Record<string, never>) =>
      db.selectNoFrom((eb) => [
        eb.selectFrom('tasks').select((sub) => sub.fn.sum<number | null>('video_size').as('bytes')).where('video_key', 'is not', null).as('bytes'),
        eb
          .selectFrom('tasks')
          .select((sub) => sub.fn.sum<number | null>('hold').as('held'))
          .where('status', 'in', ACTIVE.map((status) => sql.lit(status)))
          .as('held'),
      ]),
    ),
    captured: prepare((_: Record<string, never>) => db.selectFrom('charges').select((eb) => eb.fn.sum<number | null>('cost').as('captured'))),
    expiredVideos: prepare((p: { now: number; limit: number }) =>
      db
        .selectFrom('tasks')
        .select(['id', 'video_key'])
        .where('status', '=', 'completed')
        .where('expires_at', '<', p.now)
        .where('video_key', 'is not', null)
        .limit(p.limit),
    ),

    /** Answers at once when the database does (GET /readyz). */
    ping: prepare((_: Record<string, never>) => db.selectNoFrom(sql.lit(1).as('ok'))),
    setting: prepare((p: { name: string }) => db.selectFrom('settings').select('value').where('name', '=', p.name)),
    insertSettingIfAbsent: prepare((p: { name: string; value: string }) =>
      db.insertInto('settings').values({ name: p.name, value: p.value }).onConflict((oc) => oc.column('name').doNothing()),
    ),
  };
}

export type Queries = ReturnType<typeof buildQueries>;
