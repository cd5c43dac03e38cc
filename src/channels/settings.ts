import { z } from 'zod';
import { findModel } from '../catalog/models.ts';
import { DEFAULT_BASE_URLS, defaultModels, type UpstreamKind } from './defaults.ts';

/** One channel as the operator wrote it, with every default filled in. */
export interface ChannelSpec {
  name: string;
  kind: UpstreamKind;
  baseUrl: string;
  keys: string[];
  /** Our model → upstream model id. */
  models: Map<string, string>;
  weight: number;
  priority: number;
  maxConcurrent: number;
  maxPerSecond: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
}

const baseUrl = z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ''));

/** `CHANNELS` in the config file: a list of these. */
const channelSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'lowercase letters, digits, _ and -').refine((name) => name !== 'local', 'local is the preview renderer'),
    type: z.enum(['xai', 'vidu', 'relay']),
    base_url: baseUrl.optional(),
    keys: z.array(z.string().min(1)).min(1),
    /** A list of our names (upstream ids by default), or our name → upstream id. */
    models: z.union([z.array(z.string()), z.record(z.string(), z.string())]).optional(),
    weight: z.number().positive().default(1),
    priority: z.number().int().default(0),
    max_concurrent: z.number().int().positive().default(32),
    max_per_second: z.number().nonnegative().default(0),
    connect_timeout_ms: z.number().int().positive().default(5_000),
    read_timeout_ms: z.number().int().positive().default(30_000),
  })
  .strict();

export const channelsSchema = z.array(channelSchema);

/** The env shortcuts: one line sets up one channel. */
export interface ChannelShortcuts {
  XAI_API_KEY?: string;
  XAI_BASE_URL?: string;
  VIDU_API_KEY?: string;
  VIDU_BASE_URL?: string;
  RELAY_BASE_URL?: string;
  RELAY_API_KEY?: string;
}

/** The channels from the config file and the env shortcuts; throws with the problem named. */
export function channelSpecs(listed: z.infer<typeof channelsSchema>, env: ChannelShortcuts): ChannelSpec[] {
  const specs: ChannelSpec[] = listed.map((entry) => {
    if (entry.type === 'relay' && !entry.base_url) throw new Error(`channel ${entry.name}: a relay needs base_url`);
    return {
      name: entry.name,
      kind: entry.type,
      baseUrl: entry.base_url ?? DEFAULT_BASE_URLS[entry.type]!,
      keys: entry.keys,
      models: modelMap(entry.name, entry.type, entry.models),
      weight: entry.weight,
      priority: entry.priority,
      maxConcurrent: entry.max_concurrent,
      maxPerSecond: entry.max_per_second,
      connectTimeoutMs: entry.connect_timeout_ms,
      readTimeoutMs: entry.read_timeout_ms,
    };
  });
  const shortcut = (name: string, kind: UpstreamKind, keys: string | undefined, base: string | undefined) => {
    if (!keys) return;
    if (specs.some((spec) => spec.name === name)) throw new Error(`the ${kind.toUpperCase()}_API_KEY shortcut makes a channel named ${name}, and CHANNELS already has one`);
    specs.push({
      name,
      kind,
      baseUrl: (base ?? DEFAULT_BASE_URLS[kind]!).replace(/\/+$/, ''),
      keys: keys.split(',').map((key) => key.trim()).filter(Boolean),
      models: defaultModels(kind),
      weight: 1,
      priority: 0,
      maxConcurrent: 32,
      maxPerSecond: 0,
      connectTimeoutMs: 5_000,
      readTimeoutMs: 30_000,
    });
  };
  shortcut('xai', 'xai', env.XAI_API_KEY, env.XAI_BASE_URL);
  shortcut('vidu', 'vidu', env.VIDU_API_KEY, env.VIDU_BASE_URL);
  if (Boolean(env.RELAY_BASE_URL) !== Boolean(env.RELAY_API_KEY)) throw new Error('RELAY_BASE_URL and RELAY_API_KEY go together');
  shortcut('relay', 'relay', env.RELAY_API_KEY, env.RELAY_BASE_URL);
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) throw new Error(`two channels are named ${spec.name}`);
    names.add(spec.name);
  }
  return specs;
}

function modelMap(channel: string, kind: UpstreamKind, models: string[] | Record<string, string> | undefined): Map<string, string> {
  if (models === undefined) return defaultModels(kind);
  const defaults = defaultModels(kind);
  const entries = Array.isArray(models) ? models.map((id) => [id, defaults.get(id) ?? id] as const) : Object.entries(models);
  for (const [id] of entries) if (!findModel(id)) throw new Error(`channel ${channel}: ${id} is not a model of the catalog`);
  return new Map(entries);
}
