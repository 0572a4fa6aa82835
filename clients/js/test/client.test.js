import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { createPresenceClient, reconnectPolicy, roomUrl } from '../src/client.js';
import { createBackoff } from '../src/backoff.js';
import { FakeWebSocket, createClock, createOnlineTarget, settle } from './fakes.js';

const ANN = { userId: 'ann', userName: 'Ann', userImage: null, currentPath: '/w/ws1/channels/general', resourceType: 'channel', resourceId: 'general' };
const BO = { userId: 'bo', userName: 'Bo', userImage: 'https://img/bo.png', currentPath: '' };
const EVENTS = ['snapshot', 'joined', 'changed', 'left', 'connected', 'disconnected', 'error', 'state', 'unfollowed'];

function setup(overrides = {}) {
  const clock = createClock();
  const online = createOnlineTarget();
  const tokens = [];
  const events = [];
  const client = createPresenceClient({
    host: '127.0.0.1:1999',
    workspaceId: 'ws1',
    getToken: async () => {
      tokens.push(`token-${tokens.length + 1}`);
      return tokens.at(-1);
    },
    WebSocket: FakeWebSocket,
    timers: clock,
    random: () => 0.5,
    onlineTarget: online,
    minDelay: 1000,
    ...overrides,
  });
  for (const name of EVENTS) client.on(name, (...args) => events.push([name, ...args]));
  const of = (name) => events.filter((e) => e[0] === name).map((e) => e.slice(1));
  return { client, clock, online, tokens, events, of };
}

/** Lets the pending connect open and be admitted with a snapshot. */
async function accept(users = [], self = { userId: 'me', connectionId: 'key-me' }) {
  await settle();
  const ws = FakeWebSocket.last;
  ws.open();
  ws.receive({ type: 'presence_snapshot', self, users });
  return ws;
}

beforeEach(() => FakeWebSocket.reset());

