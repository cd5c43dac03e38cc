import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from './dialect.ts';

/** Schema history, written with the query builder so that SQLite and PostgreSQL share it. */
export const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('key_prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();

      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('progress', 'integer', (c) => c.notNull())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('prompt', 'text', (c) => c.notNull())
        .addColumn('seconds', 'text')
        .addColumn('size', 'text')
        .addColumn('remixed_from_video_id', 'text')
        .addColumn('warnings', 'text')
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('operation', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('completed_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('run_after', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('video_key', 'text')
        .addColumn('video_size', 'bigint')
        .execute();
      await db.schema.createIndex('tasks_by_key').on('tasks').columns(['key_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('tasks_due').on('tasks').columns(['status', 'run_after']).execute();

      await db.schema
        .createTable('settings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002_started_at': {
    // When a task began running: lets a stream replay a passage through in_progress that
    // happened between two looks at the task.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('started_at', 'bigint').execute();
    },
  },
  '0003_idempotency': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['key_id', 'idempotency_key'])
        .execute();
    },
  },
  '0004_claims': {
    // Claims a task lost with its worker, apart from failed attempts: a task whose input
    // brings the worker down is given up instead of killing every worker that claims it.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('claims', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0005_upstream': {
    // Upstream tasks: never submitted twice blindly, and what the upstream charged.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('submit_started_at', 'bigint').execute();
      await db.schema.alterTable('tasks').addColumn('usage', 'text').execute();
    },
  },
  '0006_due_by_lane': {
    // Each lane finds its due tasks in run_after order straight from an index of its own:
    // with thousands of upstream tasks due, one index for both made every claim (and the
    // local lane's, which found none) sort them all (bench:tracking: a third of the CPU).
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('tasks_due').execute();
      for (const [name, lane] of [['tasks_due_local', sql`provider = 'local'`], ['tasks_due_upstream', sql`provider <> 'local'`]] as const) {
        await db.schema.createIndex(name).on('tasks').column('run_after').where(sql<boolean>`status IN ('queued', 'in_progress') AND ${lane}`).execute();
      }
    },
  },
  '0007_billing': {
    // Balances and the ledger: each change to a balance is an entry, written in the same
    // transaction as the task change that causes it. A task has at most one hold and one
    // end (capture or release): a unique index makes a second one fail, whatever the code.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_keys').addColumn('balance', 'bigint').execute();
      for (const column of ['price', 'hold', 'cost']) await db.schema.alterTable('tasks').addColumn(column, 'bigint').execute();
      await db.schema
        .createTable('ledger')
        // An auto-numbered key is spelled differently by each database.
        .addColumn('id', isPostgres(db) ? 'bigserial' : 'integer', (c) => (isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('balance', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('note', 'text')
        .execute();
      await db.schema.createIndex('ledger_by_key').on('ledger').columns(['key_id', 'id']).execute();
      await sql`CREATE UNIQUE INDEX ledger_once ON ledger (task_id, (kind = 'hold')) WHERE task_id IS NOT NULL`.execute(db);
    },
  },
  '0008_test_mode': {
    // Test-mode keys: their tasks run on the preview renderer and are never charged.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_keys').addColumn('mode', 'text', (c) => c.notNull().defaultTo('live')).execute();
      await db.schema.alterTable('tasks').addColumn('mode', 'text', (c) => c.notNull().defaultTo('live')).execute();
    },
  },
  '0009_charges': {
    // What each ended task was billed, one row per task for ever (a deleted task's row
    // goes, its charge stays): the usage report reads these.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('charges')
        .addColumn('task_id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('upstream_cost', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('charges_by_time').on('charges').columns(['created_at']).execute();
    },
  },
  '0010_key_limits': {
    // Limits per key, checked in the transaction that inserts a task; null: no limit of that kind.
    async up(db: Kysely<unknown>) {
      for (const column of ['limit_rpm', 'limit_in_flight', 'limit_daily_spend']) await db.schema.alterTable('api_keys').addColumn(column, 'bigint').execute();
      // A key's unfinished tasks, counted at each submit of a key with an in-flight limit.
      await db.schema.createIndex('tasks_active_by_key').on('tasks').column('key_id').where(sql<boolean>`status IN ('queued', 'in_progress')`).execute();
    },
  },
  '0011_webhooks': {
    // Webhook endpoints per key, and the outbox of deliveries that a task's settle step writes.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('request_id', 'text').execute();
      await db.schema.alterTable('tasks').addColumn('callback_url', 'text').execute();
      // Signs the deliveries to a task's callback_url; made the first time it is needed.
      await db.schema.alterTable('api_keys').addColumn('webhook_secret', 'text').execute();
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('deleted_at', 'bigint')
        .execute();
      await db.schema.createIndex('webhooks_by_key').on('webhooks').column('key_id').execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('webhook_id', 'text')
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_attempt_at', 'bigint')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .execute();
      // The deliverer's claim reads only the pending ones, in the order they fall due.
      await db.schema.createIndex('deliveries_due').on('deliveries').column('next_attempt_at').where(sql<boolean>`status = 'pending'`).execute();
      await db.schema.createIndex('deliveries_by_webhook').on('deliveries').columns(['webhook_id', 'created_at']).execute();
      await db.schema.createIndex('deliveries_by_task').on('deliveries').column('task_id').execute();
    },
  },
  '0012_change_notices': {
    // PostgreSQL only: every changed or deleted key or task row is announced on the channel
    // vidgate_<schema> (change-listener.ts), in the transaction that changes it, whoever changes it (any process,
    // the CLI, an operator's psql), so each process's read cache drops that row at its commit.
    // A new row needs no notice: no cache holds a row that did not exist. SQLite's caches
    // watch PRAGMA data_version instead.
    async up(db: Kysely<unknown>) {
      if (!isPostgres(db)) return;
      await sql`
        CREATE FUNCTION vidgate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify(left('vidgate_' || TG_TABLE_SCHEMA, 63), TG_TABLE_NAME || ' ' || OLD.id);
          ELSE
            PERFORM pg_notify(left('vidgate_' || TG_TABLE_SCHEMA, 63), TG_TABLE_NAME || ' ' || NEW.id);
          END IF;
          RETURN NULL;
        END $$`.execute(db);
      for (const table of ['api_keys', 'tasks']) {
        await sql`CREATE TRIGGER ${sql.raw(`${table}_changed`)} AFTER UPDATE OR DELETE ON ${sql.raw(table)} FOR EACH ROW EXECUTE FUNCTION vidgate_changed()`.execute(db);
      }
    },
  },
  '0013_change_notices_after_commit': {
    // A NOTIFY in a writing transaction takes one lock for the whole database server at its
    // commit, held through the commit's flush to disk: every task update made its own notice,
    // and so every update in every process committed one at a time (the tracking bench saw
    // most of its updates waiting on it). The gateway now announces its own changes after they
    // commit, from a transaction that writes nothing (change-notices.ts): the trigger stays for
    // everyone else (the CLI aside: it is the gateway too), an operator's psql among them.
    // See https://www.recall.ai/blog/postgres-listen-notify-does-not-scale.
    async up(db: Kysely<unknown>) {
      if (!isPostgres(db)) return;
      await sql`
        CREATE OR REPLACE FUNCTION vidgate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- The gateway's own connections (change-notices.ts, GATEWAY_APPLICATION_NAME).
          IF current_setting('application_name') = 'vidgate' THEN
            RETURN NULL;
          END IF;
          IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify(left('vidgate_' || TG_TABLE_SCHEMA, 63), TG_TABLE_NAME || ' ' || OLD.id);
          ELSE
            PERFORM pg_notify(left('vidgate_' || TG_TABLE_SCHEMA, 63), TG_TABLE_NAME || ' ' || NEW.id);
          END IF;
          RETURN NULL;
        END $$`.execute(db);
    },
  },
  '0014_kept_bytes_index': {
    // The bytes of kept videos (GET /metrics) read from an index of the kept ones alone:
    // expired videos, most of the history, are not read at each scrape (queries.ts: keptAndHeld).
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('tasks_kept_bytes').on('tasks').column('video_size').where(sql<boolean>`video_key IS NOT NULL`).execute();
    },
  },
};
