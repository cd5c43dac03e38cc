import { render } from 'preact';
import { useState } from 'preact/hooks';
import { LocationProvider, Route, Router } from 'preact-iso';
import { Layout } from './components/Layout.tsx';
import { Channels } from './pages/Channels.tsx';
import { Keys } from './pages/Keys.tsx';
import { Playground } from './pages/Playground.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { TaskDetail } from './pages/TaskDetail.tsx';
import { Tasks } from './pages/Tasks.tsx';
import { Usage } from './pages/Usage.tsx';
import { savedSession, type Session, signOut } from './session.ts';
import './style.css';

export const BASE = '/console';

function App() {
  const [session, setSession] = useState<Session | null>(savedSession);
  if (!session) return <SignIn onSignedIn={setSession} />;
  const user = session.role === 'user';
  return (
    <LocationProvider>
      <Layout
        session={session}
        onSignOut={() => {
          signOut();
          setSession(null);
        }}
      >
        <Router>
          {user ? <Route path={`${BASE}/`} component={Playground} /> : <Route path={`${BASE}/`} component={Keys} />}
          {user ? <Route path={`${BASE}/playground`} component={Playground} /> : <></>}
          {user ? <Route path={`${BASE}/tasks`} component={Tasks} /> : <></>}
          {user ? <Route path={`${BASE}/tasks/:id`} component={TaskDetail} /> : <></>}
          {user ? <></> : <Route path={`${BASE}/keys`} component={Keys} />}
          {user ? <></> : <Route path={`${BASE}/channels`} component={Channels} />}
          <Route path={`${BASE}/usage`} component={() => <Usage operator={!user} />} />
          <Route default component={() => <p class="note">No such page.</p>} />
        </Router>
      </Layout>
    </LocationProvider>
  );
}

render(<App />, document.getElementById('app')!);
