/**
 * Polling for the tests: wait until a condition holds, or retry an attempt until its answer
 * is the one wanted. Both throw naming what they waited for, so that a timeout says which
 * wait ran out instead of failing a later assertion.
 */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `attempt` every `everyMs` until `done(answer)` holds and returns that answer; throws
 * naming `what` (and the last answer, shortened) after `timeoutMs`.
 */
export async function retryUntil<T>(attempt: () => T | Promise<T>, done: (answer: T) => boolean, what: string, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await attempt();
    if (done(answer)) return answer;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${lastAnswer(answer)}`);
    await sleep(everyMs);
  }
}

/** Polls `condition` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 25): Promise<void> {
  await retryUntil(condition, (holds) => holds, what, timeoutMs, everyMs);
}

/** ` (last: …)` with a short JSON of the answer, or nothing where it says nothing useful. */
function lastAnswer(answer: unknown): string {
  if (typeof answer === 'boolean' || answer === undefined) return '';
  try {
    const text = JSON.stringify(answer);
    if (text === undefined) return '';
    return ` (last: ${text.length > 300 ? `${text.slice(0, 300)}…` : text})`;
  } catch {
    return '';
  }
}
