import type { ApiKeyRow, IdempotencyRow, TaskRow } from './schema.ts';

/** An Idempotency-Key's claim and the task it made. */
export interface IdempotentTask {
  claim: IdempotencyRow;
  task: TaskRow;
}

/**
 * What the rest of the gateway may ask of the database. Methods name what they do for
 * the gateway, not the SQL; every write that a runner makes names the lease it holds,
 * so a runner that lost its lease (or a task deleted under it) changes nothing.
 */
export interface Store {
  insertKey(key: { id: string; name: string; hash: string; prefix: string; now: number }): Promise<void>;
  activeKeyByHash(hash: string): Promise<ApiKeyRow | undefined>;
  /** The key with this id unless it is revoked (a signed link names its owner key by id). */
  activeKeyById(id: string): Promise<ApiKeyRow | undefined>;
  listKeys(): Promise<ApiKeyRow[]>;
  revokeKey(id: string, now: number): Promise<boolean>;

  insertTask(task: TaskRow): Promise<void>;
  taskById(id: string): Promise<TaskRow | undefined>;
  taskForKey(id: string, keyId: string): Promise<TaskRow | undefined>;
  listTasks(query: { keyId: string; order: 'asc' | 'desc'; after: { createdAt: number; id: string } | null; limit: number }): Promise<TaskRow[]>;
  /** Cancels a queued or running task of this key; false when it is not (or no longer) active. */
  cancelTaskForKey(id: string, keyId: string, now: number): Promise<boolean>;
  deleteTaskForKey(id: string, keyId: string): Promise<{ id: string; video_key: string | null } | undefined>;

  /** Leases due tasks to `owner`; a running task's `claims` counts this claim until it is handed back. */
  claimDue(owner: string, now: number, leaseUntil: number, limit: number): Promise<TaskRow[]>;
  renewLease(id: string, owner: string, leaseUntil: number): Promise<boolean>;
  markStarted(id: string, owner: string, operation: string, now: number): Promise<boolean>;
  setProgress(id: string, owner: string, progress: number, now: number): Promise<boolean>;
  complete(
    id: string,
    owner: string,
    result: { now: number; expiresAt: number; videoKey: string; videoSize: number; seconds: string; size: string },
  ): Promise<boolean>;
  fail(id: string, owner: string, now: number, code: string, message: string): Promise<boolean>;
  /** Hands a task back (the runner stops): any runner may take it from runAfter on. */
  release(id: string, owner: string, runAfter: number): Promise<boolean>;
  /** Hands a task back after a step failed, counting the failed attempt. */
  retry(id: string, owner: string, runAfter: number): Promise<boolean>;

  /** Completed tasks whose video has expired and whose file is still kept. */
  expiredVideos(now: number, limit: number): Promise<{ id: string; video_key: string | null }[]>;
  /** Records that a task's video file is gone. */
  forgetVideo(id: string, now: number): Promise<void>;

  /**
   * Saves a task made under an Idempotency-Key together with the key's claim, in one
   * transaction, so that no crash leaves a claim without its task. Answers null when saved;
   * when a live claim (younger than `staleBefore`, its task still there) holds the key, saves
   * nothing and answers that claim with its task.
   */
  insertTaskOnce(task: TaskRow, once: { key: string; hash: string; staleBefore: number }): Promise<IdempotentTask | null>;
  /** The live claim on an Idempotency-Key with its task, if any (see insertTaskOnce). */
  idempotentTask(keyId: string, key: string, staleBefore: number): Promise<IdempotentTask | undefined>;

  /** A value shared by every process on this database, made by `create` the first time. */
  sharedSetting(name: string, create: () => string): Promise<string>;
  close(): Promise<void>;
}
