/**
 * One user, many tabs: B keeps seeing A while any of A's tabs is open, and
 * sees A leave (and stops following, "went offline") when the last closes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, launchBrowser, openAs, gotoAs, clickNav, seesAt, seesGone, person, sleep, SOON } from './support.js';

describe('tabs', () => {
  let server;
  let chrome;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  it('B sees A until A closes the last tab, then gets "went offline"', async () => {
    const annFirst = await openAs(chrome.browser, server, { user: 'ann', name: 'Ann' });
    const bo = await openAs(chrome.browser, server, { user: 'bo', name: 'Bo' });
    await clickNav(annFirst, '/w/ws1/documents/42');
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    await bo.click('[data-follow="ann"]');
    await bo.waitForURL('**/w/ws1/documents/42', { timeout: SOON });

    const annSecond = await annFirst.context().newPage();
    await gotoAs(annSecond, server, { user: 'ann', name: 'Ann', path: '/w/ws1/tasks/5' });
    await bo.waitForURL('**/w/ws1/tasks/5', { timeout: SOON });

    await annSecond.close();
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    await bo.waitForURL('**/w/ws1/documents/42', { timeout: SOON });
    await clickNav(annFirst, '/w/ws1/channels/design');
    await bo.waitForURL('**/w/ws1/channels/design', { timeout: SOON });
    await sleep(1000);
    assert.equal(await person(bo, 'ann').count(), 1, 'A is still present');
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), true, 'B still follows A');

    await annFirst.close();
    await seesGone(bo, 'ann');
    await bo.locator('[data-testid="toast"]', { hasText: 'Ann went offline' }).waitFor({ timeout: SOON });
    assert.equal(await bo.isVisible('[data-testid="follow-pill"]'), false);
    assert.equal(await bo.locator('[data-testid="header-people"] [data-user-id="ann"]').count(), 0);
  });
});
