// Starts the real presenced for the interop tests and wraps `ws` clients in
// a queue of parsed messages. The binary comes from PRESENCED_BIN.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export const SECRET = 'interop-secret-51d2';
const WAIT_MS = 5000;

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

// An HS256 token for user in presence-{workspace}, minted with node's crypto.
export function token(user, name, workspace, ttlSeconds = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({
    sub: user, name, room: `presence-${workspace}`, iat: now, exp: now + ttlSeconds,
  }));
  const sig = createHmac('sha256', SECRET).update(`${head}.${claims}`).digest('base64url');
  return `${head}.${claims}.${sig}`;
}

async function waitForPort(path, proc, log) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`presenced exited with ${proc.exitCode}:\n${log()}`);
    try {
      const text = readFileSync(path, 'utf8');
      if (text.endsWith('\n')) return Number.parseInt(text, 10);
    } catch {
      // Not written yet.
    }
    await sleep(20);
  }
  throw new Error(`presenced wrote no port file within 10 s:\n${log()}`);
}

// Starts presenced on a free loopback port; returns {port, stop, log}.
export async function startServer(extraArgs = []) {
  const bin = process.env.PRESENCED_BIN;
  if (!bin) throw new Error('PRESENCED_BIN must name the presenced binary');
  const dir = mkdtempSync(pathJoin(tmpdir(), 'pd-interop-'));
  const secretFile = pathJoin(dir, 'secret');
  const portFile = pathJoin(dir, 'port');
  writeFileSync(secretFile, `${SECRET}\n`);
  let output = '';
  const proc = spawn(bin, ['--listen', '127.0.0.1:0', '--port-file', portFile,
    '--jwt-secret-file', secretFile, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const log = () => output;
  const port = await waitForPort(portFile, proc, log);
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(10000, undefined, { ref: false })]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    return proc.exitCode;
  };
  return { port, stop, log };
}

// A ws client whose messages are queued and taken in order.
export class Client {
  constructor(port, workspace, query, options = {}) {
    const q = query ? `?${query}` : '';
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/parties/presence/${workspace}${q}`, options);
    this.queue = [];
    this.waiter = null;
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data, isBinary) => {
      this.queue.push(isBinary ? { binary: true } : JSON.parse(data.toString()));
      this.wake();
    });
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  // The next message, or null when none comes within timeoutMs.
  async next(timeoutMs = WAIT_MS) {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0 && !this.closeInfo && Date.now() < deadline) {
      let timer;
      await new Promise((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(resolve, deadline - Date.now());
      });
      clearTimeout(timer);
    }
    return this.queue.length > 0 ? this.queue.shift() : null;
  }

  // The next message, which must be of type.
  async expect(type, timeoutMs = WAIT_MS) {
    const m = await this.next(timeoutMs);
    if (!m || m.type !== type) {
      throw new Error(`expected ${type}, got ${JSON.stringify(m)} (close: ${JSON.stringify(this.closeInfo)})`);
    }
    return m;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  // Resolves with {code, reason}, or rejects when the close takes longer than timeoutMs.
  async closeEvent(timeoutMs = WAIT_MS) {
    let timer;
    const t = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no close event')), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  close() {
    this.ws.close(1000);
    return this.closeEvent();
  }
}

// Connects user to workspace and waits for the snapshot.
export async function join(port, workspace, user, options = {}) {
  const name = user[0].toUpperCase() + user.slice(1);
  const c = new Client(port, workspace, `token=${token(user, name, workspace)}`, options);
  await c.opened;
  c.snapshot = await c.expect('presence_snapshot');
  return c;
}