describe('roomUrl', () => {
  const parts = { party: 'presence', workspaceId: 'ws1', connectionKey: 'k1', token: 'a.b+c' };

  it('builds the PartySocket path with the token and the connection key', () => {
    const url = new URL(roomUrl({ ...parts, host: '127.0.0.1:1999' }));
    assert.equal(url.protocol, 'ws:');
    assert.equal(url.host, '127.0.0.1:1999');
    assert.equal(url.pathname, '/parties/presence/ws1');
    assert.equal(url.searchParams.get('token'), 'a.b+c');
    assert.equal(url.searchParams.get('_pk'), 'k1');
  });

  it('uses TLS for remote hosts, and follows an explicit scheme or option', () => {
    assert.match(roomUrl({ ...parts, host: 'presence.example.com' }), /^wss:\/\/presence\.example\.com\//);
    assert.match(roomUrl({ ...parts, host: 'localhost:1999' }), /^ws:\/\//);
    assert.match(roomUrl({ ...parts, host: 'https://example.com/' }), /^wss:\/\/example\.com\/parties/);
    assert.match(roomUrl({ ...parts, host: 'http://example.com' }), /^ws:\/\//);
    assert.match(roomUrl({ ...parts, host: 'example.com', secure: false }), /^ws:\/\//);
  });
});

describe('reconnectPolicy', () => {
  it('follows the contract table', () => {
    assert.equal(reconnectPolicy('AUTH_EXPIRED', null), 'now');
    assert.equal(reconnectPolicy('AUTH_EXPIRED', 'AUTH_EXPIRED'), 'backoff');
    for (const code of ['AUTH_INVALID', 'AUTH_MISSING', 'ROOM_FULL', 'SERVICE_UNAVAILABLE', 'CONNECTION_LOST', 'PING_TIMEOUT']) {
      assert.equal(reconnectPolicy(code, null), 'backoff', code);
    }
    for (const code of ['AUTH_FORBIDDEN', 'PERMISSION_REVOKED', 'TOO_MANY_CONNECTIONS', 'REPLACED']) {
      assert.equal(reconnectPolicy(code, null), 'stop', code);
    }
  });
});

describe('backoff', () => {
  it('draws each delay below a ceiling that grows to the maximum, and resets', () => {
    const b = createBackoff({ minDelay: 1000, maxDelay: 10_000, growFactor: 1.3, random: () => 0.999999 });
    const ceilings = Array.from({ length: 12 }, () => b.next());
    assert.equal(ceilings[0], 1000);
    assert.equal(ceilings[1], 1300);
    assert.equal(ceilings[2], 1690);
    assert.equal(ceilings.at(-1), 10_000);
    for (let i = 1; i < ceilings.length; i += 1) assert.ok(ceilings[i] >= ceilings[i - 1]);
    b.reset();
    assert.equal(b.next(), 1000);
  });

  it('is fully jittered: a delay can be anywhere from zero to the ceiling', () => {
    const b = createBackoff({ minDelay: 1000, maxDelay: 10_000, growFactor: 1.3, random: () => 0 });
    assert.equal(b.next(), 0);
  });
});

describe('createPresenceClient', () => {
  it('rejects unusable options', () => {
    const base = { host: 'h', workspaceId: 'ws1', getToken: async () => 't', WebSocket: FakeWebSocket, onlineTarget: null };
    assert.throws(() => createPresenceClient({ ...base, workspaceId: 'a/b' }), TypeError);
    assert.throws(() => createPresenceClient({ ...base, host: '' }), TypeError);
    assert.throws(() => createPresenceClient({ ...base, getToken: 'x' }), TypeError);
    assert.throws(() => createPresenceClient({ ...base, connectionKey: 'no spaces' }), TypeError);
  });

  it('connects with a fresh token each time and a stable connection key', async () => {
    const { tokens, client, clock } = setup();
    const first = await accept();
    first.drop();
    assert.equal(client.state, 'reconnecting');
    clock.advance(10_000);
    await settle();
    const second = FakeWebSocket.last;
    assert.notEqual(second, first);
    assert.deepEqual(tokens, ['token-1', 'token-2']);
    assert.equal(first.url.searchParams.get('token'), 'token-1');
    assert.equal(second.url.searchParams.get('token'), 'token-2');
    assert.equal(second.url.searchParams.get('_pk'), first.url.searchParams.get('_pk'));
    assert.match(first.url.searchParams.get('_pk'), /^[A-Za-z0-9]{16}$/);
  });

  it('keeps the presence map from snapshot, joins, changes and leaves, without its own user', async () => {
    const { client, of } = setup();
    const ws = await accept([ANN, { ...BO, userId: 'me', userName: 'Me' }]);
    assert.equal(client.isConnected, true);
    assert.deepEqual(client.self, { userId: 'me', connectionId: 'key-me' });
    assert.deepEqual([...client.presence.keys()], ['ann']);
    assert.deepEqual(client.presence.get('ann'), ANN);

    ws.receive({ type: 'user_joined', userId: 'bo', userName: 'Bo', userImage: 'https://img/bo.png' });
    assert.deepEqual(client.presence.get('bo'), BO);
    assert.deepEqual(of('joined'), [[BO]]);

    ws.receive({ type: 'presence_changed', userId: 'bo', userName: 'Bo', currentPath: '/w/ws1/tasks/5', resourceType: 'task', resourceId: '5' });
    ws.receive({ type: 'presence_changed', userId: 'bo', userName: 'Bo', currentPath: '/w/ws1' });
    const bo = client.presence.get('bo');
    assert.deepEqual(bo, { userId: 'bo', userName: 'Bo', userImage: 'https://img/bo.png', currentPath: '/w/ws1' });
    assert.equal(of('changed').length, 2);
    assert.equal(of('changed')[1][1].resourceType, 'task');

    ws.receive({ type: 'presence_changed', userId: 'me', userName: 'Me', currentPath: '/w/ws1/x' });
    assert.equal(client.presence.has('me'), false);

    ws.receive({ type: 'user_left', userId: 'ann' });
    assert.deepEqual([...client.presence.keys()], ['bo']);
    assert.deepEqual(of('left'), [[ANN]]);
  });

  it('takes name and image from every presence_changed that carries them', async () => {
    const { client } = setup();
    const ws = await accept([ANN]);
    ws.receive({ type: 'presence_changed', userId: 'ann', userName: 'Ann B', userImage: 'https://img/ann2.png', currentPath: '/w/ws1/x' });
    assert.deepEqual(client.presence.get('ann'), { userId: 'ann', userName: 'Ann B', userImage: 'https://img/ann2.png', currentPath: '/w/ws1/x' });
    ws.receive({ type: 'presence_changed', userId: 'ann', userName: 'Ann B', userImage: null, currentPath: '/w/ws1/y' });
    assert.equal(client.presence.get('ann').userImage, null);
  });

  it('reports one leave for user_left followed by user_left_presence, and one for either alone', async () => {
    const { client, of } = setup();
    const ws = await accept([ANN, BO]);
    ws.receive({ type: 'user_left', userId: 'ann' });
    ws.receive({ type: 'user_left_presence', userId: 'ann' });
    assert.deepEqual(of('left'), [[ANN]]);
    ws.receive({ type: 'user_left_presence', userId: 'bo' });
    assert.deepEqual(of('left'), [[ANN], [BO]]);
    assert.equal(client.presence.size, 0);
  });

  it('ignores message types it does not know', async () => {
    const { client, of } = setup();
    const ws = await accept([ANN]);
    ws.receive({ type: 'presence_teleported', userId: 'ann', currentPath: '/nowhere' });
    ws.receive({ type: 42 });
    assert.deepEqual(client.presence.get('ann'), ANN);
    assert.equal(client.isConnected, true);
    assert.deepEqual(of('error'), []);
  });

  it('replaces the whole map with a snapshot that comes later', async () => {
    const { client, of } = setup();
    const ws = await accept([ANN]);
    ws.receive({ type: 'presence_snapshot', self: { userId: 'me', connectionId: 'key-me' }, users: [BO] });
    assert.deepEqual([...client.presence.keys()], ['bo']);
    assert.equal(of('snapshot').length, 2);
    assert.equal(of('connected').length, 1, 'a resync is not a new connection');
  });

  it('sends the location set before connecting once admitted, and again after a reconnect', async () => {
    const { client, clock } = setup();
    client.update('/w/ws1/documents/42', 'document', '42');
    const first = await accept();
    const update = { type: 'presence_update', currentPath: '/w/ws1/documents/42', resourceType: 'document', resourceId: '42' };
    assert.deepEqual(first.sentOf('presence_update'), [update]);

    client.update('/w/ws1/tasks/7', 'task', '7');
    client.update('/w/ws1');
    assert.deepEqual(first.sentOf('presence_update').at(-1), { type: 'presence_update', currentPath: '/w/ws1' });

    first.drop();
    clock.advance(10_000);
    const second = await accept();
    assert.deepEqual(second.sentOf('presence_update'), [{ type: 'presence_update', currentPath: '/w/ws1' }]);
  });

  it('rejects an empty location', () => {
    const { client } = setup();
    assert.throws(() => client.update(''), TypeError);
  });

  it('answers TOKEN_REFRESH_REQUIRED with a token_refresh carrying a new token', async () => {
    const { tokens } = setup();
    const ws = await accept();
    ws.receive({ type: 'error', code: 'TOKEN_REFRESH_REQUIRED' });
    await settle();
    assert.deepEqual(ws.sentOf('token_refresh'), [{ type: 'token_refresh', token: 'token-2' }]);
    assert.equal(tokens.length, 2);
    ws.receive({ type: 'auth_ok', userId: 'me', userName: 'Me' });
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  it('retries a refresh the server could not verify', async () => {
    const { clock } = setup({ refreshRetryDelay: 3000 });
    const ws = await accept();
    ws.receive({ type: 'error', code: 'TOKEN_REFRESH_REQUIRED' });
    await settle();
    ws.receive({ type: 'error', code: 'SERVICE_UNAVAILABLE' });
    clock.advance(3000);
    await settle();
    assert.equal(ws.sentOf('token_refresh').length, 2);
  });

  it('reconnects at once with a new token after AUTH_EXPIRED, but backs off if it happens twice', async () => {
    const { client, tokens } = setup();
    await settle();
    FakeWebSocket.last.open();
    FakeWebSocket.last.receive({ type: 'auth_error', code: 'AUTH_EXPIRED' });
    FakeWebSocket.last.drop(1008, 'AUTH_EXPIRED');
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2, 'reconnected without waiting');
    assert.equal(tokens.length, 2);

    FakeWebSocket.last.open();
    FakeWebSocket.last.drop(1008, 'AUTH_EXPIRED');
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(client.state, 'reconnecting');
  });

  for (const [code, close] of [['AUTH_INVALID', 1008], ['AUTH_MISSING', 1008], ['ROOM_FULL', 1013], ['SERVICE_UNAVAILABLE', 1013]]) {
    it(`backs off after ${code}`, async () => {
      const { client, clock, of } = setup();
      await settle();
      const ws = FakeWebSocket.last;
      ws.open();
      ws.receive({ type: code.startsWith('AUTH') ? 'auth_error' : 'error', code });
      ws.drop(close, code);
      assert.equal(client.state, 'reconnecting');
      assert.deepEqual(of('state').at(-1), ['reconnecting', { delay: 500, reason: code }]);
      assert.equal(of('error').at(-1)[0].code, code);
      clock.advance(499);
      await settle();
      assert.equal(FakeWebSocket.instances.length, 1);
      clock.advance(1);
      await settle();
      assert.equal(FakeWebSocket.instances.length, 2);
    });
  }

  for (const [when, type, code, reason] of [
    ['at admission', 'auth_error', 'AUTH_FORBIDDEN', 'AUTH_FORBIDDEN'],
    ['at admission', 'error', 'TOO_MANY_CONNECTIONS', 'TOO_MANY_CONNECTIONS'],
    ['on a token refresh', 'auth_error', 'AUTH_FORBIDDEN', 'AUTH_FORBIDDEN'],
    ['when connected', 'permission_revoked', 'PERMISSION_REVOKED', 'AUTH_FORBIDDEN'],
  ]) {
    it(`stops and reports ${code} ${when}`, async () => {
      const { client, clock, of } = setup();
      const admitted = when !== 'at admission';
      let ws;
      if (admitted) {
        ws = await accept([ANN]);
      } else {
        await settle();
        ws = FakeWebSocket.last;
        ws.open();
      }
      ws.receive(type === 'permission_revoked' ? { type, reason: 'removed from workspace' } : { type, code });
      ws.drop(1008, reason);
      clock.advance(60_000);
      await settle();
      assert.equal(FakeWebSocket.instances.length, 1);
      assert.equal(client.state, 'stopped');
      assert.equal(client.presence.size, 0);
      assert.deepEqual(of('disconnected'), admitted ? [[{ reason: code, willReconnect: false }]] : []);
      assert.deepEqual(of('error').map(([e]) => [e.code, e.fatal]), [[code, true]], 'reported once');
    });
  }

  it('stops when another connection took over its key', async () => {
    const { client } = setup();
    const ws = await accept();
    ws.drop(1000, 'REPLACED');
    assert.equal(client.state, 'stopped');
  });

  it('grows the delay while connections keep failing and resets it after a stable one', async () => {
    const { clock, of } = setup({ random: () => 0.999999, minDelay: 1000, growFactor: 2, stableAfter: 5000 });
    const delays = () => of('state').filter(([s]) => s === 'reconnecting').map(([, d]) => d.delay);
    for (let i = 0; i < 3; i += 1) {
      const ws = await accept();
      clock.advance(1000);
      ws.drop();
      clock.advance(delays().at(-1));
    }
    assert.deepEqual(delays(), [1000, 2000, 4000]);
    const ws = await accept();
    clock.advance(5000);
    ws.drop();
    assert.equal(delays().at(-1), 1000);
  });

  it('backs off when getToken fails, and reports it', async () => {
    let fail = true;
    const { client, clock, of } = setup({
      getToken: async () => {
        if (fail) throw new Error('offline');
        return 'tok';
      },
    });
    await settle();
    assert.equal(client.state, 'reconnecting');
    assert.equal(of('error')[0][0].code, 'TOKEN_UNAVAILABLE');
    assert.equal(FakeWebSocket.instances.length, 0);
    fail = false;
    clock.advance(10_000);
    await accept();
    assert.equal(client.isConnected, true);
  });

  it('backs off when the WebSocket cannot even be created', async () => {
    let refuse = true;
    class Refusing extends FakeWebSocket {
      constructor(url) {
        if (refuse) throw new SyntaxError('bad url');
        super(url);
      }
    }
    const { client, clock, of } = setup({ WebSocket: Refusing });
    await settle();
    assert.equal(client.state, 'reconnecting');
    assert.deepEqual(of('error'), [[{ code: 'CONNECTION_LOST', message: 'bad url', fatal: false }]]);
    refuse = false;
    clock.advance(10_000);
    await accept();
    assert.equal(client.isConnected, true);
  });

  it('gives up on a connection that is not admitted in time', async () => {
    const { client, clock } = setup({ connectTimeout: 3000 });
    await settle();
    clock.advance(3000);
    assert.equal(client.state, 'reconnecting');
    assert.equal(FakeWebSocket.last.closedWith, null, 'left for the server to replace');
  });

  it('pings, and keeps a connection that answers', async () => {
    const { clock, client } = setup({ pingInterval: 1000, pingTimeout: 500 });
    const ws = await accept();
    assert.deepEqual(ws.sentOf('ping'), [{ type: 'ping', id: 1 }], 'the first ping goes at once');
    ws.receive({ type: 'pong', id: 1 });
    for (let i = 2; i <= 4; i += 1) {
      clock.advance(1000);
      assert.deepEqual(ws.sentOf('ping').at(-1), { type: 'ping', id: i });
      ws.receive({ type: 'pong', id: i });
    }
    assert.equal(client.isConnected, true);
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  it('pings within a third of the idle timeout the server announces', async () => {
    const { clock } = setup({ pingInterval: 10_000, pingTimeout: 500 });
    await settle();
    const ws = FakeWebSocket.last;
    ws.open();
    ws.receive({ type: 'presence_snapshot', self: { userId: 'me', connectionId: 'k' }, idleTimeout: 1500, users: [] });
    assert.equal(ws.sentOf('ping').length, 1);
    ws.receive({ type: 'pong', id: 1 });
    clock.advance(499);
    assert.equal(ws.sentOf('ping').length, 1);
    clock.advance(1);
    assert.equal(ws.sentOf('ping').length, 2);
  });

  it('replaces a connection that stops answering pings, under the same key', async () => {
    const { clock, client, of } = setup({ pingInterval: 1000, pingTimeout: 500 });
    const dead = await accept();
    clock.advance(1500);
    assert.equal(client.isConnected, false);
    assert.deepEqual(of('disconnected'), [[{ reason: 'PING_TIMEOUT', willReconnect: true }]]);
    dead.receive({ type: 'user_joined', userId: 'late', userName: 'Late' });
    assert.equal(client.presence.has('late'), false, 'an abandoned socket is not listened to');
    assert.equal(dead.closedWith, null);
    clock.advance(10_000);
    const fresh = await accept();
    assert.equal(fresh.url.searchParams.get('_pk'), dead.url.searchParams.get('_pk'));
    assert.ok(dead.closedWith, 'closed once its replacement is in');
  });

  it('reconnects at once on the online event, and probes a live connection', async () => {
    const { client, online } = setup();
    const ws = await accept();
    const before = ws.sentOf('ping').length;
    online.goOnline();
    assert.equal(ws.sentOf('ping').length, before + 1);
    ws.drop();
    assert.equal(client.state, 'reconnecting');
    online.goOnline();
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  it('closes cleanly and for good', async () => {
    const { client, clock, online, of } = setup();
    const ws = await accept([ANN]);
    client.close();
    assert.deepEqual(ws.closedWith, { code: 1000, reason: 'closed' });
    assert.equal(client.state, 'closed');
    assert.equal(client.presence.size, 0);
    assert.equal(online.listenerCount, 0);
    assert.deepEqual(of('disconnected'), [[{ reason: 'CLOSED', willReconnect: false }]]);
    clock.advance(60_000);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  it('does not open a socket when closed while getting a token', async () => {
    const { client } = setup();
    client.close();
    await settle();
    assert.equal(FakeWebSocket.instances.length, 0);
  });

  it('reports a message the server rejected and stays connected', async () => {
    const { client, of } = setup();
    const ws = await accept();
    ws.receive({ type: 'error', code: 'BAD_MESSAGE', message: 'currentPath must be a string' });
    ws.receive('not an object');
    ws.onmessage({ data: '{broken' });
    assert.deepEqual(of('error'), [[{ code: 'BAD_MESSAGE', message: 'currentPath must be a string', fatal: false }]]);
    assert.equal(client.isConnected, true);
  });

  it('keeps emitting to other handlers when one throws', async () => {
    const { client } = setup();
    const seen = [];
    const uncaught = [];
    globalThis.reportError = (err) => uncaught.push(err.message);
    client.on('joined', () => {
      throw new Error('handler bug');
    });
    client.on('joined', (e) => seen.push(e.userId));
    const ws = await accept();
    ws.receive({ type: 'user_joined', userId: 'bo', userName: 'Bo', userImage: null });
    delete globalThis.reportError;
    assert.deepEqual(seen, ['bo']);
    assert.deepEqual(uncaught, ['handler bug']);
  });

  it('unsubscribes with the function on() returns', async () => {
    const { client } = setup();
    const seen = [];
    const off = client.on('joined', (e) => seen.push(e.userId));
    const ws = await accept();
    off();
    ws.receive({ type: 'user_joined', userId: 'bo', userName: 'Bo', userImage: null });
    assert.deepEqual(seen, []);
  });
});

describe('follow mode', () => {
  async function following(users = [ANN]) {
    const h = setup();
    const ws = await accept(users);
    const navigations = [];
    h.client.update('/w/ws1/documents/1', 'document', '1');
    h.client.follow('ann', (entry) => navigations.push(entry.currentPath));
    return { ...h, ws, navigations };
  }

  function move(ws, path) {
    ws.receive({ type: 'presence_changed', userId: 'ann', userName: 'Ann', currentPath: path });
  }

  it('goes where the followed user is, then wherever they go', async () => {
    const { client, ws, navigations } = await following();
    assert.equal(client.following, 'ann');
    assert.deepEqual(navigations, ['/w/ws1/channels/general']);
    client.update('/w/ws1/channels/general');
    for (const path of ['/w/ws1/documents/2', '/w/ws1/tasks/3']) {
      move(ws, path);
      client.update(path);
    }
    assert.deepEqual(navigations, ['/w/ws1/channels/general', '/w/ws1/documents/2', '/w/ws1/tasks/3']);
    assert.equal(client.following, 'ann');
  });

  it('keeps following when the followed user moves again before the app has caught up', async () => {
    const { client, ws, navigations, of } = await following();
    move(ws, '/w/ws1/a');
    move(ws, '/w/ws1/b');
    client.update('/w/ws1/channels/general');
    client.update('/w/ws1/a');
    client.update('/w/ws1/b');
    assert.deepEqual(navigations.slice(1), ['/w/ws1/a', '/w/ws1/b']);
    assert.equal(client.following, 'ann');
    assert.deepEqual(of('unfollowed'), []);
  });

  it('follows a user who comes straight back before the app has moved', async () => {
    const { client, ws, navigations } = await following();
    client.update('/w/ws1/channels/general');
    move(ws, '/w/ws1/a');
    move(ws, '/w/ws1/channels/general');
    client.update('/w/ws1/a');
    client.update('/w/ws1/channels/general');
    assert.deepEqual(navigations.slice(1), ['/w/ws1/a', '/w/ws1/channels/general']);
    assert.equal(client.following, 'ann');
  });

  it('does not navigate to an unknown location', async () => {
    const { navigations } = await following([{ ...ANN, currentPath: '' }]);
    assert.deepEqual(navigations, []);
  });

  it('stops when the user navigates away', async () => {
    const { client, of } = await following();
    client.update('/w/ws1/channels/general');
    client.update('/w/ws1/projects/9', 'project', '9');
    assert.equal(client.following, null);
    assert.deepEqual(of('unfollowed'), [[{ userId: 'ann', userName: 'Ann', reason: 'navigated' }]]);
  });

  it('stops when the followed user leaves', async () => {
    const { client, ws, of } = await following();
    ws.receive({ type: 'user_left', userId: 'ann' });
    ws.receive({ type: 'user_left_presence', userId: 'ann' });
    assert.equal(client.following, null);
    assert.deepEqual(of('unfollowed'), [[{ userId: 'ann', userName: 'Ann', reason: 'offline' }]]);
  });

  it('stops when a snapshot no longer has the followed user', async () => {
    const { ws, of } = await following();
    ws.receive({ type: 'presence_snapshot', self: { userId: 'me', connectionId: 'key-me' }, users: [BO] });
    assert.deepEqual(of('unfollowed').map(([e]) => e.reason), ['offline']);
  });

  it('ends at once for someone who is not here', async () => {
    const { client, of } = setup();
    await accept([ANN]);
    client.follow('ghost', () => {});
    assert.equal(client.following, null);
    assert.deepEqual(of('unfollowed').map(([e]) => e.reason), ['offline']);
  });

  it('keeps following across a reconnect and catches up with the new snapshot', async () => {
    const { client, ws, clock, navigations } = await following();
    client.update('/w/ws1/channels/general');
    ws.drop();
    clock.advance(10_000);
    await accept([{ ...ANN, currentPath: '/w/ws1/diagrams/4' }]);
    assert.equal(client.following, 'ann');
    assert.deepEqual(navigations.at(-1), '/w/ws1/diagrams/4');
  });

  it('stops on unfollow, on following someone else, and on close', async () => {
    const { client, of } = await following([ANN, { ...BO, currentPath: '/w/ws1' }]);
    client.follow('bo', () => {});
    client.unfollow();
    client.follow('ann', () => {});
    client.close();
    assert.deepEqual(
      of('unfollowed').map(([e]) => `${e.userId}:${e.reason}`),
      ['ann:stopped', 'bo:stopped', 'ann:closed'],
    );
  });
});
