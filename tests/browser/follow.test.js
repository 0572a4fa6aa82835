/**
 * Follow mode in the demo: B follows A through five pages, then navigates
 * away itself, and following stops with that reason.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, launchBrowser, openAs, clickNav, seesAt, SOON, FIVE_PAGES } from './support.js';

describe('follow mode', () => {
  let server;
  let chrome;
  let ann;
  let bo;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    ann = await openAs(chrome.browser, server, { user: 'ann', name: 'Ann' });
    bo = await openAs(chrome.browser, server, { user: 'bo', name: 'Bo', path: '/w/ws1/channels/random' });
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  it("B's URL follows A through five pages", async () => {
    await clickNav(ann, '/w/ws1/channels/general');
    await seesAt(bo, 'ann', '/w/ws1/channels/general');
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/channels/general', { timeout: SOON });
    assert.equal(await bo.textContent('[data-testid="follow-pill-name"]'), 'Ann');
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), true);

    for (const page of FIVE_PAGES) {
      await clickNav(ann, page);
      await bo.waitForURL(`**${page}`, { timeout: SOON });
      assert.equal(await bo.textContent('[data-testid="page-title"]'), await ann.textContent('[data-testid="page-title"]'));
      await seesAt(ann, 'bo', page);
    }
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), true);
  });

  it('stops following when B navigates away, saying so', async () => {
    await clickNav(bo, '/w/ws1/documents/7');
    await bo.locator('[data-testid="follow-pill"]').waitFor({ state: 'hidden', timeout: SOON });
    const toast = bo.locator('[data-testid="toast"]', { hasText: 'Stopped following Ann' });
    await toast.waitFor({ timeout: SOON });
    assert.match(await toast.textContent(), /You navigated away/);

    await clickNav(ann, '/w/ws1/tasks/5');
    await seesAt(bo, 'ann', '/w/ws1/tasks/5');
    assert.equal(new URL(bo.url()).pathname, '/w/ws1/documents/7', 'B no longer moves with A');
  });

  it('stops following from the pill', async () => {
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/tasks/5', { timeout: SOON });
    await bo.click('[data-testid="follow-pill-close"]');
    await bo.locator('[data-testid="follow-pill"]').waitFor({ state: 'hidden', timeout: SOON });
    await clickNav(ann, '/w/ws1/tasks/12');
    await seesAt(bo, 'ann', '/w/ws1/tasks/12');
    assert.equal(new URL(bo.url()).pathname, '/w/ws1/tasks/5');
  });
});
