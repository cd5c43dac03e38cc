import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { dollars, microsFrom, when } from '../format.ts';
import type { Key, List } from '../types.ts';

interface Created {
  id: string;
  name: string;
  key: string;
}

/** The operator's keys: create (balance, mode, limits), show the new key once, revoke, top up. */
export function Keys() {
  const [keys, setKeys] = useState<Key[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Created | null>(null);
  const [copied, setCopied] = useState(false);
  const reload = () => api<List<Key>>('GET', '/admin/keys').then((list) => setKeys(list.data), setError);
  useEffect(() => {
    void reload();
  }, []);

  async function create(event: Event) {
    event.preventDefault();
    // Read now: currentTarget is gone once the handler awaits.
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    setError(null);
    const body: Record<string, unknown> = { name: text('name'), mode: data.get('test') ? 'test' : 'live' };
    if (text('balance')) {
      const balance = microsFrom(text('balance'));
      if (balance === null) return setError(new Error('Balance is an amount in dollars, such as 25 or 2.50'));
      body.balance = balance;
    }
    const limits: Record<string, number> = {};
    if (text('rpm')) limits.requests_per_minute = Number(text('rpm'));
    if (text('in_flight')) limits.tasks_in_flight = Number(text('in_flight'));
    if (text('per_day')) {
      const perDay = microsFrom(text('per_day'));
      if (perDay === null) return setError(new Error('Spend per day is an amount in dollars'));
      limits.spend_per_day = perDay;
    }
    if (Object.keys(limits).length > 0) body.limits = limits;
    try {
      setCreated(await api<Created>('POST', '/admin/keys', body));
      setCopied(false);
      form.reset();
      await reload();
    } catch (refused) {
      setError(refused);
    }
  }

  return (
    <section>
      <h1>Keys</h1>
      <form class="card" onSubmit={create}>
        <h2>New key</h2>
        <div class="row">
          <label>
            Name
            <input name="name" required maxLength={100} />
          </label>
          <label>
            Balance in $ (empty: unmetered)
            <input name="balance" inputMode="decimal" />
          </label>
          <label class="check">
            <input name="test" type="checkbox" /> Test mode (preview renderer, never charged)
          </label>
        </div>
        <div class="row">
          <label>
            Requests a minute
            <input name="rpm" type="number" min={1} />
          </label>
          <label>
            Tasks in flight
            <input name="in_flight" type="number" min={1} />
          </label>
          <label>
            Spend a day in $
            <input name="per_day" inputMode="decimal" />
          </label>
        </div>
        <button type="submit">Create key</button>
      </form>
      {created && (
        <div class="card shown-once" role="status">
          <p>
            The key for <strong>{created.name}</strong>, shown this once:
          </p>
          <p class="row">
            <code data-testid="new-key">{created.key}</code>
            <button
              type="button"
              onClick={async () => {
                await navigator.clipboard.writeText(created.key).catch(() => undefined);
                setCopied(true);
              }}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </p>
        </div>
      )}
      <ErrorNote error={error} />
      <table class="keys">
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Balance</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <KeyRow key={key.id} entry={key} onChanged={reload} onError={setError} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function KeyRow({ entry, onChanged, onError }: { entry: Key; onChanged: () => void; onError: (error: unknown) => void }) {
  const [amount, setAmount] = useState('');
  const revoked = entry.revoked_at !== null;
  return (
    <tr data-id={entry.id} class={revoked ? 'revoked' : ''}>
      <td>
        {entry.name}
        {entry.mode === 'test' ? <span class="tag">test</span> : null}
      </td>
      <td>
        <code>{entry.prefix}…</code>
      </td>
      <td>{entry.balance === null ? 'unmetered' : dollars(entry.balance)}</td>
      <td>{revoked ? `revoked ${when(entry.revoked_at)}` : when(entry.created_at)}</td>
      <td class="actions">
        {!revoked && entry.balance !== null && (
          <form
            class="inline"
            onSubmit={async (event) => {
              event.preventDefault();
              const micros = microsFrom(amount);
              if (!micros) return onError(new Error('A top-up is an amount in dollars, more than 0'));
              try {
                await api('POST', `/admin/keys/${entry.id}/topup`, { amount: micros });
                setAmount('');
                onChanged();
              } catch (refused) {
                onError(refused);
              }
            }}
          >
            <input name="amount" inputMode="decimal" placeholder="$" size={6} value={amount} onInput={(event) => setAmount(event.currentTarget.value)} />
            <button type="submit" class="quiet">
              Top up
            </button>
          </form>
        )}
        {!revoked && (
          <button
            type="button"
            class="danger"
            onClick={async () => {
              if (!confirm(`Revoke ${entry.name}? Its requests are refused from now on.`)) return;
              await api('DELETE', `/admin/keys/${entry.id}`).then(onChanged, onError);
            }}
          >
            Revoke
          </button>
        )}
      </td>
    </tr>
  );
}
