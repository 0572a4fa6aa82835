/**
 * @presenced/client: who is where in a workspace, kept live over one
 * WebSocket to presenced (or any server speaking its protocol).
 *
 * No dependencies: it runs in browsers, and in Node.js given a WebSocket
 * implementation such as the `ws` package.
 */
import { createBackoff } from './backoff.js';

const OPEN = 1;
const WORKSPACE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const CONNECTION_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const FOLLOW_MEMORY = 16;

/** Failures after which reconnecting cannot help: the client stops. */
const FATAL = new Set(['AUTH_FORBIDDEN', 'PERMISSION_REVOKED', 'TOO_MANY_CONNECTIONS', 'REPLACED']);

const DEFAULTS = {
  party: 'presence',
  maxDelay: 10_000,
  growFactor: 1.3,
  connectTimeout: 10_000,
  pingInterval: 10_000,
  pingTimeout: 5_000,
  stableAfter: 5_000,
  refreshRetryDelay: 5_000,
};

/**
 * What the client does after a connection ends with `code`.
 *
 * @param {string} code the error code the server sent, or the client's own
 *   (`CONNECTION_LOST`, `PING_TIMEOUT`, `CONNECT_TIMEOUT`, `TOKEN_UNAVAILABLE`)
 * @param {string | null} previous the code that ended the connection before
 * @returns {'stop' | 'now' | 'backoff'}
 */
export function reconnectPolicy(code, previous) {
  if (FATAL.has(code)) return 'stop';
  if (code === 'AUTH_EXPIRED' && previous !== 'AUTH_EXPIRED') return 'now';
  return 'backoff';
}

/**
 * The WebSocket URL of a workspace's room, as PartySocket builds it.
 *
 * @param {{ host: string, party: string, workspaceId: string, secure?: boolean,
 *           connectionKey: string, token: string }} parts
 * @returns {string}
 */
export function roomUrl({ host, party, workspaceId, secure, connectionKey, token }) {
  const scheme = host.match(/^(wss?|https?):\/\//i);
  const bare = scheme ? host.slice(scheme[0].length) : host;
  const tls = secure ?? (scheme ? /s$/i.test(scheme[1]) : defaultSecure(bare));
  const query = new URLSearchParams({ token, _pk: connectionKey });
  const base = bare.replace(/\/+$/, '');
  return `${tls ? 'wss' : 'ws'}://${base}/parties/${party}/${workspaceId}?${query}`;
}

function defaultSecure(host) {
  const page = globalThis.location?.protocol;
  if (page === 'https:' || page === 'http:') return page === 'https:';
  return !/^(localhost|127\.|\[::1\]|0\.0\.0\.0|10\.|192\.168\.)/.test(host);
}

function ignore() {}

function randomKey(random) {
  let key = '';
  for (let i = 0; i < 16; i += 1) key += KEY_ALPHABET[Math.floor(random() * KEY_ALPHABET.length)];
  return key;
}

function cryptoRandom() {
  const buf = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buf);
  return buf[0] / 2 ** 32;
}

/** A presence entry as the server describes it, with unset fields omitted. */
function toEntry(msg, previous) {
  const entry = {
    userId: msg.userId,
    userName: msg.userName ?? previous?.userName ?? msg.userId,
    userImage: msg.userImage !== undefined ? msg.userImage : (previous?.userImage ?? null),
    currentPath: msg.currentPath ?? previous?.currentPath ?? '',
  };
  const located = msg.currentPath !== undefined;
  const resourceType = located ? msg.resourceType : previous?.resourceType;
  const resourceId = located ? msg.resourceId : previous?.resourceId;
  if (resourceType != null) entry.resourceType = resourceType;
  if (resourceId != null) entry.resourceId = resourceId;
  return Object.freeze(entry);
}

/** A throwing event handler must not break the client: report it the way the platform reports uncaught errors. */
function reportHandlerError(err) {
  if (typeof globalThis.reportError === 'function') {
    globalThis.reportError(err);
  } else {
    setTimeout(() => {
      throw err;
    }, 0);
  }
}

function createEmitter() {
  const handlers = new Map();
  return {
    on(event, handler) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(handler);
      return () => this.off(event, handler);
    },
    off(event, handler) {
      handlers.get(event)?.delete(handler);
    },
    emit(event, ...args) {
      for (const handler of [...(handlers.get(event) ?? [])]) {
        try {
          handler(...args);
        } catch (err) {
          reportHandlerError(err);
        }
      }
    },
  };
}

