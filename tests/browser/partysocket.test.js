/**
 * The app's existing choice, the real `partysocket` package, pointed at
 * presenced: it connects with PartySocket's own URL scheme, gets the
 * snapshot, sends updates and hears others' — here against
 * @presenced/client running in Node.js on the `ws` package.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PartySocket } from 'partysocket';
import WebSocket from 'ws';
import { createPresenceClient } from '@presenced/client';

import { startServer, devToken, until } from './support.js';

/** Collects a PartySocket's messages, parsed. */
function inbox(socket) {
  const messages = [];
  socket.addEventListener('message', (event) => messages.push(JSON.parse(event.data)));
  return {
    messages,
    next: (type, since = 0) => until(() => messages.slice(since).find((m) => m.type === type), { what: `a ${type}` }),
  };
}

describe('partysocket interop', () => {
  let server;
  let party;
  let bo;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    party?.close();
    bo?.close();
    const exit = await server?.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server?.log);
  });

  it('connects, gets the snapshot, and exchanges updates with a presenced client', async () => {
    party = new PartySocket({
      host: server.host,
      party: 'presence',
      room: 'ws1',
      query: async () => ({ token: await devToken(server, { user: 'ann', name: 'Ann' }) }),
      WebSocket,
    });
    const annInbox = inbox(party);
    const first = await annInbox.next('presence_snapshot');
    assert.deepEqual(first.users, []);
    assert.deepEqual(first.self, { userId: 'ann', connectionId: party.id }, "PartySocket's _pk is the connection id");

    bo = createPresenceClient({
      host: server.host,
      workspaceId: 'ws1',
      getToken: () => devToken(server, { user: 'bo', name: 'Bo' }),
      WebSocket,
    });
    await until(() => bo.isConnected, { what: 'the presenced client to connect' });
    assert.deepEqual(bo.presence.get('ann'), { userId: 'ann', userName: 'Ann', userImage: null, currentPath: '' });
    await annInbox.next('user_joined');

    party.send(JSON.stringify({ type: 'presence_update', currentPath: '/w/ws1/documents/42', resourceType: 'document', resourceId: '42' }));
    await until(() => bo.presence.get('ann')?.currentPath === '/w/ws1/documents/42', { what: "bo to see ann's update" });
    assert.equal(bo.presence.get('ann').resourceType, 'document');

    bo.update('/w/ws1/tasks/5', 'task', '5');
    const changed = await annInbox.next('presence_changed');
    assert.deepEqual(changed, { type: 'presence_changed', userId: 'bo', userName: 'Bo', userImage: null, currentPath: '/w/ws1/tasks/5', resourceType: 'task', resourceId: '5' });

    party.send(JSON.stringify({ type: 'ping', id: 'p1' }));
    assert.deepEqual(await annInbox.next('pong'), { type: 'pong', id: 'p1' });
  });

  it('reconnects with a fresh token and its stable key, and gets a new snapshot', async () => {
    const annInbox = inbox(party);
    party.reconnect();
    const snapshot = await annInbox.next('presence_snapshot');
    assert.equal(snapshot.self.connectionId, party.id);
    assert.deepEqual(snapshot.users.map((u) => [u.userId, u.currentPath]), [['bo', '/w/ws1/tasks/5']]);
  });
});
