import type { Channels } from './registry.ts';

/**
 * Each channel as the operator's channel page shows it: the models it serves, its tasks not
 * yet ended (from the database, so across processes), its calls in flight against its cap,
 * and its breaker's record. The calls and the record are this process's: with the runner in
 * ROLE=worker processes apart, an api process made none of them (only the task counts are
 * shared until health moves to a shared store with the scale-out).
 */
export function channelReport(channels: Channels, unfinished: ReadonlyMap<string, number>) {
  return channels.all().map((channel) => {
    const record = channel.breaker.record();
    const load = channel.load();
    return {
      name: channel.name,
      type: channel.kind,
      models: [...channel.models.keys()],
      priority: channel.priority,
      weight: channel.weight,
      tasks_unfinished: unfinished.get(channel.name) ?? 0,
      in_flight: load.inFlight,
      waiting: load.waiting,
      max_concurrent: load.maxConcurrent,
      breaker: record.state,
      calls: record.calls,
      errors: record.failures,
      error_rate: record.calls === 0 ? 0 : record.failures / record.calls,
      last_errors: record.lastErrors.map((error) => ({ at: Math.floor(error.at / 1000), message: error.message })),
    };
  });
}
