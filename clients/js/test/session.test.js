/**
 * The session on its own: the fake socket and clock, and hooks that record
 * what the session tells its owner. Reconnects, tokens and pings through the
 * whole client are in client.test.js.
 */
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { createSession } from '../src/session.js';
import { createBackoff } from '../src/backoff.js';
import { FakeWebSocket, createClock, createOnlineTarget, settle } from './fakes.js';

const OPTIONS = { connectTimeout: 10_000, pingInterval: 10_000, pingTimeout: 5_000, stableAfter: 5_000, refreshRetryDelay: 5_000 };

function setup() {
  const clock = createClock();
  const online = createOnlineTarget();
  const log = [];
  let tokens = 0;
  const session = createSession({
    url: (token) => `ws://127.0.0.1:1999/parties/presence/ws1?token=${token}`,
    getToken: async () => `token-${(tokens += 1)}`,
    WebSocket: FakeWebSocket,
    timers: clock,
    onlineTarget: online,
    backoff: createBackoff({ minDelay: 1000, maxDelay: 10_000, growFactor: 1.3, random: () => 0.5 }),
    options: OPTIONS,
    emit: (name, ...args) => log.push([name, ...args]),
    onMessage: (msg) => log.push(['message', msg]),
    onConnected: () => log.push(['onConnected']),
    onStop: () => log.push(['onStop', session.state]),
    onClose: () => log.push(['onClose', FakeWebSocket.last?.closedWith ?? null]),
  });
  const of = (name) => log.filter((e) => e[0] === name).map((e) => e.slice(1));
  return { session, clock, online, log, of };
}

/** Starts the session and lets its socket open. */
async function opened(h) {
  h.session.start();
  await settle();
  const ws = FakeWebSocket.last;
  ws.open();
  return ws;
}

beforeEach(() => FakeWebSocket.reset());

describe('createSession', () => {
  it('connects with a token from the url function', async () => {
    const h = setup();
    const ws = await opened(h);
    assert.equal(ws.url.searchParams.get('token'), 'token-1');
    assert.equal(h.session.state, 'connecting');
    assert.equal(h.session.accepted, false);
  });

  it('passes on the messages it does not consume, and drops what is not a JSON object', async () => {
    const h = setup();
    const ws = await opened(h);
    const snapshot = { type: 'presence_snapshot', users: [] };
    ws.receive(snapshot);
    ws.receive({ type: 'user_joined', userId: 'bo' });
    ws.receive({ type: 'something_new' });
    ws.receive({ type: 'valueOf' });
    ws.receive({ type: 'auth_ok' });
    ws.receive({ type: 'permission_revoked', reason: 'gone' });
    ws.receive('a string');
    ws.receive(null);
    ws.onmessage({ data: '{broken' });
    assert.deepEqual(
      h.of('message').map(([m]) => m.type),
      ['presence_snapshot', 'user_joined', 'something_new', 'valueOf'],
    );
  });

  it('is admitted only when told, once, and pings at once', async () => {
    const h = setup();
    const ws = await opened(h);
    assert.equal(h.session.send({ type: 'presence_update', currentPath: '/a' }), false);
    h.session.accept();
    h.session.accept();
    assert.equal(h.session.state, 'connected');
    assert.equal(h.of('onConnected').length, 1);
    assert.deepEqual(ws.sentOf('ping'), [{ type: 'ping', id: 1 }]);
    assert.equal(h.session.send({ type: 'presence_update', currentPath: '/a' }), true);
    assert.deepEqual(ws.sentOf('presence_update'), [{ type: 'presence_update', currentPath: '/a' }]);
    const states = h.of('state').map(([s]) => s);
    assert.deepEqual(states, ['connecting', 'connected']);
    assert.ok(h.log.findIndex((e) => e[0] === 'onConnected') > h.log.findIndex((e) => e[1] === 'connected'));
  });

  it('pings inside the idle timeout a snapshot announces, before it is admitted', async () => {
    const h = setup();
    const ws = await opened(h);
    ws.receive({ type: 'presence_snapshot', users: [], idleTimeout: 3000 });
    h.session.accept();
    ws.receive({ type: 'pong', id: 1 });
    h.clock.advance(999);
    assert.equal(ws.sentOf('ping').length, 1);
    h.clock.advance(1);
    assert.equal(ws.sentOf('ping').length, 2);
  });

  it('calls onStop before the state becomes stopped', async () => {
    const h = setup();
    const ws = await opened(h);
    h.session.accept();
    ws.drop(1008, 'REPLACED');
    assert.deepEqual(h.of('onStop'), [['connected']]);
    assert.equal(h.session.state, 'stopped');
    assert.deepEqual(h.of('disconnected'), [[{ reason: 'REPLACED', willReconnect: false }]]);
  });

  it('calls onClose on close(), before the socket closes and before disconnected', async () => {
    const h = setup();
    const ws = await opened(h);
    h.session.accept();
    h.session.close();
    h.session.close();
    assert.deepEqual(h.of('onClose'), [[null]]);
    assert.deepEqual(ws.closedWith, { code: 1000, reason: 'closed' });
    assert.ok(h.log.findIndex((e) => e[0] === 'onClose') < h.log.findIndex((e) => e[0] === 'disconnected'));
    assert.equal(h.session.state, 'closed');
    assert.equal(h.online.listenerCount, 0);
    assert.deepEqual(h.clock.pending(), []);
  });

  it('backs off after a lost connection without calling its owner', async () => {
    const h = setup();
    const ws = await opened(h);
    ws.drop();
    assert.equal(h.session.state, 'reconnecting');
    assert.deepEqual(h.of('onStop'), []);
    assert.deepEqual(h.of('disconnected'), []);
    assert.deepEqual(h.of('error'), []);
    h.clock.advance(500);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2);
  });
});
