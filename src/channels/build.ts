import { createUpstreamFetch } from '../net/upstream-fetch.ts';
import type { UpstreamProvider, ChannelSettings } from '../providers/upstream.ts';
import { RelayProvider } from '../providers/relay/provider.ts';
import { ViduProvider } from '../providers/vidu/provider.ts';
import { XaiProvider } from '../providers/xai/provider.ts';
import type { Clock } from '../tasks/clock.ts';
import { Breaker } from './breaker.ts';
import type { Channel } from './channel.ts';
import type { UpstreamKind } from './defaults.ts';
import { Channels } from './registry.ts';
import type { ChannelSpec } from './settings.ts';

const ADAPTERS: Record<UpstreamKind, new (settings: ChannelSettings) => UpstreamProvider> = {
  xai: XaiProvider,
  vidu: ViduProvider,
  relay: RelayProvider,
};

/** Channels as configured: each with its own HTTP client (its caps and timeouts), adapter and breaker. */
export function buildChannels(specs: readonly ChannelSpec[], clock: Clock): Channels {
  return new Channels(specs.map((spec): Channel => {
    const fetch = createUpstreamFetch({
      maxConcurrent: spec.maxConcurrent,
      maxPerSecond: spec.maxPerSecond,
      connectTimeoutMs: spec.connectTimeoutMs,
      readTimeoutMs: spec.readTimeoutMs,
    });
    return {
      name: spec.name,
      kind: spec.kind,
      provider: new ADAPTERS[spec.kind]({ name: spec.name, baseUrl: spec.baseUrl, keys: spec.keys, fetch, clock }),
      baseUrl: spec.baseUrl,
      models: spec.models,
      priority: spec.priority,
      weight: spec.weight,
      breaker: new Breaker(clock),
      load: () => ({ inFlight: fetch.inFlight(), waiting: fetch.waiting(), maxConcurrent: spec.maxConcurrent }),
      close: () => fetch.close(),
    };
  }));
}
