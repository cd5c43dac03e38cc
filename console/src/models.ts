import { api } from './api.ts';
import type { List, Model } from './types.ts';

let catalog: Promise<Model[]> | null = null;

/** The catalog (GET /v1/models), asked once per sign-in: it changes only when the gateway restarts. */
export function loadModels(): Promise<Model[]> {
  catalog ??= api<List<Model>>('GET', '/v1/models').then(
    (list) => list.data,
    (error: unknown) => {
      catalog = null;
      throw error;
    },
  );
  return catalog;
}

export function forgetModels(): void {
  catalog = null;
}
