import { Conflict, InsufficientBalance, InvalidInput, KeyRevoked, LimitReached, NotFound, Unavailable } from '../errors.ts';

/**
 * Every error a client sees is an ApiError rendered as
 * {"error":{"message","type","param","code"}}; a typed error knows its own status
 * so that handlers throw and one mapper (app.ts) answers.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'conflict_error'
  /** OpenAI's type for an account out of money. */
  | 'insufficient_quota'
  | 'rate_limit_error'
  | 'server_error';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  /** false: tell SDKs not to retry (`x-should-retry: false`), as for a 409 that no retry can mend. */
  shouldRetry: boolean | undefined;
  /** Seconds after which asking again may work (`Retry-After`). */
  retryAfter: number | undefined;

  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code = 'invalid_value') =>
  new ApiError(400, message, 'invalid_request_error', code, param);

export const notFound = (message: string, code = 'not_found') =>
  new ApiError(404, message, 'not_found_error', code);

export const unauthorized = (message = 'Missing or invalid API key; send Authorization: Bearer sk-…') =>
  new ApiError(401, message, 'authentication_error', 'invalid_api_key');

export const conflict = (message: string, code: string) => new ApiError(409, message, 'conflict_error', code);

/** The one place a domain error becomes an HTTP answer; anything else is not a client's fault. */
export function fromDomain(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof InvalidInput) return new ApiError(400, error.message, 'invalid_request_error', error.code, error.param);
  if (error instanceof NotFound) return new ApiError(404, error.message, 'not_found_error', error.code, error.param);
  if (error instanceof KeyRevoked) return unauthorized(error.message);
  if (error instanceof InsufficientBalance) return new ApiError(402, error.message, 'insufficient_quota', 'insufficient_quota');
  if (error instanceof LimitReached) {
    const answer = new ApiError(429, error.message, 'rate_limit_error', error.code);
    answer.retryAfter = error.retryAfterSeconds;
    return answer;
  }
  if (error instanceof Unavailable) {
    const answer = new ApiError(503, error.message, 'server_error', error.code);
    answer.retryAfter = 2;
    return answer;
  }
  if (error instanceof Conflict) {
    const answer = new ApiError(409, error.message, 'conflict_error', error.code, error.param);
    if (!error.retryable) answer.shouldRetry = false;
    return answer;
  }
  return null;
}
