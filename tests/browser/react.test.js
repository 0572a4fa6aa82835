/**
 * The React bindings in an app built with Vite (react-app/), served by
 * presenced: the follow scenario of the demo, through useWorkspacePresence,
 * FollowModeProvider and useFollowMode.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

import { startServer, launchBrowser, openAs, clickNav, seesAt, seesGone, SOON, FIVE_PAGES } from './support.js';

const appDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'react-app');

describe('React hooks in a Vite build', () => {
  let outDir;
  let server;
  let chrome;
  let ann;
  let bo;

  before(async () => {
    outDir = mkdtempSync(path.join(tmpdir(), 'pd-react-'));
    await build({ root: appDir, configFile: path.join(appDir, 'vite.config.js'), build: { outDir, emptyOutDir: true } });
    server = await startServer({ staticDir: outDir });
    chrome = await launchBrowser();
    ann = await openAs(chrome.browser, server, { user: 'ann', name: 'Ann' });
    bo = await openAs(chrome.browser, server, { user: 'bo', name: 'Bo', path: '/w/ws1/channels/random' });
    for (const page of [ann, bo]) page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  it("useWorkspacePresence reports each route change and shows the others' locations", async () => {
    await seesAt(ann, 'bo', '/w/ws1/channels/random');
    await clickNav(ann, '/w/ws1/documents/42');
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
  });

  it("B follows A through five pages, then navigates away: 'you navigated away'", async () => {
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/documents/42', { timeout: SOON });
    assert.equal(await bo.textContent('[data-testid="follow-pill-name"]'), 'Ann');
    for (const page of FIVE_PAGES) {
      await clickNav(ann, page);
      await bo.waitForURL(`**${page}`, { timeout: SOON });
      await seesAt(ann, 'bo', page);
    }
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), true);

    await clickNav(bo, '/w/ws1/channels/general');
    await bo.locator('[data-testid="follow-pill"]').waitFor({ state: 'hidden', timeout: SOON });
    assert.equal(await bo.textContent('[data-testid="stop-reason"]'), 'you navigated away');
    await clickNav(ann, '/w/ws1/tasks/5');
    await seesAt(bo, 'ann', '/w/ws1/tasks/5');
    assert.equal(new URL(bo.url()).pathname, '/w/ws1/channels/general');
  });

  it("following ends with 'went offline' when A leaves", async () => {
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/tasks/5', { timeout: SOON });
    await ann.close();
    await seesGone(bo, 'ann');
    await bo.locator('[data-testid="stop-reason"]', { hasText: 'went offline' }).waitFor({ timeout: SOON });
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), false);
  });
});
