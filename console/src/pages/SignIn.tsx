import { useState } from 'preact/hooks';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { type Session, signIn } from '../session.ts';

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="signin"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setError(null);
        try {
          onSignedIn(await signIn(key.trim()));
        } catch (refused) {
          setError(refused);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h1>vidgate</h1>
      <p>Sign in with an API key to make videos, or with the admin key to manage keys, usage and channels. The key stays in this tab only.</p>
      <label>
        Key
        <input name="key" type="password" autocomplete="off" value={key} onInput={(event) => setKey(event.currentTarget.value)} required />
      </label>
      <button type="submit" disabled={busy || key.trim() === ''}>
        Sign in
      </button>
      <ErrorNote error={error} />
    </form>
  );
}
