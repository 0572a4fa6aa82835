/** One user present in the workspace. Unset optional fields are absent. */
export interface PresenceEntry {
  readonly userId: string;
  readonly userName: string;
  readonly userImage: string | null;
  /** Where the user is; `""` while their location is not known yet. */
  readonly currentPath: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
}

/** Who this client is, as the server told it in the snapshot. */
export interface PresenceSelf {
  readonly userId: string;
  readonly connectionId: string;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'closed';

/**
 * Why a connection ended or failed: a code from the server
 * (`AUTH_EXPIRED`, `ROOM_FULL`, …) or one of the client's own.
 */
export type DisconnectReason =
  | 'CONNECTION_LOST'
  | 'PING_TIMEOUT'
  | 'CONNECT_TIMEOUT'
  | 'TOKEN_UNAVAILABLE'
  | 'CLOSED'
  | (string & {});

export type UnfollowReason = 'offline' | 'navigated' | 'stopped' | 'closed';

export interface PresenceError {
  readonly code: string;
  readonly message: string;
  /** True when the client has stopped because of it. */
  readonly fatal: boolean;
}

export interface StateDetail {
  /** While reconnecting: milliseconds until the next attempt. */
  readonly delay?: number;
  /** While reconnecting or stopped: what ended the last connection. */
  readonly reason?: DisconnectReason;
}

export interface PresenceEvents {
  /** The whole map was replaced (first message of a connection, or a resync). */
  snapshot: (presence: ReadonlyMap<string, PresenceEntry>) => void;
  joined: (entry: PresenceEntry) => void;
  changed: (entry: PresenceEntry, previous: PresenceEntry | undefined) => void;
  left: (entry: PresenceEntry) => void;
  connected: (info: { self: PresenceSelf }) => void;
  disconnected: (info: { reason: DisconnectReason; willReconnect: boolean }) => void;
  error: (error: PresenceError) => void;
  state: (state: ConnectionState, detail: StateDetail) => void;
  /** Following ended: the user went offline, you navigated away, or it was stopped. */
  unfollowed: (info: { userId: string; userName: string; reason: UnfollowReason }) => void;
}

export interface TimerFunctions {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The minimal WebSocket the client needs (the browser's, or `ws` in Node.js). */
/**
 * A handler property that a richer event type also satisfies: the browser's
 * `WebSocket` declares `onmessage` with a `MessageEvent`, and is still a
 * `WebSocketLike` (method parameters compare both ways).
 */
type Handler<E> = { handle(event: E): void }['handle'];

export interface WebSocketLike {
  readonly readyState: number;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface PresenceClientOptions {
  /** `host[:port]`, optionally with a scheme (`https://…`, `wss://…`). */
  host: string;
  /** The room is `presence-{workspaceId}`; 1-128 of `[A-Za-z0-9_-]`. */
  workspaceId: string;
  /** Called before every connection attempt and on `TOKEN_REFRESH_REQUIRED`. */
  getToken: () => Promise<string> | string;
  /** Force `wss:` (true) or `ws:` (false). Default: the page's protocol, else TLS unless the host is local. */
  secure?: boolean;
  /** Default `presence`. */
  party?: string;
  /** Stable connection key sent as `_pk`. Default: random, fixed for the client's life. */
  connectionKey?: string;
  /** Default `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** Ceiling of the first reconnect delay, ms. Default: random between 1000 and 5000. */
  minDelay?: number;
  /** Largest reconnect delay, ms. Default 10000. */
  maxDelay?: number;
  /** Growth of the delay ceiling per failed attempt. Default 1.3. */
  growFactor?: number;
  /** Time for a connection to be admitted, ms. Default 10000. */
  connectTimeout?: number;
  /** App-level ping period, ms. Default 10000. */
  pingInterval?: number;
  /** A ping unanswered this long means the connection is dead, ms. Default 5000. */
  pingTimeout?: number;
  /** Connected this long, the backoff starts over, ms. Default 5000. */
  stableAfter?: number;
  /** Wait before retrying a token refresh the server could not verify, ms. Default 5000. */
  refreshRetryDelay?: number;
  /** Where the `online` event comes from. Default `window` in browsers; `null` for none. */
  onlineTarget?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'> | null;
  /** Timers, for tests. */
  timers?: TimerFunctions;
  /** Uniform in [0, 1), for tests. */
  random?: () => number;
}

export interface PresenceClient {
  /** Every other user present, by userId. Replaced wholesale by each snapshot; do not mutate. */
  readonly presence: ReadonlyMap<string, PresenceEntry>;
  readonly isConnected: boolean;
  readonly state: ConnectionState;
  readonly self: PresenceSelf | null;
  /** The userId being followed, or null. */
  readonly following: string | null;
  readonly connectionKey: string;

  /** Subscribes; returns a function that unsubscribes. */
  on<E extends keyof PresenceEvents>(event: E, handler: PresenceEvents[E]): () => void;
  off<E extends keyof PresenceEvents>(event: E, handler: PresenceEvents[E]): void;

  /** Reports this user's location; kept and sent again after every reconnect. */
  update(currentPath: string, resourceType?: string | null, resourceId?: string | null): void;
  /**
   * Follows a user: `onNavigate` is called with their entry whenever they are
   * somewhere else. Calling `update()` with another path ends following with
   * reason `navigated`; their leaving ends it with `offline`.
   */
  follow(userId: string, onNavigate: (entry: PresenceEntry) => void): void;
  unfollow(): void;
  /** Closes the connection for good (a clean close: others see the user leave at once). */
  close(): void;
}

export function createPresenceClient(options: PresenceClientOptions): PresenceClient;

/** What the client does after a connection ends with `code`. */
export function reconnectPolicy(code: string, previous: string | null): 'stop' | 'now' | 'backoff';

/** The WebSocket URL of a workspace's room, as PartySocket builds it. */
export function roomUrl(parts: {
  host: string;
  party: string;
  workspaceId: string;
  secure?: boolean;
  connectionKey: string;
  token: string;
}): string;
