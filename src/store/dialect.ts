import { type Kysely, PostgresAdapter } from 'kysely';

/** Whether the query builder speaks PostgreSQL: where a statement must differ (claims, an auto-numbered key), this says which. */
// Any table shape: only the adapter is read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const isPostgres = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof PostgresAdapter;
