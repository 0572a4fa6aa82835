/**
 * The seed app's presence hook, Ripple's `useWorkspacePresence` (the one
 * its PRD produced, written for its PartyKit presence server), as plain
 * JavaScript: the same transport and the same message handling, without
 * React. It is the client presenced has to serve unchanged, so nothing in
 * it is adapted to presenced:
 *
 * - one PartySocket per workspace (`party: "presence"`, `room:
 *   workspaceId`) with a fresh collaboration token in `query` and
 *   `maxRetries: 0`: the hook reconnects by itself, creating a new socket
 *   2,000 ms x 2^n after a close (n = 0, 1, 2), three times in a row at
 *   most; an open socket starts the count again;
 * - it sends its location when the socket opens and on every navigation;
 * - `presence_snapshot` replaces the map; `presence_changed` sets the
 *   user's entry, copying `userName` and `userImage` from the message;
 *   `user_left_presence` removes the user; `user_joined`, `user_left` and
 *   anything else are ignored; `auth_error` closes the socket for good.
 */
import { PartySocket } from '/vendor/partysocket/index.js';

const BASE_DELAY_MS = 2000;
const MAX_ATTEMPTS = 3;

export function createWorkspacePresence({ host, workspaceId, getToken }) {
  const state = {
    presenceMap: new Map(),
    isConnected: false,
    sockets: 0, // PartySockets created
    authError: null,
    gaveUp: false,
    received: [], // [type, userId] of every message, in order
  };
  let socket = null;
  let attempt = 0;
  let here = null;
  let stopped = false;

  function sendLocation() {
    if (!here || !socket || socket.readyState !== PartySocket.OPEN) return;
    socket.send(JSON.stringify({ type: 'presence_update', ...here }));
  }

  function onMessage(ws, msg) {
    state.received.push([msg.type, msg.userId ?? null]);
    switch (msg.type) {
      case 'presence_snapshot':
        state.presenceMap = new Map(msg.users.map((u) => [u.userId, { ...u }]));
        break;
      case 'presence_changed':
        state.presenceMap.set(msg.userId, {
          userId: msg.userId,
          userName: msg.userName,
          userImage: msg.userImage,
          currentPath: msg.currentPath,
          resourceType: msg.resourceType,
          resourceId: msg.resourceId,
        });
        break;
      case 'user_left_presence':
        state.presenceMap.delete(msg.userId);
        break;
      case 'auth_error':
        state.authError = msg.code;
        stopped = true;
        ws.close();
        break;
      default:
        break;
    }
  }

  function onClose(ws) {
    if (ws !== socket) return;
    state.isConnected = false;
    if (stopped) return;
    if (attempt >= MAX_ATTEMPTS) {
      state.gaveUp = true;
      return;
    }
    const delay = BASE_DELAY_MS * 2 ** attempt;
    attempt += 1;
    setTimeout(connect, delay);
  }

  async function connect() {
    const token = await getToken();
    if (stopped) return;
    const ws = new PartySocket({ host, party: 'presence', room: workspaceId, query: { token }, maxRetries: 0 });
    socket = ws;
    state.sockets += 1;
    ws.addEventListener('open', () => {
      state.isConnected = true;
      attempt = 0;
      sendLocation();
    });
    ws.addEventListener('message', (event) => onMessage(ws, JSON.parse(event.data)));
    ws.addEventListener('close', () => onClose(ws));
  }

  connect();

  return {
    navigate(currentPath, resourceType, resourceId) {
      here = { currentPath, resourceType, resourceId };
      sendLocation();
    },
    /** What the hook holds, as plain JSON (unset fields dropped). */
    view() {
      return JSON.parse(JSON.stringify({
        ...state,
        users: Object.fromEntries(state.presenceMap),
        presenceMap: undefined,
        socketState: socket?.readyState ?? null,
      }));
    },
  };
}
