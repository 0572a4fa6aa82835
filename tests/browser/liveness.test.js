/**
 * Browsers that die or hang, against a server with short liveness settings:
 * B must see A leave without A running any cleanup code.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, launchBrowser, openAs, clickNav, seesAt, seesGone, descendants, SOON } from './support.js';

const LIVENESS = ['--ping-interval', '0.5', '--idle-timeout', '1.5'];

function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

describe('liveness', () => {
  let server;
  let observer;
  let bo;
  let annBrowser;

  before(async () => {
    server = await startServer({ args: LIVENESS });
    observer = await launchBrowser();
    bo = await openAs(observer.browser, server, { user: 'bo', name: 'Bo' });
  });

  afterEach(async () => {
    await annBrowser?.close();
    annBrowser = null;
  });

  after(async () => {
    await observer?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  async function annIsHere() {
    annBrowser = await launchBrowser();
    const ann = await openAs(annBrowser.browser, server, { user: 'ann', name: 'Ann' });
    await clickNav(ann, '/w/ws1/documents/42');
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    return ann;
  }

  it("B sees A leave when A's browser process is killed", async () => {
    await annIsHere();
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/documents/42', { timeout: SOON });
    const tree = descendants(annBrowser.pid).map((p) => p.pid);
    annBrowser.kill();
    await seesGone(bo, 'ann');
    await bo.locator('[data-testid="toast"]', { hasText: 'Ann went offline' }).waitFor({ timeout: SOON });
    signalAll(tree, 'SIGKILL');
  });

  it("B sees A leave when A's whole browser hangs (every process stopped)", async () => {
    await annIsHere();
    const tree = [annBrowser.pid, ...descendants(annBrowser.pid).map((p) => p.pid)];
    signalAll(tree, 'SIGSTOP');
    try {
      await seesGone(bo, 'ann');
    } finally {
      signalAll(tree, 'SIGCONT');
    }
  });

  // Chromium's network service answers WebSocket pings for a stopped
  // renderer; the client's app-level pings are what stop when the page does.
  it("B sees A leave within the idle timeout when A's renderer is frozen", async () => {
    await annIsHere();
    const renderers = descendants(annBrowser.pid).filter((p) => p.args.includes('--type=renderer')).map((p) => p.pid);
    assert.ok(renderers.length > 0, 'found the renderer processes');
    signalAll(renderers, 'SIGSTOP');
    try {
      await seesGone(bo, 'ann');
    } finally {
      signalAll(renderers, 'SIGCONT');
    }
  });
});
