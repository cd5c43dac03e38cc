import { useEffect, useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api } from '../api.ts';
import { Deliveries } from '../components/Deliveries.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { VideoResult } from '../components/VideoResult.tsx';
import { followTask } from '../events.ts';
import { when } from '../format.ts';
import { loadModels } from '../models.ts';
import type { Model, Video } from '../types.ts';

/** One task: its video or progress, what was asked, its error, cost and timeline; cancel and delete. */
export function TaskDetail() {
  const { params } = useRoute();
  const { route } = useLocation();
  const id = params.id!;
  const [video, setVideo] = useState<Video | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [models, setModels] = useState<Model[]>([]);

  useEffect(() => {
    loadModels().then(setModels, () => undefined);
  }, []);
  useEffect(() => {
    let follow: ReturnType<typeof followTask> | null = null;
    api<Video>('GET', `/v1/videos/${id}`).then((found) => {
      setVideo(found);
      if (found.status === 'queued' || found.status === 'in_progress') follow = followTask(id, setVideo);
    }, setError);
    return () => follow?.stop();
  }, [id]);

  if (!video) return <ErrorNote error={error} />;
  const running = video.status === 'queued' || video.status === 'in_progress';
  return (
    <section class="detail">
      <VideoResult video={video} model={models.find((one) => one.id === video.model)} />
      <div class="card">
        <h2>Request</h2>
        <dl>
          <dt>Prompt</dt>
          <dd>{video.prompt}</dd>
          <dt>Model</dt>
          <dd>{video.model}</dd>
          <dt>Seconds</dt>
          <dd>{video.seconds ?? '—'}</dd>
          <dt>Size</dt>
          <dd>{video.size ?? '—'}</dd>
          {video.remixed_from_video_id && (
            <>
              <dt>Remix of</dt>
              <dd>
                <a href={`/console/tasks/${video.remixed_from_video_id}`}>{video.remixed_from_video_id}</a>
              </dd>
            </>
          )}
          {video.warnings && video.warnings.length > 0 && (
            <>
              <dt>Warnings</dt>
              <dd>{video.warnings.join('; ')}</dd>
            </>
          )}
        </dl>
        <h2>Timeline</h2>
        <dl>
          <dt>Created</dt>
          <dd>{when(video.created_at)}</dd>
          <dt>Finished</dt>
          <dd>{when(video.completed_at)}</dd>
          <dt>Expires</dt>
          <dd>{when(video.expires_at)}</dd>
        </dl>
        <Deliveries videoId={id} status={video.status} />
        <p class="actions">
          {running && (
            <button type="button" onClick={() => api<Video>('POST', `/v1/videos/${id}/cancel`).then(setVideo, setError)}>
              Cancel
            </button>
          )}
          <button
            type="button"
            class="danger"
            onClick={async () => {
              if (!confirm(`Delete ${id} and its files?`)) return;
              try {
                await api('DELETE', `/v1/videos/${id}`);
                route('/console/tasks');
              } catch (refused) {
                setError(refused);
              }
            }}
          >
            Delete
          </button>
        </p>
        <ErrorNote error={error} />
      </div>
    </section>
  );
}
