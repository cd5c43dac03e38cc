import { MODELS } from '../catalog/models.ts';

/** The upstream kinds vidgate speaks. */
export type UpstreamKind = 'xai' | 'vidu' | 'relay';

/** A relay has no default: it is whatever gateway the operator names. */
export const DEFAULT_BASE_URLS: Partial<Record<UpstreamKind, string>> = {
  xai: 'https://api.x.ai/v1',
  vidu: 'https://api.vidu.com/ent/v2',
};

/**
 * Which of our public models each kind serves by default, and under which upstream id
 * (upstream-apis.md §5); a channel may list its own. A relay (another OpenAI-style
 * gateway) is taken to know our names.
 */
export function defaultModels(kind: UpstreamKind): Map<string, string> {
  const map = new Map<string, string>();
  for (const model of MODELS) {
    const upstream = kind === 'relay' ? model.id : kind === 'xai' ? xaiModel(model.id) : viduModel(model.id);
    if (upstream) map.set(model.id, upstream);
  }
  return map;
}

function xaiModel(id: string): string | null {
  if (id === 'grok-imagine' || id === 'grok-imagine-video') return 'grok-imagine-video';
  // -pro and -max are fixed lengths (10 s, 15 s) of the same upstream model; the catalog fixes the duration.
  if (id.startsWith('grok-video-')) return 'grok-imagine-video-1.5';
  return null;
}

function viduModel(id: string): string | null {
  if (id.startsWith('viduq3p-mix-')) return 'viduq3-mix';
  if (id.startsWith('viduq3p-')) return 'viduq3-pro';
  if (id.startsWith('viduq3t-')) return 'viduq3-turbo';
  return null;
}
