import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { dollars } from '../format.ts';
import type { Model, Video } from '../types.ts';
import { ErrorNote } from './ErrorNote.tsx';

/** A task as it runs (progress), then its video playing, with download, remix, edit and extend. */
export function VideoResult({ video, model, onRemixed }: { video: Video; model: Model | undefined; onRemixed?: (next: Video) => void }) {
  const [remix, setRemix] = useState('');
  const [error, setError] = useState<unknown>(null);
  const link = video.metadata?.url;
  return (
    <div class="card result" data-status={video.status}>
      <h2>
        <a href={`/console/tasks/${video.id}`}>{video.id}</a>
      </h2>
      <p>
        <span class={`status ${video.status}`} data-testid="status">
          {video.status}
        </span>{' '}
        {video.model} · {video.seconds ?? '?'} s · {video.size ?? 'default size'}
        {video.mode === 'test' ? ' · test mode' : ''}
      </p>
      {(video.status === 'queued' || video.status === 'in_progress') && (
        <progress data-testid="progress" max={100} value={video.progress}>
          {video.progress}%
        </progress>
      )}
      {video.status === 'failed' && video.error && (
        <p class="error">
          {video.error.code}: {video.error.message}
        </p>
      )}
      {video.status === 'completed' && link && (
        <>
          <video src={link} controls autoplay muted loop playsInline preload="auto" />
          <p class="actions">
            <a class="button" href={link} download={`${video.id}.mp4`}>
              Download
            </a>
            {model?.capabilities.edit_video && (
              <a class="button quiet" href={`/console/playground?source=${video.id}&model=${video.model}&capability=edit_video`}>
                Edit
              </a>
            )}
            {model?.capabilities.video_extend && (
              <a class="button quiet" href={`/console/playground?source=${video.id}&model=${video.model}&capability=video_extend`}>
                Extend
              </a>
            )}
          </p>
          {onRemixed && (
            <form
              class="row"
              onSubmit={async (event) => {
                event.preventDefault();
                setError(null);
                try {
                  onRemixed(await api<Video>('POST', `/v1/videos/${video.id}/remix`, { prompt: remix }, { 'idempotency-key': crypto.randomUUID() }));
                } catch (refused) {
                  setError(refused);
                }
              }}
            >
              <input name="remix" placeholder="Remix with a new prompt" value={remix} onInput={(event) => setRemix(event.currentTarget.value)} required />
              <button type="submit">Remix</button>
            </form>
          )}
        </>
      )}
      <p class="hint">
        Price {dollars(video.billing.price)}
        {video.billing.cost !== null ? ` · billed ${dollars(video.billing.cost)}` : ''}
      </p>
      <ErrorNote error={error} />
    </div>
  );
}
