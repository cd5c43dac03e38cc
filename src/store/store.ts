import type { ApiKeyRow, IdempotencyRow, TaskRow } from './schema.ts';

/**
 * What the rest of the gateway may ask of the database. Methods name what they do for
 * the gateway, not the SQL; every write that a runner makes names the lease it holds,
 * so a runner that lost its lease (or a task deleted under it) changes nothing.
 */
export interface Store {
  insertKey(key: { id: string; name: string; hash: string; prefix: string; now: number }): Promise<void>;
  activeKeyByHash(hash: string): Promise<ApiKeyRow | undefined>;
  listKeys(): Promise<ApiKeyRow[]>;
  revokeKey(id: string, now: number): Promise<boolean>;

  insertTask(task: TaskRow): Promise<void>;
  taskById(id: string): Promise<TaskRow | undefined>;
  taskForKey(id: string, keyId: string): Promise<TaskRow | undefined>;
  listTasks(query: { keyId: string; order: 'asc' | 'desc'; after: { createdAt: number; id: string } | null; limit: number }): Promise<TaskRow[]>;
  /** Cancels a queued or running task of this key; false when it is not (or no longer) active. */
  cancelTaskForKey(id: string, keyId: string, now: number): Promise<boolean>;
  deleteTaskForKey(id: string, keyId: string): Promise<{ id: string; video_key: string | null } | undefined>;

  claimDue(owner: string, now: number, leaseUntil: number, limit: number): Promise<TaskRow[]>;
  renewLease(id: string, owner: string, leaseUntil: number): Promise<boolean>;
  markStarted(id: string, owner: string, operation: string, now: number): Promise<boolean>;
  setProgress(id: string, owner: string, progress: number, now: number): Promise<boolean>;
  complete(
    id: string,
    owner: string,
    result: { now: number; expiresAt: number; videoKey: string; videoSize: number; seconds: string },
  ): Promise<boolean>;
  fail(id: string, owner: string, now: number, code: string, message: string): Promise<boolean>;
  release(id: string, owner: string, runAfter: number): Promise<boolean>;

  /** Completed tasks whose video has expired and whose file is still kept. */
  expiredVideos(now: number, limit: number): Promise<{ id: string; video_key: string | null }[]>;
  /** Records that a task's video file is gone. */
  forgetVideo(id: string, now: number): Promise<void>;

  /**
   * Claims an Idempotency-Key for a new task. Answers null when claimed, or the live
   * claim (younger than `staleBefore`) that holds it.
   */
  claimIdempotencyKey(claim: { keyId: string; key: string; hash: string; taskId: string; now: number; staleBefore: number }): Promise<IdempotencyRow | null>;
  /** Gives a claim back (its task was never made). */
  releaseIdempotencyKey(keyId: string, key: string, taskId: string): Promise<void>;

  /** A value shared by every process on this database, made by `create` the first time. */
  sharedSetting(name: string, create: () => string): Promise<string>;
  close(): Promise<void>;
}
