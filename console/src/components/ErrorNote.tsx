import { ApiError } from '../api.ts';

/** A gateway refusal as a person reads it: the message, and the field it names. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const param = error instanceof ApiError && error.param ? ` (${error.param})` : '';
  return (
    <p class="error" role="alert">
      {message}
      {param}
    </p>
  );
}