/**
 * Creates a client and starts connecting at once.
 *
 * @param {import('../index.d.ts').PresenceClientOptions} options
 * @returns {import('../index.d.ts').PresenceClient}
 */
export function createPresenceClient(options) {
  const opts = { ...DEFAULTS, ...options };
  const { host, workspaceId, getToken } = opts;
  if (typeof host !== 'string' || host === '') throw new TypeError('host must be a non-empty string');
  if (!WORKSPACE_ID.test(workspaceId ?? '')) throw new TypeError('workspaceId must be 1-128 of [A-Za-z0-9_-]');
  if (typeof getToken !== 'function') throw new TypeError('getToken must be a function');
  if (opts.connectionKey !== undefined && !CONNECTION_KEY.test(opts.connectionKey)) {
    throw new TypeError('connectionKey must be 1-64 of [A-Za-z0-9_-]');
  }
  const WebSocketImpl = opts.WebSocket ?? globalThis.WebSocket;
  if (typeof WebSocketImpl !== 'function') throw new TypeError('no WebSocket implementation: pass options.WebSocket');

  const random = opts.random ?? (globalThis.crypto?.getRandomValues ? cryptoRandom : Math.random);
  const setTimer = opts.timers?.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = opts.timers?.clearTimeout ?? ((id) => globalThis.clearTimeout(id));
  const onlineTarget = opts.onlineTarget !== undefined ? opts.onlineTarget : (globalThis.window ?? null);
  const connectionKey = opts.connectionKey ?? randomKey(random);
  const backoff = createBackoff({
    minDelay: opts.minDelay ?? 1000 + random() * 4000,
    maxDelay: opts.maxDelay,
    growFactor: opts.growFactor,
    random,
  });
  const emitter = createEmitter();

  const presence = new Map();
  const timers = {};
  let state = 'connecting';
  let self = null;
  let location = null;
  let follow = null;
  let socket = null;
  let abandoned = null;
  let accepted = false;
  let failure = null;
  let lastFailure = null;
  let attempt = 0;
  let pingId = 0;
  let serverIdleTimeout = 0;

  function setTimerNamed(name, ms, fn) {
    clearNamed(name);
    timers[name] = setTimer(() => {
      delete timers[name];
      fn();
    }, ms);
  }

  function clearNamed(name) {
    if (timers[name] !== undefined) clearTimer(timers[name]);
    delete timers[name];
  }

  function setState(next, detail = {}) {
    state = next;
    emitter.emit('state', next, detail);
  }

  function send(msg) {
    if (socket?.readyState !== OPEN || !accepted) return false;
    socket.send(JSON.stringify(msg));
    return true;
  }

  function sendLocation() {
    if (!location) return;
    const msg = { type: 'presence_update', currentPath: location.currentPath };
    if (location.resourceType != null) msg.resourceType = location.resourceType;
    if (location.resourceId != null) msg.resourceId = location.resourceId;
    send(msg);
  }

  async function connect() {
    attempt += 1;
    const mine = attempt;
    setState('connecting');
    let token;
    try {
      token = await getToken();
      if (typeof token !== 'string' || token === '') throw new Error('getToken() gave no token');
    } catch (err) {
      if (mine !== attempt) return;
      emitter.emit('error', { code: 'TOKEN_UNAVAILABLE', message: String(err?.message ?? err), fatal: false });
      afterFailure('TOKEN_UNAVAILABLE');
      return;
    }
    if (mine !== attempt) return;
    open(token);
  }

  function open(token) {
    const url = roomUrl({ host, party: opts.party, workspaceId, secure: opts.secure, connectionKey, token });
    accepted = false;
    failure = null;
    let ws;
    try {
      ws = new WebSocketImpl(url);
    } catch (err) {
      failure = { code: 'CONNECTION_LOST', message: String(err?.message ?? err) };
      connectionEnded('CONNECTION_LOST');
      return;
    }
    socket = ws;
    ws.onmessage = (event) => onMessage(event.data);
    ws.onclose = (event) => onClose(ws, event);
    ws.onerror = ignore;
    setTimerNamed('connect', opts.connectTimeout, () => dropSocket('CONNECT_TIMEOUT'));
  }

  /** Stops listening to a socket; errors stay handled (Node's `ws` throws unhandled ones). */
  function detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = ignore;
  }

  /** Leaves a connection that seems dead without a close frame, so a new one with the same key takes its place on the server. */
  function dropSocket(code) {
    if (!socket) return;
    detach(socket);
    abandoned?.close();
    abandoned = socket;
    socket = null;
    connectionEnded(code);
  }

  function onClose(ws, event) {
    if (ws !== socket) return;
    detach(ws);
    socket = null;
    const reason = /^[A-Z][A-Z_]+$/.test(event?.reason ?? '') ? event.reason : null;
    connectionEnded(failure?.code ?? reason ?? 'CONNECTION_LOST');
  }

  function connectionEnded(code) {
    for (const name of ['connect', 'ping', 'pong', 'stable', 'refresh']) clearNamed(name);
    const wasAccepted = accepted;
    accepted = false;
    const policy = reconnectPolicy(code, lastFailure);
    if (failure || policy === 'stop') {
      emitter.emit('error', { code, message: failure?.message ?? code, fatal: policy === 'stop' });
    }
    if (wasAccepted) emitter.emit('disconnected', { reason: code, willReconnect: policy !== 'stop' });
    afterFailure(code, policy);
  }

  function afterFailure(code, policy = reconnectPolicy(code, lastFailure)) {
    lastFailure = code;
    if (policy === 'stop') {
      stop(code);
    } else if (policy === 'now') {
      connect();
    } else {
      const delay = backoff.next();
      setTimerNamed('retry', delay, connect);
      setState('reconnecting', { delay, reason: code });
    }
  }

  function stop(code) {
    presence.clear();
    endFollow('closed');
    setState('stopped', { reason: code });
  }

  /** Any message, a pong included, shows the connection is alive. */
  function onMessage(data) {
    clearNamed('pong');
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    const handler = HANDLERS[msg.type];
    if (handler) handler(msg);
  }

  const HANDLERS = {
    presence_snapshot: onSnapshot,
    user_joined: onJoined,
    presence_changed: onChanged,
    user_left: onLeft,
    // The form the app's shipped client listens for; presenced sends it right
    // after user_left by default, when the user is already gone from the map.
    user_left_presence: onLeft,
    error: onError,
    auth_error: (msg) => {
      failure = { code: msg.code, message: msg.message ?? msg.code };
    },
    permission_revoked: (msg) => {
      failure = { code: 'PERMISSION_REVOKED', message: msg.reason ?? 'permission revoked' };
    },
    auth_ok: () => clearNamed('refresh'),
  };

  function onSnapshot(msg) {
    self = msg.self ? { userId: msg.self.userId, connectionId: msg.self.connectionId } : self;
    // Once we ping, only our messages keep us alive: ping well inside the server's idle timeout.
    if (Number.isFinite(msg.idleTimeout) && msg.idleTimeout > 0) serverIdleTimeout = msg.idleTimeout;
    presence.clear();
    for (const user of Array.isArray(msg.users) ? msg.users : []) {
      if (user?.userId && user.userId !== self?.userId) presence.set(user.userId, toEntry(user));
    }
    emitter.emit('snapshot', presence);
    if (!accepted) connectionAccepted();
    reconcileFollow();
  }

  function connectionAccepted() {
    accepted = true;
    clearNamed('connect');
    abandoned?.close();
    abandoned = null;
    setTimerNamed('stable', opts.stableAfter, () => {
      backoff.reset();
      lastFailure = null;
    });
    // The first ping goes out at once: from it on, the server holds this
    // connection to its messages, which is how a frozen tab gets noticed.
    ping();
    setState('connected');
    emitter.emit('connected', { self });
    sendLocation();
  }

  function onJoined(msg) {
    if (!msg.userId || msg.userId === self?.userId) return;
    const entry = toEntry(msg, presence.get(msg.userId));
    presence.set(msg.userId, entry);
    emitter.emit('joined', entry);
  }

  function onChanged(msg) {
    if (!msg.userId || msg.userId === self?.userId) return;
    const previous = presence.get(msg.userId);
    const entry = toEntry(msg, previous);
    presence.set(msg.userId, entry);
    emitter.emit('changed', entry, previous);
    if (follow?.userId === entry.userId) navigateTo(entry);
  }

  function onLeft(msg) {
    const entry = presence.get(msg.userId);
    if (!entry) return;
    presence.delete(msg.userId);
    emitter.emit('left', entry);
    if (follow?.userId === msg.userId) endFollow('offline');
  }

  function onError(msg) {
    if (msg.code === 'TOKEN_REFRESH_REQUIRED') {
      refreshToken();
      return;
    }
    if (!accepted) {
      failure = { code: msg.code, message: msg.message ?? msg.code };
      return;
    }
    if (msg.code === 'SERVICE_UNAVAILABLE') setTimerNamed('refresh', opts.refreshRetryDelay, refreshToken);
    emitter.emit('error', { code: msg.code, message: msg.message ?? msg.code, fatal: false });
  }

  async function refreshToken() {
    const ws = socket;
    try {
      const token = await getToken();
      if (ws === socket && accepted) send({ type: 'token_refresh', token });
    } catch (err) {
      emitter.emit('error', { code: 'TOKEN_UNAVAILABLE', message: String(err?.message ?? err), fatal: false });
    }
  }

  function schedulePing() {
    const interval = serverIdleTimeout ? Math.min(opts.pingInterval, serverIdleTimeout / 3) : opts.pingInterval;
    setTimerNamed('ping', interval, ping);
  }

  function ping() {
    if (!accepted) return;
    pingId += 1;
    send({ type: 'ping', id: pingId });
    if (timers.pong === undefined) setTimerNamed('pong', opts.pingTimeout, () => dropSocket('PING_TIMEOUT'));
    schedulePing();
  }

  function onOnline() {
    if (state === 'reconnecting') {
      clearNamed('retry');
      connect();
    } else if (accepted) {
      ping();
    }
  }

  /** Sends the app after the followed user, unless it is (or is already on its way) there. */
  function navigateTo(entry) {
    const path = entry.currentPath;
    const heading = follow.issued.at(-1) ?? location?.currentPath;
    if (!path || path === heading) return;
    follow.issued.push(path);
    if (follow.issued.length > FOLLOW_MEMORY) follow.issued.shift();
    follow.onNavigate(entry);
  }

  function reconcileFollow() {
    if (!follow) return;
    const target = presence.get(follow.userId);
    if (target) navigateTo(target);
    else endFollow('offline');
  }

  function endFollow(reason) {
    if (!follow) return;
    const { userId, userName } = follow;
    follow = null;
    emitter.emit('unfollowed', { userId, userName, reason });
  }

  /** Whether moving to `path` is the user leaving the one they follow. */
  function leavesFollowed(path) {
    const index = follow.issued.indexOf(path);
    if (index >= 0) {
      follow.issued.splice(0, index + 1);
      return false;
    }
    return path !== presence.get(follow.userId)?.currentPath;
  }

  if (onlineTarget) onlineTarget.addEventListener('online', onOnline);
  connect();

  return {
    get presence() {
      return presence;
    },
    get isConnected() {
      return state === 'connected';
    },
    get state() {
      return state;
    },
    get self() {
      return self;
    },
    get following() {
      return follow?.userId ?? null;
    },
    get connectionKey() {
      return connectionKey;
    },
    on: (event, handler) => emitter.on(event, handler),
    off: (event, handler) => emitter.off(event, handler),

    update(currentPath, resourceType, resourceId) {
      if (typeof currentPath !== 'string' || currentPath === '') {
        throw new TypeError('currentPath must be a non-empty string');
      }
      const moved = currentPath !== location?.currentPath;
      location = { currentPath, resourceType: resourceType ?? null, resourceId: resourceId ?? null };
      if (follow && moved && leavesFollowed(currentPath)) endFollow('navigated');
      sendLocation();
    },

    follow(userId, onNavigate) {
      if (typeof onNavigate !== 'function') throw new TypeError('onNavigate must be a function');
      endFollow('stopped');
      const userName = presence.get(userId)?.userName ?? userId;
      follow = { userId, userName, onNavigate, issued: [] };
      if (state === 'closed' || state === 'stopped') endFollow('closed');
      else if (accepted) reconcileFollow();
    },

    unfollow() {
      endFollow('stopped');
    },

    close() {
      if (state === 'closed') return;
      attempt += 1;
      for (const name of Object.keys(timers)) clearNamed(name);
      onlineTarget?.removeEventListener('online', onOnline);
      endFollow('closed');
      for (const ws of [socket, abandoned]) {
        if (!ws) continue;
        detach(ws);
        ws.close(1000, 'closed');
      }
      socket = null;
      abandoned = null;
      const wasAccepted = accepted;
      accepted = false;
      presence.clear();
      if (wasAccepted) emitter.emit('disconnected', { reason: 'CLOSED', willReconnect: false });
      setState('closed');
    },
  };
}
