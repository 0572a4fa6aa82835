/**
 * The server goes away and comes back on the same port: both clients
 * reconnect by themselves, with fresh tokens from the new server, and each
 * re-sends its last location, so presence is whole again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import WebSocket from 'ws';

import { startServer, launchBrowser, openAs, clickNav, seesAt, devToken, until, SOON } from './support.js';

/** Where the server itself says everyone is: a third user's snapshot. */
async function serverView(server) {
  const token = await devToken(server, { user: 'observer', name: 'Observer' });
  const ws = new WebSocket(`ws://${server.host}/parties/presence/ws1?token=${token}`);
  try {
    const snapshot = await new Promise((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(data)));
      ws.once('error', reject);
    });
    const entries = snapshot.users.map((u) => [u.userId, u.currentPath]);
    return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  } finally {
    ws.close();
  }
}

describe('server restart', () => {
  let server;
  let chrome;
  let ann;
  let bo;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    ann = await openAs(chrome.browser, server, { user: 'ann', name: 'Ann' });
    bo = await openAs(chrome.browser, server, { user: 'bo', name: 'Bo' });
    await clickNav(ann, '/w/ws1/documents/42');
    await clickNav(bo, '/w/ws1/tasks/5');
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    await seesAt(ann, 'bo', '/w/ws1/tasks/5');
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  async function bothBack() {
    for (const page of [ann, bo]) {
      await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: SOON });
    }
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    await seesAt(ann, 'bo', '/w/ws1/tasks/5');
    const expected = { ann: '/w/ws1/documents/42', bo: '/w/ws1/tasks/5' };
    const view = await until(async () => {
      const users = await serverView(server);
      return JSON.stringify(users) === JSON.stringify(expected) && users;
    }, { what: 'the new server to know both locations' });
    assert.deepEqual(view, expected);
  }

  async function sawDisconnect(page) {
    await page.waitForSelector('[data-testid="connection"]:not([data-state="connected"])', { timeout: SOON });
  }

  it('recovers from a crash (SIGKILL) and a restart on the same port', async () => {
    const { port } = server;
    await server.kill();
    await Promise.all([sawDisconnect(ann), sawDisconnect(bo)]);
    server = await startServer({ port });
    await bothBack();
  });

  it('recovers from a graceful restart (SIGTERM drains with 1001)', async () => {
    const { port } = server;
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    await Promise.all([sawDisconnect(ann), sawDisconnect(bo)]);
    server = await startServer({ port });
    await bothBack();
    await clickNav(ann, '/w/ws1/channels/design');
    await seesAt(bo, 'ann', '/w/ws1/channels/design');
  });
});
