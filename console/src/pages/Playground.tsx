import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api } from '../api.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { MediaInput } from '../components/MediaInput.tsx';
import { VideoResult } from '../components/VideoResult.tsx';
import { followTask } from '../events.ts';
import { dollars } from '../format.ts';
import { loadModels } from '../models.ts';
import type { CapabilityInfo, Model, Video } from '../types.ts';

const CAPABILITY_NAMES: Record<string, string> = {
  text_to_video: 'Text to video',
  image_to_video: 'Image to video',
  first_last_frame: 'First and last frame',
  reference_to_video: 'Reference images',
  edit_video: 'Edit a video',
  video_extend: 'Extend a video',
};

/** The form's values, by catalog input (not by body key: the model's `fields` names those). */
interface Form {
  prompt: string;
  duration: string;
  resolution: string;
  aspectRatio: string;
  image: string;
  lastImage: string;
  images: string[];
  /** A URL or data URI, or `id:video_…` for one of the key's own videos. */
  video: string;
}

const EMPTY: Form = { prompt: '', duration: '', resolution: '', aspectRatio: '', image: '', lastImage: '', images: [], video: '' };

/** Sets `extra_body.seed`-style keys as nested objects, as the API reads them. */
function put(body: Record<string, unknown>, key: string, value: unknown): void {
  const [head, rest] = key.split(/\.(.*)/s, 2) as [string, string | undefined];
  if (rest === undefined) body[head] = value;
  else put((body[head] ??= {}) as Record<string, unknown>, rest, value);
}

/** The request this form makes, in the model's own dialect (the catalog's `fields`). */
export function requestBody(model: Model, rule: CapabilityInfo, form: Form): Record<string, unknown> {
  const body: Record<string, unknown> = { model: model.id };
  const field = (name: string) => model.fields[name] ?? name;
  put(body, field('prompt'), form.prompt);
  if (rule.duration && form.duration !== '') put(body, field('duration'), Number(form.duration));
  if (rule.resolutions.length > 0 && form.resolution) put(body, field('resolution'), form.resolution);
  if (Array.isArray(rule.aspect_ratios) && form.aspectRatio) put(body, field('aspect_ratio'), form.aspectRatio);
  if (rule.inputs.image && form.image) put(body, field('image'), form.image);
  if (rule.inputs.last_image && form.lastImage) put(body, field('last_image'), form.lastImage);
  if (rule.inputs.images) put(body, field('images'), form.images.filter(Boolean));
  if (rule.inputs.video && form.video) put(body, field('video'), form.video.startsWith('id:') ? { id: form.video.slice(3) } : form.video);
  return body;
}

