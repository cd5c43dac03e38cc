import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { when } from '../format.ts';
import type { ChannelInfo } from '../types.ts';

/** Each upstream channel: its models, tasks in flight, error rate, last errors and breaker, refreshed every 5 s. */
export function Channels() {
  const [channels, setChannels] = useState<ChannelInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const load = () => api<{ data: ChannelInfo[] }>('GET', '/admin/channels').then((list) => setChannels(list.data), setError);
    void load();
    const timer = setInterval(load, 5_000);
    return () => clearInterval(timer);
  }, []);
  return (
    <section>
      <h1>Channels</h1>
      <ErrorNote error={error} />
      {channels?.length === 0 && <p class="note">No upstream channels: every model is served by the local preview renderer.</p>}
      <div class="channels">
        {channels?.map((channel) => (
          <div class="card" data-channel={channel.name}>
            <h2>
              {channel.name} <span class="tag">{channel.type}</span>{' '}
              <span class={`breaker ${channel.breaker}`}>{channel.breaker === 'closed' ? 'healthy' : `breaker ${channel.breaker}`}</span>
            </h2>
            <p>
              {channel.tasks_unfinished} tasks unfinished · {channel.in_flight} of {channel.max_concurrent} calls in flight
              {channel.waiting > 0 ? `, ${channel.waiting} waiting` : ''}
            </p>
            <p>
              {channel.calls} calls, {channel.errors} failed ({(channel.error_rate * 100).toFixed(1)} %)
            </p>
            <p class="hint">{channel.models.join(', ')}</p>
            {channel.last_errors.length > 0 && (
              <ul class="errors">
                {channel.last_errors.map((one) => (
                  <li>
                    {when(one.at)}: {one.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}
