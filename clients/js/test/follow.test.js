/**
 * Follow mode on its own: a plain Map stands for the presence map, and the
 * test says where this user is.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createFollowMode } from '../src/follow.js';

const ANN = Object.freeze({ userId: 'ann', userName: 'Ann', userImage: null, currentPath: '/w/ws1/channels/general' });

function setup(users = [ANN]) {
  const map = new Map(users.map((u) => [u.userId, u]));
  const events = [];
  const navigations = [];
  let here = '/w/ws1/documents/1';
  const follow = createFollowMode({
    lookup: (userId) => map.get(userId),
    here: () => here,
    emit: (name, ...args) => events.push([name, ...args]),
  });
  const unfollowed = () => events.filter((e) => e[0] === 'unfollowed').map((e) => e[1]);
  /** The followed user moves: the map changes, then follow mode hears of it. */
  const move = (path, userId = 'ann') => {
    const entry = { ...map.get(userId), currentPath: path };
    map.set(userId, entry);
    follow.changed(entry);
  };
  /** The app arrives where it was sent (or anywhere): it reports its location. */
  const go = (path) => {
    here = path;
    follow.moved(path);
  };
  const start = (userId = 'ann') => follow.start(userId, (entry) => navigations.push(entry.currentPath));
  return { follow, map, events, navigations, unfollowed, move, go, start };
}

describe('follow mode', () => {
  it('takes the name from the map, or the id for someone unknown', () => {
    const { follow, start, unfollowed } = setup();
    start('ann');
    assert.equal(follow.userId, 'ann');
    start('zed');
    assert.deepEqual(unfollowed(), [{ userId: 'ann', userName: 'Ann', reason: 'stopped' }]);
    follow.end('stopped');
    assert.deepEqual(unfollowed()[1], { userId: 'zed', userName: 'zed', reason: 'stopped' });
    assert.equal(follow.userId, null);
  });

  it('catches up on reconcile, and ends as offline when the user is not in the map', () => {
    const { follow, start, navigations, map, unfollowed } = setup();
    start();
    follow.reconcile();
    assert.deepEqual(navigations, ['/w/ws1/channels/general']);
    follow.reconcile();
    assert.deepEqual(navigations, ['/w/ws1/channels/general'], 'already on its way there');
    map.delete('ann');
    follow.reconcile();
    assert.deepEqual(unfollowed(), [{ userId: 'ann', userName: 'Ann', reason: 'offline' }]);
    follow.reconcile();
    assert.equal(unfollowed().length, 1);
  });

  it('does not navigate to where this user already is, or to an unknown location', () => {
    const { follow, start, navigations, move } = setup();
    start();
    move('/w/ws1/documents/1');
    move('');
    follow.reconcile();
    assert.deepEqual(navigations, []);
    assert.equal(follow.userId, 'ann');
  });

  it('follows only the followed user', () => {
    const { start, navigations, move, map } = setup([ANN, { ...ANN, userId: 'bo', userName: 'Bo' }]);
    start();
    move('/w/ws1/tasks/2', 'bo');
    assert.deepEqual(navigations, []);
    move('/w/ws1/tasks/3');
    assert.deepEqual(navigations, ['/w/ws1/tasks/3']);
    assert.equal(map.get('bo').currentPath, '/w/ws1/tasks/2');
  });

  it('keeps following while the app reports the paths it was sent to, even late', () => {
    const { follow, start, navigations, move, go, unfollowed } = setup();
    start();
    move('/w/ws1/a');
    move('/w/ws1/b');
    go('/w/ws1/a');
    go('/w/ws1/b');
    assert.deepEqual(navigations, ['/w/ws1/a', '/w/ws1/b']);
    assert.equal(follow.userId, 'ann');
    assert.deepEqual(unfollowed(), []);
  });

  it('keeps following when this user goes where the followed user is, unsent', () => {
    const { follow, start, go, navigations } = setup();
    start();
    go(ANN.currentPath);
    assert.deepEqual(navigations, []);
    assert.equal(follow.userId, 'ann');
  });

  it('ends as navigated when this user goes somewhere of their own', () => {
    const { follow, start, move, go, unfollowed } = setup();
    start();
    move('/w/ws1/a');
    go('/w/ws1/mine');
    assert.equal(follow.userId, null);
    assert.deepEqual(unfollowed(), [{ userId: 'ann', userName: 'Ann', reason: 'navigated' }]);
  });

  it('remembers the last 16 paths it sent the app to', () => {
    const { follow, start, move, go, unfollowed } = setup();
    start();
    for (let i = 0; i < 17; i += 1) move(`/w/ws1/p${i}`);
    go('/w/ws1/p1');
    assert.equal(follow.userId, 'ann', 'the 16 latest are remembered');
    go('/w/ws1/p0');
    assert.deepEqual(unfollowed(), [{ userId: 'ann', userName: 'Ann', reason: 'navigated' }], 'the oldest is forgotten');
  });

  it('ends as offline when the followed user leaves, and only then', () => {
    const { follow, start, unfollowed } = setup();
    start();
    follow.left('bo');
    assert.equal(follow.userId, 'ann');
    follow.left('ann');
    assert.deepEqual(unfollowed(), [{ userId: 'ann', userName: 'Ann', reason: 'offline' }]);
  });

  it('does nothing without someone to follow', () => {
    const { follow, events, move, go } = setup();
    follow.reconcile();
    move('/w/ws1/x');
    go('/w/ws1/y');
    follow.left('ann');
    follow.end('closed');
    assert.deepEqual(events, []);
  });
});
