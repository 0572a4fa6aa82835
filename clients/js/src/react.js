// @ts-check
/**
 * React bindings: `useWorkspacePresence` keeps one connection per workspace
 * and reports the current location; `FollowModeProvider` / `useFollowMode`
 * move the app wherever the followed user goes.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { createPresenceClient } from './client.js';

/** @typedef {import('../index.d.ts').PresenceClient} PresenceClient */
/** @typedef {import('../index.d.ts').PresenceEntry} PresenceEntry */
/** @typedef {import('../react.d.ts').FollowStop} FollowStop */
/** @typedef {import('../react.d.ts').FollowMode} FollowMode */

/** @type {readonly (keyof import('../index.d.ts').PresenceEvents)[]} */
const PRESENCE_EVENTS = ['snapshot', 'joined', 'changed', 'left', 'state'];

/**
 * The app's words for why following ended, by the client's reason.
 *
 * @type {Record<import('../index.d.ts').UnfollowReason, import('../react.d.ts').FollowStopReason>}
 */
const STOP_REASONS = {
  offline: 'went offline',
  navigated: 'you navigated away',
  stopped: 'stopped',
  closed: 'stopped',
};

/**
 * Keeps a ref pointing at the latest value, for callbacks created once.
 *
 * @template T
 * @param {T} value
 */
function useLatest(value) {
  const ref = useRef(value);
  useEffect(() => {
    ref.current = value;
  });
  return ref;
}

/**
 * Connects to a workspace's presence room while the component is mounted (and
 * `host` and `workspaceId` stay the same), and sends `presence_update`
 * whenever the location changes.
 *
 * @param {import('../react.d.ts').WorkspacePresenceOptions} options
 * @returns {import('../react.d.ts').WorkspacePresence}
 */
export function useWorkspacePresence({ host, workspaceId, getToken, currentPath, resourceType, resourceId, ...clientOptions }) {
  const getTokenRef = useLatest(getToken);
  const clientOptionsRef = useLatest(clientOptions);
  const [client, setClient] = useState(/** @type {PresenceClient | null} */ (null));
  const [presenceMap, setPresenceMap] = useState(() => /** @type {ReadonlyMap<string, PresenceEntry>} */ (new Map()));
  const [isConnected, setConnected] = useState(false);

  useEffect(() => {
    if (!host || !workspaceId) return undefined;
    const created = createPresenceClient({
      ...clientOptionsRef.current,
      host,
      workspaceId,
      getToken: () => getTokenRef.current(),
    });
    const sync = () => {
      setPresenceMap(new Map(created.presence));
      setConnected(created.isConnected);
    };
    const unsubscribe = PRESENCE_EVENTS.map((event) => created.on(event, sync));
    setClient(created);
    return () => {
      unsubscribe.forEach((off) => off());
      created.close();
      setClient(null);
      setPresenceMap(new Map());
      setConnected(false);
    };
  }, [host, workspaceId, getTokenRef, clientOptionsRef]);

  useEffect(() => {
    if (client && currentPath) client.update(currentPath, resourceType, resourceId);
  }, [client, currentPath, resourceType, resourceId]);

  return { presenceMap, isConnected, client };
}

const FollowModeContext = createContext(/** @type {FollowMode | null} */ (null));

/**
 * Provides follow mode to the tree below it.
 *
 * @param {import('../react.d.ts').FollowModeProviderProps} props
 */
export function FollowModeProvider({ client, navigate, onStop, children }) {
  const [following, setFollowing] = useState(/** @type {{ userId: string, userName: string } | null} */ (null));
  const [lastStop, setLastStop] = useState(/** @type {FollowStop | null} */ (null));
  const navigateRef = useLatest(navigate);
  const onStopRef = useLatest(onStop);

  useEffect(() => {
    if (!client) return undefined;
    const off = client.on('unfollowed', ({ userId, userName, reason }) => {
      setFollowing((current) => (current?.userId === userId ? null : current));
      const stop = { userId, userName, reason: STOP_REASONS[reason] };
      setLastStop(stop);
      onStopRef.current?.(stop);
    });
    return () => {
      off();
      setFollowing(null);
    };
  }, [client, onStopRef]);

  const startFollowing = useCallback(
    /** @type {FollowMode['startFollowing']} */
    (userId, userName) => {
      if (!client) return;
      const name = userName ?? client.presence.get(userId)?.userName ?? userId;
      setFollowing({ userId, userName: name });
      setLastStop(null);
      client.follow(userId, (entry) => navigateRef.current(entry.currentPath, entry));
    },
    [client, navigateRef],
  );

  const stopFollowing = useCallback(() => client?.unfollow(), [client]);

  const value = useMemo(
    /** @returns {FollowMode} */
    () => ({
      followingUserId: following?.userId ?? null,
      followingUserName: following?.userName ?? null,
      isFollowing: following !== null,
      startFollowing,
      stopFollowing,
      lastStop,
    }),
    [following, startFollowing, stopFollowing, lastStop],
  );
  return createElement(FollowModeContext.Provider, { value }, children);
}

/**
 * Follow mode from the nearest `FollowModeProvider`.
 *
 * @returns {import('../react.d.ts').FollowMode}
 */
export function useFollowMode() {
  const value = useContext(FollowModeContext);
  if (!value) throw new Error('useFollowMode() must be used inside <FollowModeProvider>');
  return value;
}
