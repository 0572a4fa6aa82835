// A scriptable verify endpoint for the black-box tests (node:http only).
//
//   node verify-endpoint.mjs PORT_FILE
//
// Listens on 127.0.0.1 with a free port and writes "PORT\n" to PORT_FILE.
// Any POST other than the control paths below is a verify request; the
// token in its "Authorization: Bearer" header says how to answer, as fields
// separated by ':' (fields past those a kind reads are free, so a test can
// make each token unique):
//
//   ok:USER:NAME            200 {"userId","userName","userImage":null}
//   ok-noname:USER          200 {"userId"} (no userName, no userImage)
//   ok-img:USER:NAME        200 with "userImage":"https://img.example/USER.png"
//   ok-exp:USER:NAME:MS     200 with "expiresAt": now + MS (MS may be negative)
//   401 | 403 | 500         that status with a small JSON body
//   garbage                 200 with a body that is not JSON
//   nouser                  200 {"userName":"Nobody"} (no userId)
//   slow:MS:REST            waits MS milliseconds, then answers as REST
//   hang                    never answers
//
// Control (GET): /count?token=T gives {"count":N}, the verify requests
// that carried T; /last?token=T gives {"method","url","headers","body"} of
// the newest one (404 when there is none); /stats gives {"requests",
// "inflight","maxInflight","connections"} where connections counts the
// distinct TCP connections that carried verify requests, and
// /stats?reset=1 answers, then restarts maxInflight and connections.
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';

const portFile = process.argv[2];
const counts = new Map();
const last = new Map();
const stats = { requests: 0, inflight: 0, maxInflight: 0, connections: 0 };
let socketGeneration = 1;

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function answer(res, fields) {
  const [kind, a, b, c] = fields;
  switch (kind) {
    case 'ok':
      return json(res, 200, { userId: a, userName: b, userImage: null });
    case 'ok-noname':
      return json(res, 200, { userId: a });
    case 'ok-img':
      return json(res, 200, { userId: a, userName: b, userImage: `https://img.example/${a}.png` });
    case 'ok-exp':
      return json(res, 200, { userId: a, userName: b, expiresAt: Date.now() + Number(c) });
    case '401':
    case '403':
    case '500':
      return json(res, Number(kind), { error: `status ${kind}` });
    case 'garbage':
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': 22 });
      return res.end('<html>not json</html>\n');
    case 'nouser':
      return json(res, 200, { userName: 'Nobody' });
    case 'slow':
      setTimeout(() => answer(res, fields.slice(2)), Number(a));
      return undefined;
    case 'hang':
      return undefined;
    default:
      return json(res, 418, { error: `unknown token kind "${kind}"` });
  }
}

function bearer(req) {
  const h = req.headers.authorization || '';
  return h.startsWith('Bearer ') ? h.slice(7) : '';
}

function track(req, res) {
  stats.requests++;
  stats.inflight++;
  stats.maxInflight = Math.max(stats.maxInflight, stats.inflight);
  if (req.socket.verifyGeneration !== socketGeneration) {
    req.socket.verifyGeneration = socketGeneration;
    stats.connections++;
  }
  let done = false;
  const end = () => {
    if (!done) {
      done = true;
      stats.inflight--;
    }
  };
  res.on('finish', end);
  res.on('close', end);
}

function verify(req, res) {
  track(req, res);
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const token = bearer(req);
    counts.set(token, (counts.get(token) || 0) + 1);
    last.set(token, {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    answer(res, token.split(':'));
  });
}

function control(url, res) {
  const token = url.searchParams.get('token') || '';
  if (url.pathname === '/count')
    return json(res, 200, { count: counts.get(token) || 0 });
  if (url.pathname === '/last')
    return last.has(token) ? json(res, 200, last.get(token)) : json(res, 404, { error: 'none' });
  if (url.pathname === '/stats') {
    json(res, 200, stats);
    if (url.searchParams.get('reset') === '1') {
      stats.maxInflight = stats.inflight;
      stats.connections = 0;
      socketGeneration++;
    }
    return undefined;
  }
  return json(res, 404, { error: 'not found' });
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET')
    control(new URL(req.url, 'http://127.0.0.1'), res);
  else
    verify(req, res);
});
// Long enough that presenced's kept-alive connections are never closed
// under it during a test.
server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.requestTimeout = 0;

server.listen(0, '127.0.0.1', () => {
  const tmp = `${portFile}.tmp`;
  writeFileSync(tmp, `${server.address().port}\n`);
  renameSync(tmp, portFile);
});
