import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { when } from '../format.ts';
import type { Delivery, List } from '../types.ts';

/** The last answer, or why there was none. */
function lastAnswer(delivery: Delivery): string {
  if (delivery.last_error) return delivery.last_error;
  return delivery.last_status_code === null ? 'not tried yet' : `HTTP ${delivery.last_status_code}`;
}

/** What became of a task's webhook events: one line per destination, reloaded when the task's status changes. */
export function Deliveries({ videoId, status }: { videoId: string; status: string }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  useEffect(() => {
    // A task that has not ended has no event yet.
    if (status === 'queued' || status === 'in_progress') return;
    api<List<Delivery>>('GET', `/v1/videos/${videoId}/deliveries`).then((list) => setDeliveries(list.data), () => setDeliveries(null));
  }, [videoId, status]);
  if (!deliveries || deliveries.length === 0) return null;
  return (
    <>
      <h2>Webhooks</h2>
      <ul class="deliveries">
        {deliveries.map((delivery) => (
          <li key={delivery.id} data-status={delivery.status} title={delivery.url}>
            <strong>{delivery.webhook_id ?? 'callback_url'}</strong> · {delivery.type}
            <br />
            <span class={`status ${delivery.status}`}>{delivery.status}</span>
            {` after ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'} · ${lastAnswer(delivery)}`}
            {delivery.status === 'pending' && delivery.next_attempt_at ? ` · next ${when(delivery.next_attempt_at)}` : ''}
          </li>
        ))}
      </ul>
    </>
  );
}
