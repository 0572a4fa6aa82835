// @ts-check
/**
 * The session: one WebSocket to the room at a time. It gets a token for each
 * connection, waits for the server to admit it, reconnects with backoff (or at
 * once, or never, by `reconnectPolicy`), refreshes the token in-band when the
 * server asks, and pings so that a dead connection is noticed and replaced.
 * The messages it does not consume go to its owner, which says when a
 * connection is admitted (`accept()`, on the first snapshot).
 */

/** @typedef {import('../index.d.ts').ConnectionState} ConnectionState */
/** @typedef {import('../index.d.ts').PresenceEvents} PresenceEvents */
/** @typedef {import('../index.d.ts').WebSocketLike} WebSocketLike */
/** @typedef {import('../index.d.ts').TimerFunctions} TimerFunctions */
/** @typedef {import('../index.d.ts').PresenceClientOptions['onlineTarget']} OnlineTarget */

/**
 * A message from the server: parsed JSON, nothing checked but that it is an object.
 *
 * @typedef {{ type?: unknown, [field: string]: any }} Message
 */

const OPEN = 1;

/** Failures after which reconnecting cannot help: the client stops. */
const FATAL = new Set(['AUTH_FORBIDDEN', 'PERMISSION_REVOKED', 'TOO_MANY_CONNECTIONS', 'REPLACED']);

/** The session's timers, by name. */
const CONNECTION_TIMERS = ['connect', 'ping', 'pong', 'stable', 'refresh'];

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

/** @param {string} host */
function defaultSecure(host) {
  const page = globalThis.location?.protocol;
  if (page === 'https:' || page === 'http:') return page === 'https:';
  return !/^(localhost|127\.|\[::1\]|0\.0\.0\.0|10\.|192\.168\.)/.test(host);
}

function ignore() {}

/** @param {unknown} err */
function messageOf(err) {
  return String(/** @type {{ message?: unknown } | null | undefined} */ (err)?.message ?? err);
}

/**
 * @typedef {object} Session
 * @property {ConnectionState} state
 * @property {boolean} accepted whether the current connection has been admitted
 * @property {() => void} start starts connecting, and listening for `online`
 * @property {(msg: object) => boolean} send sends on an admitted connection; false if there is none
 * @property {() => void} accept the server admitted the connection (its first
 *   snapshot came); nothing happens for a later snapshot. The snapshot's
 *   idleTimeout, if any, the session has noted already: pings stay well inside it
 * @property {() => void} close closes for good
 */

/**
 * @param {object} parts
 * @param {(token: string) => string} parts.url the room's URL with a token
 * @param {() => Promise<string> | string} parts.getToken
 * @param {new (url: string) => WebSocketLike} parts.WebSocket
 * @param {TimerFunctions} parts.timers
 * @param {OnlineTarget} parts.onlineTarget
 * @param {{ next(): number, reset(): void }} parts.backoff
 * @param {{ connectTimeout: number, pingInterval: number, pingTimeout: number,
 *           stableAfter: number, refreshRetryDelay: number }} parts.options
 * @param {import('./emitter.js').Emitter<PresenceEvents>['emit']} parts.emit
 *   for `state`, `error` and `disconnected`
 * @param {(msg: Message) => void} parts.onMessage every message the session does not consume, the snapshot included
 * @param {() => void} parts.onConnected a connection was admitted: the state is `connected`
 * @param {() => void} parts.onStop a failure stopped the session, just before the state becomes `stopped`
 * @param {() => void} parts.onClose `close()` was called, before the socket closes
 * @returns {Session}
 */
