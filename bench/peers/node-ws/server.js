'use strict';
// The presence protocol (PROTOCOL.md) in Node.js with the ws package, written
// the way an application team would write it by hand: HS256 tokens checked
// with node's crypto, rooms as Maps, one JSON.stringify per broadcast and one
// ws.send per receiver, the heartbeat from ws's README. It is what presenced
// is measured against; it accepts presenced's flags so that the same harness
// can start either.
//
//   node server.js --listen 127.0.0.1:0 --port-file F --jwt-secret-file S

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');

const ROOM_PATH = /^\/parties\/presence\/([A-Za-z0-9_-]{1,128})$/;
const LEEWAY_S = 5;

function parseArgs(argv) {
  const opts = { listen: '127.0.0.1:1999', portFile: null, secretFile: null };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--listen') opts.listen = value;
    else if (argv[i] === '--port-file') opts.portFile = value;
    else if (argv[i] === '--jwt-secret-file') opts.secretFile = value;
    else continue;
    i++;
  }
  return opts;
}

function readSecret(file) {
  if (file) return fs.readFileSync(file).toString('latin1').replace(/\n$/, '');
  if (process.env.PRESENCED_JWT_SECRET) return process.env.PRESENCED_JWT_SECRET;
  throw new Error('no secret: pass --jwt-secret-file');
}

function verifyToken(token, secret, roomId) {
  if (!token) return { code: 'AUTH_MISSING' };
  const parts = token.split('.');
  if (parts.length !== 3) return { code: 'AUTH_INVALID' };
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch {
    return { code: 'AUTH_INVALID' };
  }
  if (header.alg !== 'HS256') return { code: 'AUTH_INVALID' };
  const want = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { code: 'AUTH_INVALID' };
  if (typeof claims.sub !== 'string' || typeof claims.name !== 'string' ||
      typeof claims.room !== 'string' || typeof claims.exp !== 'number') return { code: 'AUTH_INVALID' };
  if (claims.exp <= Date.now() / 1000 - LEEWAY_S) return { code: 'AUTH_EXPIRED' };
  if (claims.room !== roomId) return { code: 'AUTH_FORBIDDEN' };
  return { user: { userId: claims.sub, userName: claims.name, userImage: claims.picture || null } };
}

// ---- rooms -----------------------------------------------------------------

const rooms = new Map(); // roomId -> { id, conns: Set<ws>, users: Map<userId, { conns: ws[] }> }

function broadcast(room, msg, except) {
  const data = JSON.stringify(msg);
  for (const ws of room.conns) {
    if (ws !== except && ws.readyState === WebSocket.OPEN) ws.send(data);
  }
}

function entryOf(ws) {
  return { userId: ws.user.userId, userName: ws.user.userName, userImage: ws.user.userImage, ...ws.loc };
}

function changedOf(ws) {
  return { type: 'presence_changed', userId: ws.user.userId, userName: ws.user.userName, ...ws.loc };
}

function join(ws, roomId) {
  let room = rooms.get(roomId);
  if (!room) {
    room = { id: roomId, conns: new Set(), users: new Map() };
    rooms.set(roomId, room);
  }
  let user = room.users.get(ws.user.userId);
  const isNew = !user;
  if (isNew) {
    user = { conns: [] };
    room.users.set(ws.user.userId, user);
  }
  user.conns.push(ws);
  room.conns.add(ws);
  ws.room = room;
  const users = [];
  for (const u of room.users.values()) {
    const front = u.conns[0];
    if (front !== ws || u.conns.length > 1) users.push(entryOf(front === ws ? u.conns[1] : front));
  }
  ws.send(JSON.stringify({ type: 'presence_snapshot', self: { userId: ws.user.userId, connectionId: ws.connId }, users }));
  if (isNew) broadcast(room, { type: 'user_joined', ...ws.user }, ws);
}

