/**
 * The presence map on its own: fed the server's messages directly, no socket.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createPresenceMap, toEntry } from '../src/presence-map.js';

const ANN = { userId: 'ann', userName: 'Ann', userImage: null, currentPath: '/w/ws1/channels/general', resourceType: 'channel', resourceId: 'general' };
const BO = { userId: 'bo', userName: 'Bo', userImage: 'https://img/bo.png', currentPath: '' };
const SELF = { userId: 'me', connectionId: 'key-me' };

function setup() {
  const events = [];
  const map = createPresenceMap((name, ...args) => events.push([name, ...args]));
  const of = (name) => events.filter((e) => e[0] === name).map((e) => e.slice(1));
  return { map, events, of };
}

describe('toEntry', () => {
  it('leaves out unset resource fields and freezes the entry', () => {
    const entry = toEntry({ userId: 'bo', currentPath: '/w/ws1/channels/design', resourceType: null });
    assert.deepEqual(entry, { userId: 'bo', userName: 'bo', userImage: null, currentPath: '/w/ws1/channels/design' });
    assert.ok(Object.isFrozen(entry));
  });

  it('keeps what the message leaves out from the previous entry, but a new path takes its own resource', () => {
    const before = toEntry(ANN);
    assert.deepEqual(toEntry({ userId: 'ann' }, before), before);
    assert.deepEqual(toEntry({ userId: 'ann', userImage: 'https://img/ann.png' }, before), { ...ANN, userImage: 'https://img/ann.png' });
    assert.deepEqual(toEntry({ userId: 'ann', currentPath: '/w/ws1/tasks' }, before), {
      userId: 'ann',
      userName: 'Ann',
      userImage: null,
      currentPath: '/w/ws1/tasks',
    });
  });
});

describe('createPresenceMap', () => {
  it('fills from a snapshot without its own user or users without an id, and emits its own Map', () => {
    const { map, of } = setup();
    map.snapshot({ self: SELF, users: [ANN, { ...BO, userId: 'me' }, { userName: 'nobody' }, null] });
    assert.deepEqual(map.self, SELF);
    assert.deepEqual([...map.entries.keys()], ['ann']);
    assert.deepEqual(of('snapshot'), [[map.entries]]);
  });

  it('replaces everything with a later snapshot, keeping self when it does not say', () => {
    const { map } = setup();
    const entries = map.entries;
    map.snapshot({ self: SELF, users: [ANN] });
    map.snapshot({ users: [BO, { ...ANN, userId: 'me' }] });
    assert.equal(map.entries, entries);
    assert.deepEqual(map.self, SELF);
    assert.deepEqual([...map.entries.keys()], ['bo']);
    map.snapshot({ users: 'not a list' });
    assert.equal(map.entries.size, 0);
  });

  it('adds joins and applies changes with the entry before, ignoring its own user', () => {
    const { map, of } = setup();
    map.snapshot({ self: SELF, users: [] });
    const joined = map.joined(BO);
    assert.deepEqual(joined, BO);
    assert.equal(map.joined({ userId: 'me', userName: 'Me' }), null);
    assert.equal(map.joined({ userName: 'no id' }), null);
    const changed = map.changed({ userId: 'bo', currentPath: '/w/ws1/documents/42', resourceType: 'document', resourceId: '42' });
    assert.deepEqual(changed, { ...BO, currentPath: '/w/ws1/documents/42', resourceType: 'document', resourceId: '42' });
    assert.equal(map.changed({ userId: 'me', currentPath: '/x' }), null);
    assert.equal(map.entries.get('bo'), changed);
    assert.deepEqual(of('joined'), [[joined]]);
    assert.deepEqual(of('changed'), [[changed, joined]]);
  });

  it('reports a change for someone it did not know, with no entry before', () => {
    const { map, of } = setup();
    const entry = map.changed({ userId: 'cy', currentPath: '/w/ws1/tasks/1' });
    assert.deepEqual(of('changed'), [[entry, undefined]]);
    assert.equal(entry.userName, 'cy');
  });

  it('reports one leave for user_left followed by user_left_presence', () => {
    const { map, of } = setup();
    map.snapshot({ self: SELF, users: [ANN, BO] });
    const ann = map.entries.get('ann');
    assert.equal(map.left({ userId: 'ann' }), ann);
    assert.equal(map.left({ userId: 'ann' }), null);
    assert.equal(map.left({ userId: 'nobody' }), null);
    assert.deepEqual(of('left'), [[ann]]);
    assert.deepEqual([...map.entries.keys()], ['bo']);
  });

  it('clears without events', () => {
    const { map, events } = setup();
    map.snapshot({ self: SELF, users: [ANN] });
    events.length = 0;
    map.clear();
    assert.equal(map.entries.size, 0);
    assert.deepEqual(events, []);
  });
});
