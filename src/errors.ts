/**
 * The domain's own failures (catalog, tasks, inputs, billing). They say what went
 * wrong in the domain's words — a bad input and which field, a missing thing, a state
 * that forbids the step — and know nothing of HTTP: src/http/errors.ts maps them to
 * statuses once, so a worker process or a billing module can fail without importing HTTP.
 */

/** The request asks for something the rules refuse; `param` names the field (`images[1]`, `extra_body.operation`). */
export class InvalidInput extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code = 'invalid_value',
  ) {
    super(message);
    this.name = 'InvalidInput';
  }
}

/** The thing asked for does not exist, or not for this caller; `param` names the field that asked for it, if one did. */
export class NotFound extends Error {
  constructor(
    message: string,
    readonly code = 'not_found',
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'NotFound';
  }
}

/**
 * The thing exists but its state forbids the step (a video not ready, a key reused).
 * `retryable: false` when asking again cannot help; `param` names the field that asked for it, if one did.
 */
export class Conflict extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable = true,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'Conflict';
  }
}

/** A metered key's balance does not cover the price of what it asks for. */
export class InsufficientBalance extends Error {
  constructor(
    message: string,
    readonly price: number,
    readonly balance: number,
  ) {
    super(message);
    this.name = 'InsufficientBalance';
  }
}

/**
 * Something the request needs (storage, the database, an upstream) cannot be reached now; the
 * same request may pass later. Nothing was changed, unless `code` says it cannot be known
 * (database_unavailable: a write whose connection broke off may have been committed).
 */
export class Unavailable extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'Unavailable';
  }
}

/** A limit set on the key (tasks in flight, spend per day) stops this request; it may pass after `retryAfterSeconds`. */
export class LimitReached extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'LimitReached';
  }
}

/**
 * The key a request came with has been revoked: a process that took it as valid a moment
 * ago (its cache had not yet heard) is refused by the write itself.
 */
export class KeyRevoked extends Error {
  constructor(message = 'This API key has been revoked') {
    super(message);
    this.name = 'KeyRevoked';
  }
}
