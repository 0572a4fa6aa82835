/**
 * The seed app's own client, unchanged, against presenced with the
 * server's defaults in verify-endpoint mode, the app's own mode: the
 * message handling of its `useWorkspacePresence` hook (seed-app/, on the
 * real `partysocket` package in Chromium), tokens checked by the app's
 * verify endpoint (seed-app/site.js), which serves avatars as userImage.
 *
 * Names and images survive moves, a closed tab leaves, a refused token
 * closes, and a server restart brings everyone back.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, launchBrowser, until, SOON, FIVE_PAGES } from './support.js';
import { startSite, USERS } from './seed-app/site.js';

/** Long enough for the hook's own backoff (2 s, 4 s, 8 s) to try three times. */
const RECONNECT = 30_000;

function entryOf(userId, currentPath, resourceType, resourceId) {
  const { userName, userImage } = USERS[userId];
  const entry = { userId, userName, userImage, currentPath };
  if (resourceType) entry.resourceType = resourceType;
  if (resourceId) entry.resourceId = resourceId;
  return entry;
}

/** The resource a demo path names: /w/ws1/documents/42 -> document 42. */
function resourceOf(at) {
  const [, , , kind, id] = at.split('/');
  return kind ? [kind.replace(/s$/, ''), id] : [];
}

describe("the seed app's useWorkspacePresence, unchanged, in verify-endpoint mode", () => {
  let site;
  let server;
  let chrome;
  const pages = {};

  function serverArgs() {
    return ['--verify-url', site.verifyUrl];
  }

  before(async () => {
    site = await startSite();
    server = await startServer({ dev: false, args: serverArgs() });
    chrome = await launchBrowser();
  });

  after(async () => {
    await chrome?.close();
    const exit = await server?.stop();
    await site?.close();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  /** Opens the app as user in a browser context of its own (a separate profile). */
  async function open(user, at = '/w/ws1') {
    const context = await chrome.browser.newContext();
    const page = await context.newPage();
    const query = new URLSearchParams({ user, host: server.host, path: at });
    await page.goto(`${site.origin}/?${query}`);
    await page.waitForFunction(() => window.app !== undefined, null, { timeout: SOON });
    pages[user] = page;
    return page;
  }

  function view(page) {
    return page.evaluate(() => window.app.view());
  }

  /** Waits until page's map holds exactly `entry` for its user. */
  async function sees(page, entry, timeout = SOON) {
    const want = JSON.stringify(entry);
    let last;
    try {
      await until(async () => {
        last = (await view(page)).users[entry.userId];
        return JSON.stringify(last) === want;
      }, { timeout, what: `${entry.userId} as ${want}` });
    } catch (err) {
      throw new Error(`${err.message}; the hook's entry: ${JSON.stringify(last)}`);
    }
  }

  async function seesGone(page, userId, timeout = SOON) {
    await until(async () => !(userId in (await view(page)).users), { timeout, what: `${userId} to leave` });
  }

  async function navigate(user, at) {
    const [type, id] = resourceOf(at);
    await pages[user].evaluate(([p, t, i]) => window.app.navigate(p, t, i), [at, type, id]);
    return entryOf(user, at, type, id);
  }

  it('users see each other, and names and images survive moves', async () => {
    const ann = await open('ann');
    const bo = await open('bo', '/w/ws1/channels/general');
    // The hook ignores user_joined: it learns of a member from the snapshot or
    // from that member's first presence_changed, sent as the socket opens.
    await sees(bo, entryOf('ann', '/w/ws1'));
    await sees(ann, entryOf('bo', '/w/ws1/channels/general'));
    for (const [i, at] of FIVE_PAGES.entries()) {
      await sees(bo, await navigate('ann', at));
      await sees(ann, await navigate('bo', FIVE_PAGES[FIVE_PAGES.length - 1 - i]));
    }
    const annNow = await navigate('ann', '/w/ws1/documents/42');
    await sees(bo, annNow);
    assert.equal((await view(bo)).users.ann.userImage, 'https://cdn.example/avatars/ann.png');

    // presenced asked the app's endpoint exactly as the PartyKit server did.
    assert.ok(site.verifyRequests.length >= 2);
    for (const request of site.verifyRequests) {
      assert.match(request.authorization, /^Bearer [A-Za-z0-9_-]+$/);
      assert.equal(request.contentType, 'application/json');
      assert.equal(request.body, '{"roomId":"presence-ws1"}');
    }
  });

  it('a closed tab leaves', async () => {
    const carol = await open('carol', '/w/ws1/tasks/9');
    const entry = entryOf('carol', '/w/ws1/tasks/9');
    await sees(pages.ann, entry);
    await sees(pages.bo, entry);
    assert.equal(entry.userImage, null, 'a user without an avatar has userImage null');
    await carol.context().close();
    delete pages.carol;
    await seesGone(pages.ann, 'carol');
    await seesGone(pages.bo, 'carol');
    const annView = await view(pages.ann);
    assert.deepEqual(annView.received.filter(([, user]) => user === 'carol').map(([type]) => type).slice(-2),
      ['user_left', 'user_left_presence'], 'the leave in both default forms, the app\'s last');
    assert.deepEqual(Object.keys(annView.users), ['bo']);
  });

  it('a refused token closes', async () => {
    // mallory's token was never issued (401), eve is not in ws1 (403).
    for (const [user, code] of [['mallory', 'AUTH_INVALID'], ['eve', 'AUTH_FORBIDDEN']]) {
      const page = await open(user);
      const refused = await until(async () => {
        const v = await view(page);
        return v.authError && v.socketState === 3 && v;
      }, { what: `${user}'s hook to be refused and closed` });
      assert.equal(refused.authError, code);
      assert.equal(refused.isConnected, false);
      assert.deepEqual(refused.users, {}, 'no presence data before admission');
      await page.context().close();
      delete pages[user];
    }
    for (const page of [pages.ann, pages.bo]) {
      const v = await view(page);
      assert.ok(!('mallory' in v.users) && !('eve' in v.users));
      assert.ok(!v.received.some(([, user]) => user === 'mallory' || user === 'eve'));
    }
  });

  it('a server restart brings everyone back', async () => {
    const annAt = await navigate('ann', '/w/ws1/diagrams/3');
    const boAt = await navigate('bo', '/w/ws1/projects/billing');
    await sees(pages.bo, annAt);
    await sees(pages.ann, boAt);
    for (const how of ['kill', 'stop']) {
      const { port } = server;
      const exit = await server[how]();
      if (how === 'stop') assert.deepEqual(exit, { code: 0, signal: null }, server.log);
      for (const page of [pages.ann, pages.bo]) {
        await until(async () => !(await view(page)).isConnected, { what: `the hook to see the server go (${how})` });
      }
      server = await startServer({ dev: false, port, args: serverArgs() });
      for (const page of [pages.ann, pages.bo]) {
        await until(async () => (await view(page)).isConnected, { timeout: RECONNECT, what: `the hook to reconnect (${how})` });
      }
      await sees(pages.bo, annAt, RECONNECT);
      await sees(pages.ann, boAt, RECONNECT);
      for (const page of [pages.ann, pages.bo]) {
        const v = await view(page);
        assert.equal(v.gaveUp, false);
        assert.equal(v.authError, null);
      }
    }
    // After the restart the members still move, with names and images.
    await sees(pages.bo, await navigate('ann', '/w/ws1/documents/7'));
  });
});