export function createSession({ url, getToken, WebSocket: WebSocketImpl, timers: clock, onlineTarget, backoff, options, emit, onMessage: deliver, onConnected, onStop, onClose }) {
  // Called as plain functions, not methods: `window.setTimeout` works only so.
  const { setTimeout: setTimer, clearTimeout: clearTimer } = clock;
  /** @type {Record<string, unknown>} */
  const timers = {};
  /** @type {ConnectionState} */
  let state = 'connecting';
  /** @type {WebSocketLike | null} */
  let socket = null;
  /** @type {WebSocketLike | null} */
  let abandoned = null;
  let accepted = false;
  /** @type {{ code: string, message: string } | null} */
  let failure = null;
  /** @type {string | null} */
  let lastFailure = null;
  let attempt = 0;
  let pingId = 0;
  let serverIdleTimeout = 0;

  /**
   * @param {string} name
   * @param {number} ms
   * @param {() => void} fn
   */
  function setTimerNamed(name, ms, fn) {
    clearNamed(name);
    timers[name] = setTimer(() => {
      delete timers[name];
      fn();
    }, ms);
  }

  /** @param {string} name */
  function clearNamed(name) {
    if (timers[name] !== undefined) clearTimer(timers[name]);
    delete timers[name];
  }

  /**
   * @param {ConnectionState} next
   * @param {import('../index.d.ts').StateDetail} [detail]
   */
  function setState(next, detail = {}) {
    state = next;
    emit('state', next, detail);
  }

  /** @param {object} msg */
  function send(msg) {
    if (socket?.readyState !== OPEN || !accepted) return false;
    socket.send(JSON.stringify(msg));
    return true;
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
      emit('error', { code: 'TOKEN_UNAVAILABLE', message: messageOf(err), fatal: false });
      afterFailure('TOKEN_UNAVAILABLE');
      return;
    }
    if (mine !== attempt) return;
    open(token);
  }

  /** @param {string} token */
  function open(token) {
    const address = url(token);
    accepted = false;
    failure = null;
    /** @type {WebSocketLike} */
    let ws;
    try {
      ws = new WebSocketImpl(address);
    } catch (err) {
      failure = { code: 'CONNECTION_LOST', message: messageOf(err) };
      connectionEnded('CONNECTION_LOST');
      return;
    }
    socket = ws;
    ws.onmessage = (event) => onMessage(event.data);
    ws.onclose = (event) => onSocketClose(ws, event);
    ws.onerror = ignore;
    setTimerNamed('connect', options.connectTimeout, () => dropSocket('CONNECT_TIMEOUT'));
  }

  /**
   * Stops listening to a socket; errors stay handled (Node's `ws` throws unhandled ones).
   *
   * @param {WebSocketLike} ws
   */
  function detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = ignore;
  }

  /**
   * Leaves a connection that seems dead without a close frame, so a new one with the same key takes its place on the server.
   *
   * @param {string} code
   */
  function dropSocket(code) {
    if (!socket) return;
    detach(socket);
    abandoned?.close();
    abandoned = socket;
    socket = null;
    connectionEnded(code);
  }

  /**
   * @param {WebSocketLike} ws
   * @param {{ reason?: string } | undefined} event
   */
  function onSocketClose(ws, event) {
    if (ws !== socket) return;
    detach(ws);
    socket = null;
    const reason = /^[A-Z][A-Z_]+$/.test(event?.reason ?? '') ? /** @type {string} */ (event?.reason) : null;
    connectionEnded(failure?.code ?? reason ?? 'CONNECTION_LOST');
  }

  /** @param {string} code */
  function connectionEnded(code) {
    for (const name of CONNECTION_TIMERS) clearNamed(name);
    const wasAccepted = accepted;
    accepted = false;
    const policy = reconnectPolicy(code, lastFailure);
    if (failure || policy === 'stop') {
      emit('error', { code, message: failure?.message ?? code, fatal: policy === 'stop' });
    }
    if (wasAccepted) emit('disconnected', { reason: code, willReconnect: policy !== 'stop' });
    afterFailure(code, policy);
  }

  /**
   * @param {string} code
   * @param {'stop' | 'now' | 'backoff'} [policy]
   */
  function afterFailure(code, policy = reconnectPolicy(code, lastFailure)) {
    lastFailure = code;
    if (policy === 'stop') {
      onStop();
      setState('stopped', { reason: code });
    } else if (policy === 'now') {
      connect();
    } else {
      const delay = backoff.next();
      setTimerNamed('retry', delay, connect);
      setState('reconnecting', { delay, reason: code });
    }
  }

  /**
   * Any message, a pong included, shows the connection is alive.
   *
   * @param {unknown} data
   */
  function onMessage(data) {
    clearNamed('pong');
    /** @type {unknown} */
    let msg;
    try {
      msg = JSON.parse(/** @type {string} */ (data));
    } catch {
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    const message = /** @type {Message} */ (msg);
    // Once we ping, only our messages keep us alive: ping well inside the server's idle timeout.
    if (message.type === 'presence_snapshot') {
      const { idleTimeout } = message;
      if (typeof idleTimeout === 'number' && Number.isFinite(idleTimeout) && idleTimeout > 0) serverIdleTimeout = idleTimeout;
    }
    const handler = HANDLERS.get(message.type);
    if (handler) handler(message);
    else deliver(message);
  }

  /** The messages the session consumes. @type {Map<unknown, (msg: Message) => void>} */
  const HANDLERS = new Map(
    /** @type {[string, (msg: Message) => void][]} */ ([
      ['error', onError],
      [
        'auth_error',
        (msg) => {
          failure = { code: msg.code, message: msg.message ?? msg.code };
        },
      ],
      [
        'permission_revoked',
        (msg) => {
          failure = { code: 'PERMISSION_REVOKED', message: msg.reason ?? 'permission revoked' };
        },
      ],
      ['auth_ok', () => clearNamed('refresh')],
    ]),
  );

  function accept() {
    if (accepted) return;
    accepted = true;
    clearNamed('connect');
    abandoned?.close();
    abandoned = null;
    setTimerNamed('stable', options.stableAfter, () => {
      backoff.reset();
      lastFailure = null;
    });
    // The first ping goes out at once: from it on, the server holds this
    // connection to its messages, which is how a frozen tab gets noticed.
    ping();
    setState('connected');
    onConnected();
  }

  /** @param {Message} msg */
  function onError(msg) {
    if (msg.code === 'TOKEN_REFRESH_REQUIRED') {
      refreshToken();
      return;
    }
    if (!accepted) {
      failure = { code: msg.code, message: msg.message ?? msg.code };
      return;
    }
    if (msg.code === 'SERVICE_UNAVAILABLE') setTimerNamed('refresh', options.refreshRetryDelay, refreshToken);
    emit('error', { code: msg.code, message: msg.message ?? msg.code, fatal: false });
  }

  async function refreshToken() {
    const ws = socket;
    try {
      const token = await getToken();
      if (ws === socket && accepted) send({ type: 'token_refresh', token });
    } catch (err) {
      emit('error', { code: 'TOKEN_UNAVAILABLE', message: messageOf(err), fatal: false });
    }
  }

  function schedulePing() {
    const interval = serverIdleTimeout ? Math.min(options.pingInterval, serverIdleTimeout / 3) : options.pingInterval;
    setTimerNamed('ping', interval, ping);
  }

  function ping() {
    if (!accepted) return;
    pingId += 1;
    send({ type: 'ping', id: pingId });
    if (timers.pong === undefined) setTimerNamed('pong', options.pingTimeout, () => dropSocket('PING_TIMEOUT'));
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

  return {
    get state() {
      return state;
    },
    get accepted() {
      return accepted;
    },
    send,
    accept,

    start() {
      if (onlineTarget) onlineTarget.addEventListener('online', onOnline);
      connect();
    },

    close() {
      if (state === 'closed') return;
      attempt += 1;
      for (const name of Object.keys(timers)) clearNamed(name);
      onlineTarget?.removeEventListener('online', onOnline);
      onClose();
      for (const ws of [socket, abandoned]) {
        if (!ws) continue;
        detach(ws);
        ws.close(1000, 'closed');
      }
      socket = null;
      abandoned = null;
      const wasAccepted = accepted;
      accepted = false;
      if (wasAccepted) emit('disconnected', { reason: 'CLOSED', willReconnect: false });
      setState('closed');
    },
  };
}
