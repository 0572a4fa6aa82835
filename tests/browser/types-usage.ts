/**
 * Compiled (never run) by types.test.js: the core client's declarations as
 * an app would use them. Lines marked @ts-expect-error must stay errors.
 */
import { createPresenceClient, type PresenceClient, type PresenceEntry } from '@presenced/client';

const client: PresenceClient = createPresenceClient({
  host: '127.0.0.1:1999',
  workspaceId: 'ws1',
  getToken: async () => 'token',
  maxDelay: 30_000,
});
// The browser's own WebSocket is a WebSocketLike.
createPresenceClient({ host: 'h', workspaceId: 'w', getToken: () => 't', WebSocket });

const off = client.on('changed', (entry: PresenceEntry, previous) => {
  const path: string = entry.currentPath;
  const before: string | undefined = previous?.currentPath;
  void path;
  void before;
});
off();
client.on('state', (state, detail) => {
  if (state === 'reconnecting') console.log(detail.delay);
});
client.on('unfollowed', ({ reason }) => {
  const known: 'offline' | 'navigated' | 'stopped' | 'closed' = reason;
  void known;
});
client.update('/w/ws1/documents/42', 'document', '42');
client.follow('ann', (entry) => console.log(entry.currentPath));
const everyone: string[] = [...client.presence.values()].map((u) => u.userName);
void everyone;

// @ts-expect-error: workspaceId is required
createPresenceClient({ host: 'h', getToken: () => 't' });
// @ts-expect-error: no such event
client.on('moved', () => {});
// @ts-expect-error: the map is read-only
client.presence.set('x', {} as PresenceEntry);
