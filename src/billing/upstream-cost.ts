import type { UpstreamUsage } from '../providers/upstream.ts';

/** xAI bills in ticks: 1 US cent is 100,000,000 ticks, so a micro-dollar is 10,000. */
const TICKS_PER_MICRO = 10_000;

/**
 * What an upstream reported charging for a video, in micro-dollars: xAI's ticks exactly,
 * Vidu's credits at the operator's rate (VIDU_CREDIT_MICROS), since Vidu prices credits per contract.
 */
export function upstreamCost(usage: UpstreamUsage | null, creditMicros: number): number | null {
  if (usage === null) return null;
  if ('costInUsdTicks' in usage) return Math.round(usage.costInUsdTicks / TICKS_PER_MICRO);
  return usage.credits * creditMicros;
}
