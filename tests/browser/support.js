/**
 * Shared pieces of the browser tests: the real presenced on a free port,
 * Debian's Chromium driven by playwright-core, and users opening the demo.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export const PRESENCED_BIN = process.env.PRESENCED_BIN ?? path.join(repo, 'build/test/presenced');
export const DEMO_DIR = process.env.DEMO_DIR ?? path.join(repo, 'demo');
/** The browser client's sources, which the demo imports from /lib/. */
export const LIB_DIR = path.join(repo, 'clients', 'js', 'src');
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(here, 'artifacts');

/** Liveness bound for anything that should happen "soon": generous, never a timing assertion. */
export const SOON = 15_000;

/** Five distinct pages of the demo workspace, for walks. */
export const FIVE_PAGES = [
  '/w/ws1/channels/design',
  '/w/ws1/documents/42',
  '/w/ws1/diagrams/3',
  '/w/ws1/projects/billing',
  '/w/ws1/tasks/31',
];

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a truthy value, or throws after `timeout` ms. */
export async function until(check, { timeout = SOON, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

/**
 * Starts presenced, by default in development mode serving `staticDir`;
 * with `dev: false` it runs as in production, and `args` must say how
 * tokens are checked (e.g. `--verify-url`).
 *
 * @param {{ args?: string[], port?: number, staticDir?: string, dev?: boolean }} [options]
 */
export async function startServer({ args = [], port = 0, staticDir = DEMO_DIR, dev = true } = {}) {
  if (!existsSync(PRESENCED_BIN)) throw new Error(`presenced not found at ${PRESENCED_BIN}: set PRESENCED_BIN`);
  const dir = mkdtempSync(path.join(tmpdir(), 'pd-browser-'));
  const portFile = path.join(dir, 'port');
  const mode = dev ? ['--dev', '--static-dir', staticDir, '--static-mount', `/lib=${LIB_DIR}`] : [];
  const child = spawn(
    PRESENCED_BIN,
    [...mode, '--listen', `127.0.0.1:${port}`, '--port-file', portFile, '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const bound = await until(() => {
    if (child.exitCode !== null) throw new Error(`presenced exited with ${child.exitCode}:\n${log}`);
    return existsSync(portFile) && Number(readFileSync(portFile, 'utf8').trim());
  }, { timeout: 10_000, what: 'presenced to listen' });
  const server = {
    port: bound,
    origin: `http://127.0.0.1:${bound}`,
    host: `127.0.0.1:${bound}`,
    pid: child.pid,
    get log() {
      return log;
    },
    /** SIGTERM: presenced drains, closing every WebSocket with 1001. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const result = await exited;
      rmSync(dir, { recursive: true, force: true });
      return result;
    },
    /** SIGKILL: the process dies with its sockets. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Mints a development token. */
export async function devToken(server, { user, name, workspace = 'ws1' }) {
  const query = new URLSearchParams({ user, name, workspace });
  const res = await fetch(`${server.origin}/dev/token?${query}`);
  if (!res.ok) throw new Error(`/dev/token: ${res.status}`);
  return (await res.json()).token;
}

/**
 * Launches Chromium as its own process tree, so a test can kill or freeze it.
 *
 * @returns {Promise<{ browser: import('playwright-core').Browser, pid: number, kill(): void, close(): Promise<void> }>}
 */
export async function launchBrowser() {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS });
  const browser = await chromium.connect(server.wsEndpoint());
  const pid = server.process().pid;
  return {
    browser,
    pid,
    kill() {
      server.process().kill('SIGKILL');
    },
    async close() {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

/** Every process below `pid`, with its command line. */
export function descendants(pid) {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out.trim().split('\n').filter(Boolean).flatMap((line) => {
    const [, child, args] = line.trim().match(/^(\d+)\s+(.*)$/);
    return [{ pid: Number(child), args }, ...descendants(Number(child))];
  });
}

/**
 * Opens the demo as a user in a fresh browser context (its own cookies and
 * storage, as a separate browser profile would have).
 */
export async function openAs(browser, server, { user, name, path: at = '/w/ws1' }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await gotoAs(page, server, { user, name, path: at });
  return page;
}

/** Loads the demo in `page` as a user and waits until it is connected. */
export async function gotoAs(page, server, { user, name, path: at = '/w/ws1' }) {
  const query = new URLSearchParams({ user, name });
  await page.goto(`${server.origin}${at}?${query}`);
  await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: SOON });
}

/** The locator of a user's row in the demo's people panel. */
export function person(page, userId) {
  return page.locator(`[data-testid="people"] > [data-user-id="${userId}"]`);
}

/** Waits until `page` shows `userId` at `path` in the people panel. */
export async function seesAt(page, userId, at) {
  await page.waitForSelector(`[data-testid="people"] > [data-user-id="${userId}"][data-path="${at}"]`, { timeout: SOON });
}

/** Waits until `page` no longer lists `userId`. */
export async function seesGone(page, userId, timeout = SOON) {
  await page.waitForSelector(`[data-testid="people"] > [data-user-id="${userId}"]`, { state: 'detached', timeout });
}

/** Clicks a sidebar entry and waits until the page shows it. */
export async function clickNav(page, at) {
  await page.click(`[data-testid="sidebar"] a[data-path="${at}"]`);
  await page.waitForFunction((p) => location.pathname === p, at, { timeout: SOON });
}

export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
