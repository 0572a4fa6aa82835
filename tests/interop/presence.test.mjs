// presenced with a third-party client: the `ws` package, which offers
// permessage-deflate by default, speaks to the server unchanged.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, join, startServer } from './harness.mjs';

let server;

before(async () => {
  server = await startServer(['--linger', '0', '--max-message', '1024']);
});

after(async () => {
  const code = await server.stop();
  if (code !== 0) {
    process.stderr.write(server.log());
    assert.fail(`presenced exited with ${code} on SIGTERM (want 0)`);
  }
});

test('snapshot, join, change and leave between two ws clients', async () => {
  const alice = await join(server.port, 'i-basic', 'alice');
  assert.deepEqual(alice.snapshot.self.userId, 'alice');
  assert.deepEqual(alice.snapshot.users, []);
  const bob = await join(server.port, 'i-basic', 'bob');
  assert.equal(bob.snapshot.users.length, 1);
  assert.equal(bob.snapshot.users[0].userId, 'alice');
  assert.equal(bob.snapshot.users[0].userImage, null);

  const joined = await alice.expect('user_joined');
  assert.deepEqual(joined, { type: 'user_joined', userId: 'bob', userName: 'Bob', userImage: null });

  bob.send({ type: 'presence_update', currentPath: '/w/i-basic/documents/7', resourceType: 'document', resourceId: '7' });
  const changed = await alice.expect('presence_changed');
  assert.deepEqual(changed, {
    type: 'presence_changed', userId: 'bob', userName: 'Bob', userImage: null,
    currentPath: '/w/i-basic/documents/7', resourceType: 'document', resourceId: '7',
  });

  await bob.close();
  // A leave in both default forms: the contract's, then the one the app's shipped client reads.
  assert.deepEqual(await alice.expect('user_left'), { type: 'user_left', userId: 'bob' });
  assert.deepEqual(await alice.expect('user_left_presence'), { type: 'user_left_presence', userId: 'bob' });
  await alice.close();
});

test('permessage-deflate offered by ws is declined and the connection works', async () => {
  const c = await join(server.port, 'i-deflate', 'alice', { perMessageDeflate: true });
  assert.equal(c.ws.extensions, '');
  c.send({ type: 'ping', id: 'deflate' });
  assert.deepEqual(await c.expect('pong'), { type: 'pong', id: 'deflate' });
  await c.close();
});

test('application ping and WebSocket ping both answered', async () => {
  const c = await join(server.port, 'i-ping', 'alice');
  c.send({ type: 'ping', id: 7 });
  assert.deepEqual(await c.expect('pong'), { type: 'pong', id: 7 });
  const pong = new Promise((resolve) => c.ws.once('pong', (data) => resolve(data.toString())));
  c.ws.ping('hello');
  assert.equal(await pong, 'hello');
  await c.close();
});

test('an auth error is a message and close 1008 with the code as reason', async () => {
  const c = new Client(server.port, 'i-auth', '');
  await c.opened;
  assert.deepEqual(await c.expect('auth_error'), { type: 'auth_error', code: 'AUTH_MISSING' });
  assert.deepEqual(await c.closeEvent(), { code: 1008, reason: 'AUTH_MISSING' });
});

test('a message over the size limit closes with 1009', async () => {
  const c = await join(server.port, 'i-big', 'alice');
  c.send({ type: 'presence_update', currentPath: `/${'x'.repeat(2000)}` });
  const { code } = await c.closeEvent();
  assert.equal(code, 1009);
});

test('a binary message closes with 1003', async () => {
  const c = await join(server.port, 'i-bin', 'alice');
  c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
  const { code } = await c.closeEvent();
  assert.equal(code, 1003);
});
