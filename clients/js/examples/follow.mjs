#!/usr/bin/env node
/**
 * Follows one member of a workspace from a terminal: prints their path each
 * time they move, and why following ended.
 *
 *   node follow.mjs HOST WORKSPACE USER_ID
 *   node follow.mjs 127.0.0.1:1999 ws1 ann
 *
 * Tokens come from a presenced started with --dev (GET /dev/token). Node.js
 * 22 has a WebSocket; on Node.js 20, install `ws` next to this file.
 */
import { createPresenceClient } from '../src/client.js';

const [host, workspaceId, target] = process.argv.slice(2);
if (!target) {
  console.error('usage: node follow.mjs HOST WORKSPACE USER_ID');
  process.exit(2);
}

const WebSocket = globalThis.WebSocket ?? (await import('ws')).default;

async function getToken() {
  const query = new URLSearchParams({ user: 'follow-cli', name: 'Terminal', workspace: workspaceId });
  const res = await fetch(`http://${host}/dev/token?${query}`);
  if (!res.ok) throw new Error(`/dev/token answered ${res.status}`);
  return (await res.json()).token;
}

const client = createPresenceClient({ host, workspaceId, getToken, WebSocket });

client.on('connected', () => {
  if (!client.following) client.follow(target, (entry) => console.log(entry.currentPath));
});
client.on('unfollowed', ({ reason }) => {
  console.error(`follow: ${target}: ${reason === 'offline' ? 'went offline' : reason}`);
  client.close();
});
client.on('state', (state, { reason, delay }) => {
  if (state === 'reconnecting') console.error(`follow: ${reason}, reconnecting in ${delay} ms`);
  if (state === 'stopped') console.error(`follow: stopped: ${reason}`);
});
