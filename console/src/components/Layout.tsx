import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import type { Session } from '../session.ts';

const PAGES = {
  user: [
    ['playground', 'Playground'],
    ['tasks', 'Tasks'],
    ['usage', 'Usage'],
  ],
  operator: [
    ['keys', 'Keys'],
    ['usage', 'Usage'],
    ['channels', 'Channels'],
  ],
} as const;

export function Layout({ session, onSignOut, children }: { session: Session; onSignOut: () => void; children: ComponentChildren }) {
  const { path } = useLocation();
  return (
    <div class="shell">
      <header>
        <a class="brand" href="/console/">
          vidgate
        </a>
        <nav>
          {PAGES[session.role].map(([page, label]) => (
            <a href={`/console/${page}`} class={path.startsWith(`/console/${page}`) ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">{session.role === 'operator' ? 'operator' : `${session.key.slice(0, session.key.startsWith('sk-test-') ? 12 : 7)}…`}</span>
        <button type="button" class="quiet" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>{children}</main>
    </div>
  );
}
