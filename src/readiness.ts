/** What a load balancer asks before sending traffic (GET /readyz): can each thing this process needs be reached now? */
export type ReadinessChecks = Record<string, () => Promise<void>>;

export interface Readiness {
  ready: boolean;
  /** `ok`, or why not. */
  checks: Record<string, string>;
}

/** Runs every check at once, each within `timeoutMs`: a hung dependency answers "not ready", not nothing. */
export async function checkReadiness(checks: ReadinessChecks, timeoutMs = 2000): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
      try {
        await Promise.race([check(), timeout]);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, error instanceof Error ? error.message : String(error)] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, result]) => result === 'ok'), checks: Object.fromEntries(results) };
}
