import type { TaskRow } from '../store/schema.ts';
import type { Settlement, Store } from '../store/store.ts';
import type { Metrics } from './metrics.ts';

/**
 * The store, counting tasks as they are made and as they end. Every task is saved and
 * ends through the store (settle is the one way a task ends), so counting here misses
 * none, whichever part of the gateway saves or ends it.
 */
export function observedStore(store: Store, metrics: Metrics): Store {
  const created = (task: TaskRow) => metrics.tasksCreated.inc({ model: task.model });
  const overrides: Partial<Store> = {
    async insertTask(task) {
      await store.insertTask(task);
      created(task);
    },
    async insertTaskOnce(task, once) {
      const held = await store.insertTaskOnce(task, once);
      if (held === null) created(task);
      return held;
    },
    async settle(id: string, settlement: Settlement) {
      const task = await store.settle(id, settlement);
      const unfinished = task?.status === 'queued' || task?.status === 'in_progress';
      if (task && (settlement.kind === 'completed' || settlement.kind === 'failed' || settlement.kind === 'cancelled')) {
        metrics.tasksEnded.inc({ model: task.model, status: settlement.kind });
      } else if (task && settlement.kind === 'deleted' && unfinished) {
        metrics.tasksEnded.inc({ model: task.model, status: 'cancelled' });
      }
      return task;
    },
  };
  // The store's own methods use its #private fields: each is bound to it, once.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      if (property in overrides) return overrides[property as keyof Store];
      let method = bound.get(property);
      if (method === undefined) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== 'function') return value;
        method = value.bind(target);
        bound.set(property, method);
      }
      return method;
    },
  });
}
