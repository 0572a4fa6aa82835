/**
 * The product's integration, with react-router: one presence connection per
 * workspace, follow mode for the whole app, and a follow indicator.
 */
import type { ReactNode } from 'react';
import { useCallback } from 'react';
import {
  FollowModeProvider,
  useFollowMode,
  useWorkspacePresence,
  type FollowStop,
} from '@presenced/client/react';
import type { PresenceEntry } from '@presenced/client';

/** What the app's router gives (react-router's useNavigate / useLocation / useParams). */
export interface RouteProps {
  workspaceId: string;
  pathname: string;
  resourceType?: 'channel' | 'document' | 'diagram' | 'project' | 'task';
  resourceId?: string;
  navigate: (path: string) => void;
  /** The app's existing action that signs `presence-{workspaceId}` for the user. */
  getCollaborationToken: (roomId: string) => Promise<string>;
  toast: (text: string) => void;
  children?: ReactNode;
}

export function WorkspacePresence({ workspaceId, pathname, resourceType, resourceId, navigate, getCollaborationToken, toast, children }: RouteProps) {
  const { client } = useWorkspacePresence({
    host: 'presence.example.com',
    workspaceId,
    getToken: () => getCollaborationToken(`presence-${workspaceId}`),
    currentPath: pathname,
    resourceType,
    resourceId,
  });
  const onStop = useCallback(
    (stop: FollowStop) => {
      if (stop.reason !== 'stopped') toast(`Stopped following ${stop.userName}: ${stop.reason}`);
    },
    [toast],
  );
  return (
    <FollowModeProvider client={client} navigate={(path) => navigate(path)} onStop={onStop}>
      {children}
    </FollowModeProvider>
  );
}

/** A follow button on a participant tile. */
export function FollowButton({ user }: { user: PresenceEntry }) {
  const { followingUserId, startFollowing, stopFollowing } = useFollowMode();
  const following = followingUserId === user.userId;
  return (
    <button type="button" onClick={() => (following ? stopFollowing() : startFollowing(user.userId, user.userName))}>
      {following ? `Following ${user.userName}` : 'Follow'}
    </button>
  );
}

/** The indicator the app already has, fed from the provider. */
export function FollowModeIndicator() {
  const { isFollowing, followingUserName, stopFollowing } = useFollowMode();
  if (!isFollowing) return null;
  return (
    <div role="status">
      Following {followingUserName} <button type="button" onClick={stopFollowing} aria-label="Stop following">×</button>
    </div>
  );
}
