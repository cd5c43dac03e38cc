import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { BarChart } from '../components/BarChart.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { dollars } from '../format.ts';
import type { UsageLine } from '../types.ts';

const DAY = 24 * 3600;

/** Spend and counts per day and per model; the operator also sees upstream cost and margin, and may pick a key. */
export function Usage({ operator }: { operator: boolean }) {
  const [days, setDays] = useState(30);
  const [keyId, setKeyId] = useState('');
  const [byDay, setByDay] = useState<UsageLine[]>([]);
  const [byModel, setByModel] = useState<UsageLine[]>([]);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const to = Math.floor(Date.now() / 1000) + 1;
    const query = (group: string) => `${operator ? '/admin/usage' : '/v1/usage'}?group_by=${group}&from=${to - days * DAY}&to=${to}${operator && keyId ? `&key_id=${encodeURIComponent(keyId)}` : ''}`;
    setError(null);
    Promise.all([api<{ data: UsageLine[] }>('GET', query('day')), api<{ data: UsageLine[] }>('GET', query('model'))]).then(([day, model]) => {
      setByDay(day.data);
      setByModel(model.data);
    }, setError);
  }, [days, keyId, operator]);

  const money = (line: UsageLine) => (operator ? line.revenue : line.spend) ?? 0;
  const total = byModel.reduce((sum, line) => sum + money(line), 0);
  return (
    <section>
      <h1>Usage</h1>
      <div class="row filters">
        <label>
          Period
          <select name="days" value={days} onChange={(event) => setDays(Number(event.currentTarget.value))}>
            <option value={7}>last 7 days</option>
            <option value={30}>last 30 days</option>
            <option value={90}>last 90 days</option>
          </select>
        </label>
        {operator && (
          <label>
            Key id (empty: all keys)
            <input name="key_id" value={keyId} onChange={(event) => setKeyId(event.currentTarget.value.trim())} />
          </label>
        )}
      </div>
      <ErrorNote error={error} />
      <p class="total">
        {operator ? 'Revenue' : 'Spent'}: <strong data-testid="usage-total">{dollars(total)}</strong> on {byModel.reduce((sum, line) => sum + line.tasks, 0)} tasks
      </p>
      <div class="charts">
        <div class="card">
          <h2>{operator ? 'Revenue' : 'Spend'} per day</h2>
          <BarChart labels={byDay.map((line) => line.group)} series={[{ label: operator ? 'revenue' : 'spend', values: byDay.map((line) => money(line) / 1e6) }]} money />
        </div>
        <div class="card">
          <h2>{operator ? 'Revenue' : 'Spend'} per model</h2>
          <BarChart labels={byModel.map((line) => line.group)} series={[{ label: operator ? 'revenue' : 'spend', values: byModel.map((line) => money(line) / 1e6) }]} money />
        </div>
        <div class="card">
          <h2>Tasks per model</h2>
          <BarChart labels={byModel.map((line) => line.group)} series={[{ label: 'tasks', values: byModel.map((line) => line.tasks) }, { label: 'completed', values: byModel.map((line) => line.completed) }]} />
        </div>
        <div class="card">
          <h2>Tasks per day</h2>
          <BarChart labels={byDay.map((line) => line.group)} series={[{ label: 'tasks', values: byDay.map((line) => line.tasks) }, { label: 'completed', values: byDay.map((line) => line.completed) }]} />
        </div>
      </div>
      <table>
        <thead>
          <tr>
            <th>Model</th>
            <th>Tasks</th>
            <th>Completed</th>
            <th>{operator ? 'Revenue' : 'Spend'}</th>
            {operator && <th>Upstream cost</th>}
            {operator && <th>Margin</th>}
          </tr>
        </thead>
        <tbody>
          {byModel.map((line) => (
            <tr>
              <td>{line.group}</td>
              <td>{line.tasks}</td>
              <td>{line.completed}</td>
              <td>{dollars(money(line))}</td>
              {operator && <td>{dollars(line.upstream_cost)}</td>}
              {operator && <td>{dollars(line.margin)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
