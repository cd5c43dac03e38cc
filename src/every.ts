/**
 * Like Promise.all, but waits for every promise before it throws, and throws the first
 * failure in the given order. For work that writes files (inputs stored, fetched, probed):
 * a caller that cleans up on failure must not start while a sibling is still writing, or
 * that sibling's file outlives the cleanup; and the input named in a refusal is the first
 * in the request's order, not the one whose failure happened to arrive first.
 */
export async function every<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}