export function Playground() {
  const { query } = useLocation();
  const [models, setModels] = useState<Model[]>([]);
  const [modelId, setModelId] = useState('');
  const [capability, setCapability] = useState('text_to_video');
  const [form, setForm] = useState<Form>(EMPTY);
  const [price, setPrice] = useState<{ amount: number | null; error: unknown }>({ amount: null, error: null });
  const [error, setError] = useState<unknown>(null);
  const [task, setTask] = useState<Video | null>(null);
  const stopFollowing = useRef<(() => void) | null>(null);

  useEffect(() => {
    loadModels().then(setModels, setError);
    return () => stopFollowing.current?.();
  }, []);
  // Opened on a video (Edit, Extend): its model, the capability and the video as the input.
  // The page stays mounted as its query changes, so this follows the query, not the first render.
  useEffect(() => {
    if (models.length === 0) return;
    setModelId((models.find((one) => one.id === query.model) ?? models.find((one) => one.id === modelId) ?? models[0]!).id);
    if (query.capability) setCapability(query.capability);
    if (query.source) setForm((old) => ({ ...old, video: `id:${query.source}` }));
  }, [models, query.model, query.capability, query.source]);

  const model = models.find((one) => one.id === modelId);
  const rule = model?.capabilities[capability] ?? (model ? Object.values(model.capabilities)[0] : undefined);
  const chosen = model && rule ? (Object.entries(model.capabilities).find(([, one]) => one === rule)?.[0] ?? capability) : capability;
  const body = useMemo(() => (model && rule ? requestBody(model, rule, form) : null), [model, rule, form]);

  // The price of exactly this request, from the gateway (the same quote a create makes), as the form changes.
  useEffect(() => {
    if (!body || !rule || form.prompt.trim() === '') return setPrice({ amount: null, error: null });
    const timer = setTimeout(() => {
      api<{ price: number }>('POST', `${rule.route}/quotes`, body).then(
        (answer) => setPrice({ amount: answer.price, error: null }),
        (refused: unknown) => setPrice({ amount: null, error: refused }),
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [body, rule]);

  const set = <K extends keyof Form>(name: K, value: Form[K]) => setForm((old) => ({ ...old, [name]: value }));

  async function submit(event: Event) {
    event.preventDefault();
    if (!body || !rule) return;
    setError(null);
    stopFollowing.current?.();
    try {
      const created = await api<Video>('POST', rule.route, body, { 'idempotency-key': crypto.randomUUID() });
      setTask(created);
      const follow = followTask(created.id, setTask);
      stopFollowing.current = follow.stop;
      const last = await follow.done;
      // A stream cut short (a proxy, a restart) ends with one plain read.
      if (!last || last.status === 'queued' || last.status === 'in_progress') setTask(await api<Video>('GET', `/v1/videos/${created.id}`));
    } catch (refused) {
      setError(refused);
    }
  }

  if (!model || !rule) return <ErrorNote error={error} />;
  const running = task !== null && (task.status === 'queued' || task.status === 'in_progress');
  return (
    <section class="playground">
      <form class="card" onSubmit={submit}>
        <h1>Playground</h1>
        <label>
          Model
          <select
            name="model"
            value={model.id}
            onChange={(event) => {
              // The form keeps what was entered (a chosen file stays chosen); the new model's rule decides what is sent.
              setModelId(event.currentTarget.value);
            }}
          >
            {models.map((one) => (
              <option value={one.id}>{one.id}</option>
            ))}
          </select>
        </label>
        <p class="hint">
          {model.description}
          {model.served_by === 'local-preview' ? ' · made by the local preview renderer' : ''}
        </p>
        <label>
          What to make
          <select name="capability" value={chosen} onChange={(event) => setCapability(event.currentTarget.value)}>
            {Object.keys(model.capabilities).map((name) => (
              <option value={name}>{CAPABILITY_NAMES[name] ?? name}</option>
            ))}
          </select>
        </label>
        <label>
          Prompt
          <textarea name="prompt" rows={3} maxLength={model.prompt_max_length} value={form.prompt} onInput={(event) => set('prompt', event.currentTarget.value)} required />
        </label>
        <div class="row">
          {rule.duration && (
            <label>
              Seconds ({rule.duration.min === rule.duration.max ? rule.duration.min : `${rule.duration.min}–${rule.duration.max}`})
              <input
                name="duration"
                type="number"
                min={rule.duration.min}
                max={rule.duration.max}
                step={1}
                placeholder={rule.duration.default === null ? 'required' : String(rule.duration.default)}
                required={rule.duration.default === null}
                value={form.duration}
                onInput={(event) => set('duration', event.currentTarget.value)}
              />
            </label>
          )}
          {rule.resolutions.length > 0 && (
            <label>
              Resolution
              <select name="resolution" value={form.resolution} onChange={(event) => set('resolution', event.currentTarget.value)}>
                <option value="">default ({rule.resolutions[0]})</option>
                {rule.resolutions.map((one) => (
                  <option value={one}>{one}</option>
                ))}
              </select>
            </label>
          )}
          {Array.isArray(rule.aspect_ratios) && (
            <label>
              Aspect ratio
              <select name="aspect_ratio" value={form.aspectRatio} onChange={(event) => set('aspectRatio', event.currentTarget.value)}>
                <option value="">default</option>
                {rule.aspect_ratios.map((one) => (
                  <option value={one}>{one}</option>
                ))}
              </select>
            </label>
          )}
        </div>
        {rule.inputs.image && <MediaInput label="Image" kind="image" name="image" value={form.image} onChange={(value) => set('image', value)} required />}
        {rule.inputs.last_image && <MediaInput label="Last frame" kind="image" name="last_image" value={form.lastImage} onChange={(value) => set('lastImage', value)} />}
        {rule.inputs.images &&
          Array.from({ length: Math.min(rule.inputs.images.max, form.images.filter(Boolean).length + 1) }, (_, index) => (
            <MediaInput
              label={`Reference image ${index + 1}`}
              kind="image"
              name={`images-${index}`}
              value={form.images[index] ?? ''}
              onChange={(value) => set('images', Object.assign([...form.images], { [index]: value }))}
              required={index < rule.inputs.images!.min}
            />
          ))}
        {rule.inputs.video && (
          <MediaInput
            label={rule.inputs.input_video_seconds ? `Video (${rule.inputs.input_video_seconds.min}–${rule.inputs.input_video_seconds.max} s)` : 'Video'}
            kind="video"
            name="video"
            value={form.video}
            onChange={(value) => set('video', value)}
            required
          />
        )}
        <p class="price" data-testid="price">
          {price.amount !== null ? <>Price: at most {dollars(price.amount)}</> : price.error ? <ErrorNote error={price.error} /> : 'Price: fill in the form'}
        </p>
        <button type="submit" disabled={running}>
          {running ? 'Making…' : 'Make the video'}
        </button>
        <ErrorNote error={error} />
      </form>
      {task && (
        <VideoResult
          video={task}
          model={models.find((one) => one.id === task.model)}
          onRemixed={(next) => {
            setTask(next);
            const follow = followTask(next.id, setTask);
            stopFollowing.current = follow.stop;
          }}
        />
      )}
    </section>
  );
}
