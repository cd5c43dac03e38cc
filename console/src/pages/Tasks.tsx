import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { dollars, when } from '../format.ts';
import { loadModels } from '../models.ts';
import type { List, Video } from '../types.ts';

const STATUSES = ['', 'queued', 'in_progress', 'completed', 'failed', 'cancelled'];

/** The key's tasks, newest first, with thumbnails; filtered by status and model. */
export function Tasks() {
  const [videos, setVideos] = useState<Video[]>([]);
  const [more, setMore] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [model, setModel] = useState('');
  const [error, setError] = useState<unknown>(null);

  const [models, setModels] = useState<string[]>([]);

  // The gateway filters (GET /v1/videos?status=&model=), so a page of 50 holds only matches.
  async function load(after: string | null) {
    const query = new URLSearchParams({ limit: '50' });
    if (after) query.set('after', after);
    if (status) query.set('status', status);
    if (model) query.set('model', model);
    try {
      const page = await api<List<Video>>('GET', `/v1/videos?${query}`);
      setVideos((old) => (after ? [...old, ...page.data] : page.data));
      setMore(page.has_more ? (page.data.at(-1)?.id ?? null) : null);
      setError(null);
    } catch (refused) {
      setError(refused);
    }
  }
  useEffect(() => {
    void load(null);
  }, [status, model]);
  useEffect(() => {
    loadModels().then((list) => setModels(list.map((one) => one.id)), () => undefined);
  }, []);
  return (
    <section>
      <h1>Tasks</h1>
      <div class="row filters">
        <label>
          Status
          <select name="status" value={status} onChange={(event) => setStatus(event.currentTarget.value)}>
            {STATUSES.map((one) => (
              <option value={one}>{one || 'any'}</option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select name="model" value={model} onChange={(event) => setModel(event.currentTarget.value)}>
            <option value="">any</option>
            {models.map((one) => (
              <option value={one}>{one}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      <ul class="tasks">
        {videos.map((video) => (
          <li data-id={video.id}>
            <a href={`/console/tasks/${video.id}`}>
              {video.status === 'completed' && video.metadata?.url ? (
                <img class="thumb" alt={`thumbnail of ${video.id}`} loading="lazy" src={`${video.metadata.url}&variant=thumbnail`} />
              ) : (
                <span class={`thumb placeholder ${video.status}`}>{video.status === 'in_progress' ? `${video.progress}%` : video.status}</span>
              )}
              <span class="what">
                <strong>{video.prompt}</strong>
                <span class="hint">
                  {video.model} · <span class={`status ${video.status}`}>{video.status}</span> · {when(video.created_at)} · {dollars(video.billing.cost ?? video.billing.price)}
                </span>
              </span>
            </a>
          </li>
        ))}
      </ul>
      {videos.length === 0 && <p class="note">No tasks{status || model ? ' match' : ' yet'}.</p>}
      {more && (
        <button type="button" class="quiet" onClick={() => load(more)}>
          Load more
        </button>
      )}
    </section>
  );
}
