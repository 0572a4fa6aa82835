/**
 * The seed app's own site, as far as presence needs it (node:http only):
 *
 *   GET  /                         the page (index.html) with the app's hook
 *   GET  /vendor/partysocket/*.js  the real `partysocket` package, as the app bundles it
 *   POST /collaboration/token      the getCollaborationToken action: an opaque
 *                                  token for ?user= and ?roomId=
 *   POST /collaboration/verify     the app's verify endpoint, which presenced
 *                                  calls with --verify-url: Bearer token, body
 *                                  {"roomId":"presence-<workspaceId>"}, answer
 *                                  {userId,userName,userImage}; 401 for a token
 *                                  it never issued, 403 for a non-member
 *
 * Tokens are random strings the site remembers, as an app's opaque session
 * tokens are: presenced cannot read them, only the endpoint can.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const partysocketDist = path.join(here, '../node_modules/partysocket/dist');

/** The app's users, with their avatars, and which workspaces they belong to. */
export const USERS = {
  ann: { userName: 'Ann Example', userImage: 'https://cdn.example/avatars/ann.png', workspaces: ['ws1'] },
  bo: { userName: 'Bo', userImage: 'https://cdn.example/avatars/bo.png', workspaces: ['ws1'] },
  carol: { userName: 'Carol', userImage: null, workspaces: ['ws1'] },
  eve: { userName: 'Eve', userImage: 'https://cdn.example/avatars/eve.png', workspaces: ['ws2'] },
};

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

function json(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Starts the site on 127.0.0.1 with a free port. */
export async function startSite() {
  const tokens = new Map(); // token -> userId
  const verifyRequests = [];

  function mint(url, res) {
    const user = url.searchParams.get('user');
    // A user the app does not know gets a token the endpoint never issued.
    if (!USERS[user]) return json(res, 200, { token: `forged-${user}` });
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, user);
    return json(res, 200, { token });
  }

  async function verify(req, res) {
    const body = await readBody(req);
    const auth = req.headers.authorization ?? '';
    verifyRequests.push({ authorization: auth, contentType: req.headers['content-type'], body });
    const userId = auth.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    if (!userId) return json(res, 401, { error: 'unknown token' });
    let roomId;
    try {
      ({ roomId } = JSON.parse(body));
    } catch {
      return json(res, 400, { error: 'body must be JSON' });
    }
    const user = USERS[userId];
    if (typeof roomId !== 'string' || !user.workspaces.includes(roomId.replace(/^presence-/, ''))) {
      return json(res, 403, { error: 'not a member of this workspace' });
    }
    return json(res, 200, { userId, userName: user.userName, userImage: user.userImage });
  }

  function serveFile(res, file, type) {
    try {
      send(res, 200, type, readFileSync(file, 'utf8'));
    } catch {
      json(res, 404, { error: 'not found' });
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const vendor = url.pathname.match(/^\/vendor\/partysocket\/([a-z0-9-]+\.js)$/i);
    if (req.method === 'POST' && url.pathname === '/collaboration/token') return mint(url, res);
    if (req.method === 'POST' && url.pathname === '/collaboration/verify') return verify(req, res);
    if (req.method !== 'GET') return json(res, 405, { error: 'method not allowed' });
    if (url.pathname === '/') return serveFile(res, path.join(here, 'index.html'), 'text/html; charset=utf-8');
    if (url.pathname === '/use-workspace-presence.js') {
      return serveFile(res, path.join(here, 'use-workspace-presence.js'), 'text/javascript');
    }
    if (vendor) return serveFile(res, path.join(partysocketDist, vendor[1]), 'text/javascript');
    return json(res, 404, { error: 'not found' });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    verifyUrl: `${origin}/collaboration/verify`,
    verifyRequests,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
