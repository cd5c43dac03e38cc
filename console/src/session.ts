import { api, ApiError, useKey } from './api.ts';
import { forgetModels } from './models.ts';

/**
 * Who is signed in: an API key (a user: playground, tasks, own usage) or the admin key (the
 * operator: keys, usage of all, channels). Kept in sessionStorage, so it ends with the tab.
 */
export interface Session {
  key: string;
  role: 'user' | 'operator';
}

const STORAGE = 'vidgate.session';

export function savedSession(): Session | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null') as Session | null;
    if (saved && typeof saved.key === 'string' && (saved.role === 'user' || saved.role === 'operator')) {
      useKey(saved.key);
      return saved;
    }
  } catch {
    // Nothing usable saved.
  }
  return null;
}

/** Tries the key as the admin key, then as an API key; throws the gateway's refusal. */
export async function signIn(key: string): Promise<Session> {
  useKey(key);
  let role: Session['role'];
  try {
    await api('GET', '/admin/keys');
    role = 'operator';
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) throw error;
    try {
      await api('GET', '/v1/balance');
      role = 'user';
    } catch (refused) {
      useKey(null);
      throw refused;
    }
  }
  const session = { key, role };
  sessionStorage.setItem(STORAGE, JSON.stringify(session));
  return session;
}

export function signOut(): void {
  useKey(null);
  forgetModels();
  sessionStorage.removeItem(STORAGE);
}
