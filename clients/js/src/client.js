// @ts-check
/**
 * @presenced/client: who is where in a workspace, kept live over one
 * WebSocket to presenced (or any server speaking its protocol).
 *
 * No dependencies: it runs in browsers, and in Node.js given a WebSocket
 * implementation such as the `ws` package.
 *
 * The client is three parts with one job each, joined here: the session
 * (session.js: the socket, reconnects, tokens, pings), the presence map
 * (presence-map.js: who is where, from the server's messages) and follow mode
 * (follow.js: sending the app after another user). This file checks the
 * options, keeps this user's location, and routes messages between them.
 */
import { createBackoff } from './backoff.js';
import { createEmitter } from './emitter.js';
import { createFollowMode } from './follow.js';
import { createPresenceMap } from './presence-map.js';
import { createSession, roomUrl } from './session.js';

export { reconnectPolicy, roomUrl } from './session.js';

/** @typedef {import('../index.d.ts').PresenceClient} PresenceClient */
/** @typedef {import('../index.d.ts').PresenceClientOptions} PresenceClientOptions */
/** @typedef {import('../index.d.ts').PresenceEvents} PresenceEvents */
/** @typedef {import('./session.js').Message} Message */

const WORKSPACE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const CONNECTION_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

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

/** @param {() => number} random */
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

/**
 * Creates a client and starts connecting at once.
 *
 * @param {PresenceClientOptions} options
 * @returns {PresenceClient}
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

  const webCrypto = /** @type {{ getRandomValues?: unknown } | undefined} */ (globalThis.crypto);
  const random = opts.random ?? (webCrypto?.getRandomValues ? cryptoRandom : Math.random);
  /** @type {import('../index.d.ts').TimerFunctions} */
  const timers = {
    setTimeout: opts.timers?.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms)),
    clearTimeout:
      opts.timers?.clearTimeout ?? ((id) => globalThis.clearTimeout(/** @type {ReturnType<typeof setTimeout>} */ (id))),
  };
  const onlineTarget = opts.onlineTarget !== undefined ? opts.onlineTarget : (globalThis.window ?? null);
  const connectionKey = opts.connectionKey ?? randomKey(random);
  const backoff = createBackoff({
    minDelay: opts.minDelay ?? 1000 + random() * 4000,
    maxDelay: opts.maxDelay,
    growFactor: opts.growFactor,
    random,
  });
  /** @type {import('./emitter.js').Emitter<PresenceEvents>} */
  const emitter = createEmitter();

  /**
   * This user's location, as the app last reported it.
   *
   * @type {{ currentPath: string, resourceType: string | null, resourceId: string | null } | null}
   */
  let location = null;
  const presence = createPresenceMap(emitter.emit);
  const follow = createFollowMode({
    lookup: (userId) => presence.entries.get(userId),
    here: () => location?.currentPath,
    emit: emitter.emit,
  });
  const session = createSession({
    url: (token) => roomUrl({ host, party: opts.party, workspaceId, secure: opts.secure, connectionKey, token }),
    getToken,
    WebSocket: WebSocketImpl,
    timers,
    onlineTarget,
    backoff,
    options: opts,
    emit: emitter.emit,
    onMessage,
    onConnected() {
      emitter.emit('connected', { self: /** @type {import('../index.d.ts').PresenceSelf} */ (presence.self) });
      sendLocation();
    },
    onStop() {
      presence.clear();
      follow.end('closed');
    },
    onClose() {
      follow.end('closed');
      presence.clear();
    },
  });

  function sendLocation() {
    if (!location) return;
    /** @type {{ type: 'presence_update', currentPath: string, resourceType?: string, resourceId?: string }} */
    const msg = { type: 'presence_update', currentPath: location.currentPath };
    if (location.resourceType != null) msg.resourceType = location.resourceType;
    if (location.resourceId != null) msg.resourceId = location.resourceId;
    session.send(msg);
  }

  /**
   * The messages the session passes on: presence, which follow mode then
   * follows. Others are ignored.
   *
   * @param {Message} msg
   */
  function onMessage(msg) {
    switch (msg.type) {
      case 'presence_snapshot':
        presence.snapshot(/** @type {import('./presence-map.js').SnapshotMessage} */ (msg));
        session.accept();
        follow.reconcile();
        break;
      case 'user_joined':
        presence.joined(/** @type {import('./presence-map.js').UserMessage} */ (msg));
        break;
      case 'presence_changed': {
        const entry = presence.changed(/** @type {import('./presence-map.js').UserMessage} */ (msg));
        if (entry) follow.changed(entry);
        break;
      }
      // user_left_presence is the form the app's shipped client listens for;
      // presenced sends it right after user_left by default.
      case 'user_left':
      case 'user_left_presence':
        if (presence.left(/** @type {{ userId: string }} */ (msg))) follow.left(msg.userId);
        break;
      default:
        break;
    }
  }

  session.start();

  return {
    get presence() {
      return presence.entries;
    },
    get isConnected() {
      return session.state === 'connected';
    },
    get state() {
      return session.state;
    },
    get self() {
      return presence.self;
    },
    get following() {
      return follow.userId;
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
      if (moved) follow.moved(currentPath);
      sendLocation();
    },

    follow(userId, onNavigate) {
      if (typeof onNavigate !== 'function') throw new TypeError('onNavigate must be a function');
      follow.start(userId, onNavigate);
      if (session.state === 'closed' || session.state === 'stopped') follow.end('closed');
      else if (session.accepted) follow.reconcile();
    },

    unfollow() {
      follow.end('stopped');
    },

    close() {
      session.close();
    },
  };
}
