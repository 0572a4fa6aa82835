import type { ReactNode } from 'react';
import type { PresenceClient, PresenceClientOptions, PresenceEntry } from './index.js';

export type { PresenceClient, PresenceEntry } from './index.js';

export interface WorkspacePresenceOptions
  extends Omit<PresenceClientOptions, 'host' | 'workspaceId' | 'getToken'> {
  /** Nothing connects while host or workspaceId is empty. */
  host: string | null | undefined;
  workspaceId: string | null | undefined;
  /** The latest function is used on every connect; it need not be stable. */
  getToken: () => Promise<string> | string;
  /** The app's current route; an update is sent whenever it or the resource changes. */
  currentPath: string | null | undefined;
  resourceType?: string | null;
  resourceId?: string | null;
}

export interface WorkspacePresence {
  /** Every other user present, by userId; a new Map on every change. */
  presenceMap: ReadonlyMap<string, PresenceEntry>;
  isConnected: boolean;
  /** The underlying client (null before the first effect and while disconnected from a workspace). */
  client: PresenceClient | null;
}

export function useWorkspacePresence(options: WorkspacePresenceOptions): WorkspacePresence;

export type FollowStopReason = 'went offline' | 'you navigated away' | 'stopped';

export interface FollowStop {
  userId: string;
  userName: string;
  reason: FollowStopReason;
}

export interface FollowModeProviderProps {
  /** `useWorkspacePresence().client`. */
  client: PresenceClient | null;
  /** Moves the app to a path, e.g. react-router's `navigate`. */
  navigate: (path: string, entry: PresenceEntry) => void;
  /** Told whenever following ends, with the reason. */
  onStop?: (stop: FollowStop) => void;
  children?: ReactNode;
}

export function FollowModeProvider(props: FollowModeProviderProps): ReactNode;

export interface FollowMode {
  followingUserId: string | null;
  followingUserName: string | null;
  isFollowing: boolean;
  startFollowing(userId: string, userName?: string): void;
  stopFollowing(): void;
  /** Why following last ended, until following starts again. */
  lastStop: FollowStop | null;
}

export function useFollowMode(): FollowMode;
