import { useState } from 'preact/hooks';

/**
 * An input image or video: a file from this device (sent as a data URI, as the API takes
 * it) or a URL; a value `id:video_…` stands for one of the key's own videos.
 */
export function MediaInput(props: { label: string; kind: 'image' | 'video'; name: string; value: string; onChange: (value: string) => void; required?: boolean }) {
  const { label, kind, name, value, onChange, required } = props;
  const [fileName, setFileName] = useState<string | null>(null);
  const own = value.startsWith('id:');
  return (
    <fieldset class="media">
      <legend>{label}</legend>
      {own ? (
        <p>
          Your video <code>{value.slice(3)}</code>{' '}
          <button type="button" class="quiet" onClick={() => onChange('')}>
            Choose another
          </button>
        </p>
      ) : (
        <>
          <input
            name={`${name}-file`}
            type="file"
            accept={`${kind}/*`}
            onChange={(event) => {
              const file = event.currentTarget.files?.[0];
              if (!file) return;
              const reader = new FileReader();
              reader.onload = () => {
                setFileName(file.name);
                onChange(String(reader.result));
              };
              reader.readAsDataURL(file);
            }}
          />
          <input
            name={`${name}-url`}
            type="url"
            placeholder="or https://…"
            value={value.startsWith('data:') ? '' : value}
            required={required && value === ''}
            onInput={(event) => {
              setFileName(null);
              onChange(event.currentTarget.value);
            }}
          />
          {fileName && value.startsWith('data:') && <p class="hint">{fileName}</p>}
        </>
      )}
    </fieldset>
  );
}
