import type { DeliveryRow } from '../store/schema.ts';

/**
 * The body of an event, in OpenAI's shape: `{id, object: "event", type, created_at, data: {id}}`,
 * times in Unix seconds. Made from the delivery's own columns, so each attempt sends the
 * same bytes.
 */
export function eventBody(delivery: Pick<DeliveryRow, 'event_id' | 'type' | 'created_at' | 'task_id'>): string {
  return JSON.stringify({
    id: delivery.event_id,
    object: 'event',
    type: delivery.type,
    created_at: Math.floor(delivery.created_at / 1000),
    data: { id: delivery.task_id },
  });
}
