/**
 * A navigates in the demo; B sees A's new location in the people panel, the
 * sidebar and the page. The time from A's click to B's client receiving the
 * change is recorded in artifacts/latency.json (reported, never asserted).
 * Screenshots of the demo with both users present go to artifacts/.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer, launchBrowser, openAs, clickNav, seesAt, artifact, SOON, PRESENCED_BIN } from './support.js';

const WALK = [
  '/w/ws1/documents/42',
  '/w/ws1/channels/design',
  '/w/ws1/diagrams/3',
  '/w/ws1/projects/mobile',
  '/w/ws1/tasks/5',
  '/w/ws1/channels/general',
  '/w/ws1/documents/7',
  '/w/ws1/tasks/12',
  '/w/ws1/diagrams/8',
  '/w/ws1',
];
const SAMPLES = 30;

function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { samples: sorted.length, min: sorted[0], median: at(0.5), p95: at(0.95), max: sorted.at(-1) };
}

describe('navigation is seen by others', () => {
  let server;
  let chrome;
  let ann;
  let bo;

  before(async () => {
    server = await startServer();
    chrome = await launchBrowser();
    ann = await openAs(chrome.browser, server, { user: 'ann', name: 'Ann Lee' });
    bo = await openAs(chrome.browser, server, { user: 'bo', name: 'Bo Chen' });
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  it("shows A's new location in B's people panel, sidebar and page", async () => {
    await seesAt(bo, 'ann', '/w/ws1');
    await clickNav(ann, '/w/ws1/documents/42');
    await seesAt(bo, 'ann', '/w/ws1/documents/42');
    assert.equal(await bo.textContent('[data-testid="people"] > [data-user-id="ann"] .person-where'), 'Q3 roadmap');
    const sidebarAvatar = bo.locator('[data-testid="sidebar"] a[data-path="/w/ws1/documents/42"] .avatar[data-user-id="ann"]');
    await sidebarAvatar.waitFor({ timeout: SOON });
    assert.equal(await sidebarAvatar.textContent(), 'AL');
    assert.equal(await bo.locator('[data-testid="header-people"] [data-user-id="ann"]').count(), 1);

    await clickNav(bo, '/w/ws1/documents/42');
    await bo.locator('[data-testid="here-now"] [data-user-id="ann"]').waitFor({ timeout: SOON });
    await ann.locator('[data-testid="here-now"] [data-user-id="bo"]').waitFor({ timeout: SOON });
  });

  it('saves screenshots of the demo with two users present', async () => {
    await clickNav(ann, '/w/ws1/channels/design');
    await seesAt(bo, 'ann', '/w/ws1/channels/design');
    await bo.click('[data-follow="ann"]');
    await bo.waitForFunction(() => location.pathname === '/w/ws1/channels/design', null, { timeout: SOON });
    await bo.locator('[data-testid="follow-pill"]').waitFor({ state: 'visible', timeout: SOON });
    await ann.screenshot({ path: artifact('demo-ann.png') });
    await bo.screenshot({ path: artifact('demo-bo-following-ann.png') });
    if (process.env.UPDATE_SCREENSHOT === '1') {
      const here = path.dirname(fileURLToPath(import.meta.url));
      copyFileSync(artifact('demo-bo-following-ann.png'), path.join(here, '..', '..', 'docs', 'demo.png'));
    }
    await bo.click('[data-testid="follow-pill-close"]');
    await bo.locator('[data-testid="follow-pill"]').waitFor({ state: 'hidden', timeout: SOON });
  });

  it('records the latency from a click to the other client hearing it', async () => {
    await bo.evaluate(() => {
      window.seen = [];
      window.presence.on('changed', (entry) => window.seen.push({ path: entry.currentPath, at: Date.now() }));
    });
    const latencies = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      const target = WALK[i % WALK.length];
      const clickedAt = await ann.evaluate((p) => {
        const t = Date.now();
        document.querySelector(`[data-testid="sidebar"] a[data-path="${p}"]`).click();
        return t;
      }, target);
      const heard = await bo.waitForFunction(
        ([p, since]) => window.seen.find((s) => s.path === p && s.at >= since),
        [target, clickedAt],
        { timeout: SOON },
      );
      const { at } = await heard.jsonValue();
      latencies.push(at - clickedAt);
      await seesAt(bo, 'ann', target);
    }
    const report = {
      what: 'ms from a sidebar click in A\'s page to B\'s client emitting presence_changed (same machine, same clock)',
      server: `${PRESENCED_BIN} --dev`,
      browser: 'Chromium headless, two contexts in one browser',
      ...summarize(latencies),
      values: latencies,
    };
    writeFileSync(artifact('latency.json'), `${JSON.stringify(report, null, 2)}\n`);
    assert.equal(latencies.length, SAMPLES);
  });
});