function leave(ws) {
  const room = ws.room;
  if (!room) return;
  ws.room = null;
  room.conns.delete(ws);
  const user = room.users.get(ws.user.userId);
  const wasFront = user.conns[0] === ws;
  user.conns = user.conns.filter((c) => c !== ws);
  if (user.conns.length === 0) {
    room.users.delete(ws.user.userId);
    broadcast(room, { type: 'user_left', userId: ws.user.userId });
  } else if (wasFront) {
    broadcast(room, changedOf(user.conns[0]));
  }
  if (room.conns.size === 0) rooms.delete(room.id);
}

// ---- messages --------------------------------------------------------------

function badMessage(ws, message) {
  ws.send(JSON.stringify({ type: 'error', code: 'BAD_MESSAGE', message }));
}

function optionalString(v, max) {
  return v === undefined || v === null || (typeof v === 'string' && v.length <= max);
}

function onUpdate(ws, msg) {
  if (typeof msg.currentPath !== 'string' || msg.currentPath.length < 1 || msg.currentPath.length > 1024) {
    return badMessage(ws, 'currentPath must be a non-empty string');
  }
  if (!optionalString(msg.resourceType, 32) || !optionalString(msg.resourceId, 256)) {
    return badMessage(ws, 'resourceType and resourceId must be short strings');
  }
  ws.loc = { currentPath: msg.currentPath };
  if (msg.resourceType != null) ws.loc.resourceType = msg.resourceType;
  if (msg.resourceId != null) ws.loc.resourceId = msg.resourceId;
  const user = ws.room.users.get(ws.user.userId);
  if (user.conns[0] !== ws) user.conns = [ws, ...user.conns.filter((c) => c !== ws)];
  broadcast(ws.room, changedOf(ws), ws);
}

function onMessage(ws, data, isBinary) {
  if (isBinary) return ws.close(1003);
  let msg;
  try {
    msg = JSON.parse(data.toString());
  } catch {
    return badMessage(ws, 'message is not valid JSON');
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return badMessage(ws, 'message must be a JSON object');
  if (msg.type === 'presence_update') return onUpdate(ws, msg);
  if (msg.type === 'ping') return ws.send(JSON.stringify(msg.id === undefined ? { type: 'pong' } : { type: 'pong', id: msg.id }));
  return badMessage(ws, `unknown type "${String(msg.type).slice(0, 32)}"`);
}

// ---- the server ------------------------------------------------------------

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const secret = readSecret(opts.secretFile);
  const [host, port] = opts.listen.split(':');
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404).end();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost');
    const match = ROOM_PATH.exec(url.pathname);
    if (!match) return socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    const roomId = `presence-${match[1]}`;
    const auth = req.headers.authorization || '';
    const token = url.searchParams.get('token') || (auth.startsWith('Bearer ') ? auth.slice(7) : '');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const result = verifyToken(token, secret, roomId);
      if (!result.user) {
        ws.send(JSON.stringify({ type: 'auth_error', code: result.code }));
        return ws.close(1008, result.code);
      }
      ws.user = result.user;
      ws.connId = url.searchParams.get('_pk') || crypto.randomBytes(8).toString('hex');
      ws.loc = { currentPath: '' };
      ws.isAlive = true;
      ws.on('pong', () => { ws.isAlive = true; });
      ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
      ws.on('close', () => leave(ws));
      ws.on('error', () => ws.terminate());
      join(ws, roomId);
    });
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (ws.isAlive === false) {
        ws.terminate();
        continue;
      }
      ws.isAlive = false;
      ws.ping();
    }
  }, 10000);

  server.listen(Number(port), host, () => {
    if (opts.portFile) {
      fs.writeFileSync(`${opts.portFile}.tmp`, `${server.address().port}\n`);
      fs.renameSync(`${opts.portFile}.tmp`, opts.portFile);
    }
  });
  const stop = () => {
    clearInterval(heartbeat);
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
