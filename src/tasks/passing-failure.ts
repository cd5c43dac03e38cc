/**
 * A step failed for a reason that may pass (a link that did not answer, a download cut
 * short): the step is tried again with backoff, and when the tries run out the task fails
 * with this code and message.
 */
export class PassingFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PassingFailure';
  }
}
