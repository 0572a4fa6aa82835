/**
 * A page shaped like the product's app: react state for the route (as
 * react-router would keep it), useWorkspacePresence for the connection and
 * FollowModeProvider for follow mode. The browser tests drive it through the
 * same data-testid hooks as the demo.
 */
import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useWorkspacePresence, FollowModeProvider, useFollowMode } from '@presenced/client/react';

const PAGES = [
  '/w/ws1',
  '/w/ws1/channels/general',
  '/w/ws1/channels/design',
  '/w/ws1/channels/random',
  '/w/ws1/documents/42',
  '/w/ws1/documents/7',
  '/w/ws1/diagrams/3',
  '/w/ws1/projects/billing',
  '/w/ws1/tasks/5',
  '/w/ws1/tasks/12',
  '/w/ws1/tasks/31',
];
const TYPES = { channels: 'channel', documents: 'document', diagrams: 'diagram', projects: 'project', tasks: 'task' };

function identity() {
  const params = new URLSearchParams(location.search);
  if (params.get('user')) {
    sessionStorage.setItem('identity', JSON.stringify({ user: params.get('user'), name: params.get('name') }));
    history.replaceState(null, '', location.pathname);
  }
  return JSON.parse(sessionStorage.getItem('identity'));
}

/** The route as react-router would hold it: state, pushState, popstate. */
function useRoute() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to) => {
    if (to === location.pathname) return;
    history.pushState(null, '', to);
    setPath(to);
  }, []);
  return [path, navigate];
}

function People({ presenceMap }) {
  const { followingUserId, startFollowing, stopFollowing } = useFollowMode();
  return (
    <ul data-testid="people">
      {[...presenceMap.values()].map((u) => (
        <li key={u.userId} data-user-id={u.userId} data-path={u.currentPath}>
          {u.userName} at {u.currentPath || 'unknown'}{' '}
          {followingUserId === u.userId
            ? <button onClick={stopFollowing}>Stop</button>
            : <button data-follow={u.userId} onClick={() => startFollowing(u.userId, u.userName)}>Follow</button>}
        </li>
      ))}
    </ul>
  );
}

function FollowPill() {
  const { isFollowing, followingUserName, stopFollowing, lastStop } = useFollowMode();
  return (
    <>
      <div data-testid="follow-pill" hidden={!isFollowing}>
        Following <b data-testid="follow-pill-name">{followingUserName}</b>
        <button data-testid="follow-pill-close" onClick={stopFollowing}>×</button>
      </div>
      {lastStop && <p data-testid="stop-reason" data-user-id={lastStop.userId}>{lastStop.reason}</p>}
    </>
  );
}

function App({ me }) {
  const [path, navigate] = useRoute();
  const [, kind, id] = path.match(/^\/w\/ws1\/([a-z]+)\/([\w-]+)$/) ?? [];
  const presence = useWorkspacePresence({
    host: location.host,
    workspaceId: 'ws1',
    getToken: async () => {
      const res = await fetch(`/dev/token?${new URLSearchParams({ user: me.user, name: me.name, workspace: 'ws1' })}`);
      return (await res.json()).token;
    },
    currentPath: path,
    resourceType: TYPES[kind],
    resourceId: id,
  });
  return (
    <FollowModeProvider client={presence.client} navigate={navigate}>
      <header>
        <span data-testid="connection" data-state={presence.isConnected ? 'connected' : 'disconnected'}>
          {presence.isConnected ? 'Live' : 'Offline'}
        </span>
        <FollowPill />
      </header>
      <nav data-testid="sidebar">
        {PAGES.map((p) => (
          <a key={p} href={p} data-path={p} onClick={(e) => { e.preventDefault(); navigate(p); }}>{p}</a>
        ))}
      </nav>
      <h1 data-testid="page-title">{path}</h1>
      <People presenceMap={presence.presenceMap} />
    </FollowModeProvider>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App me={identity()} />
  </StrictMode>,
);
