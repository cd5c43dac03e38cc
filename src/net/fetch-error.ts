/** Why a user's URL could not be fetched; the codes become task error codes (`input_<code>`). */
export type FetchErrorCode =
  | 'url_not_allowed'
  | 'url_invalid'
  | 'fetch_failed'
  | 'fetch_timeout'
  | 'too_large'
  | 'bad_status'
  | 'too_many_redirects';

export class FetchError extends Error {
  constructor(
    readonly code: FetchErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}
