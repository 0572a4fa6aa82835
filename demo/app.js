/**
 * Ripple, a small workspace app showing presenced at work: who is where,
 * follow mode, and the connection's state. Plain ES modules, no build step.
 *
 * Open it as a user with `/w/ws1?user=ann&name=Ann` (kept for this tab), or
 * answer the prompt. In the console, `presence` is the live client.
 */
import { createPresenceClient } from '/lib/client.js';
import { SECTIONS, BODIES, resolvePath, itemPath } from '/workspace.js';

const IDENTITY_KEY = 'presenced-demo:identity';
const TOAST_MS = 6000;
const COLORS = ['#4f46e5', '#0891b2', '#059669', '#d97706', '#db2777', '#7c3aed', '#dc2626', '#2563eb'];

/** Creates an element: `h('a', { href, class: 'x', onclick }, 'text', child)`. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

function identity() {
  const params = new URLSearchParams(location.search);
  if (params.get('user')) {
    const chosen = { userId: params.get('user'), userName: params.get('name') || params.get('user'), picture: params.get('picture') };
    sessionStorage.setItem(IDENTITY_KEY, JSON.stringify(chosen));
    history.replaceState(null, '', location.pathname);
    return chosen;
  }
  const kept = sessionStorage.getItem(IDENTITY_KEY);
  if (kept) return JSON.parse(kept);
  const name = (prompt('Your name, to show the others:') || '').trim() || `Guest ${Math.floor(Math.random() * 900 + 100)}`;
  const chosen = { userId: `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Date.now().toString(36)}`, userName: name };
  sessionStorage.setItem(IDENTITY_KEY, JSON.stringify(chosen));
  return chosen;
}

function workspaceFromPath() {
  const resolved = resolvePath(location.pathname);
  if (resolved) return resolved.workspaceId;
  history.replaceState(null, '', '/w/ws1');
  return 'ws1';
}

const me = identity();
const workspaceId = workspaceFromPath();
let following = null;

async function getToken() {
  const query = new URLSearchParams({ user: me.userId, name: me.userName, workspace: workspaceId });
  if (me.picture) query.set('picture', me.picture);
  const res = await fetch(`/dev/token?${query}`);
  if (!res.ok) throw new Error(`/dev/token answered ${res.status}`);
  return (await res.json()).token;
}

const presence = createPresenceClient({ host: location.host, workspaceId, getToken });
window.presence = presence;

// ---- pieces ---------------------------------------------------------------

function colorOf(userId) {
  let hash = 0;
  for (const ch of userId) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return COLORS[hash % COLORS.length];
}

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

function avatar(user, size = 'sm') {
  const attrs = { class: `avatar avatar-${size}`, title: user.userName, 'data-user-id': user.userId, style: `--avatar:${colorOf(user.userId)}` };
  if (user.userImage) return h('span', attrs, h('img', { src: user.userImage, alt: '' }));
  return h('span', attrs, initials(user.userName));
}

/** The human name of a location, e.g. "Q3 roadmap" or "#design". */
function placeName(path) {
  if (!path) return 'just arrived';
  const resolved = resolvePath(path);
  if (!resolved) return path;
  if (!resolved.item) return 'Home';
  return resolved.resourceType === 'channel' ? `#${resolved.item.name}` : resolved.item.name;
}

function peopleAt(path) {
  return [...presence.presence.values()].filter((u) => u.currentPath === path);
}

function routeLink(path, props, ...children) {
  return h('a', { href: path, 'data-route': true, ...props }, ...children);
}

// ---- rendering ------------------------------------------------------------

function renderSidebar() {
  const here = location.pathname;
  const home = `/w/${workspaceId}`;
  const entry = (path, label, icon) =>
    routeLink(
      path,
      { class: `nav-item${path === here ? ' active' : ''}`, 'data-path': path },
      h('span', { class: 'nav-icon' }, icon),
      h('span', { class: 'nav-label' }, label),
      h('span', { class: 'nav-people' }, peopleAt(path).map((u) => avatar(u, 'xs'))),
    );
  const icons = { channels: '#', documents: '▤', diagrams: '◇', projects: '▣', tasks: '☐' };
  $('sidebar').replaceChildren(
    entry(home, 'Home', '⌂'),
    ...SECTIONS.map((section) =>
      h('section', { class: 'nav-section' },
        h('h3', {}, section.title),
        section.items.map((item) => entry(itemPath(workspaceId, section, item), item.name, icons[section.kind])),
      ),
    ),
  );
}

function pageBody(resolved) {
  const type = resolved.resourceType;
  if (type === 'channel') {
    return h('div', { class: 'messages' }, BODIES.channel.map(([who, text]) =>
      h('div', { class: 'message' }, avatar({ userId: who, userName: who }, 'md'),
        h('div', {}, h('div', { class: 'message-author' }, who), h('p', {}, text)))));
  }
  if (type === 'document') return h('div', { class: 'doc' }, BODIES.document.map((p) => h('p', {}, p)));
  if (type === 'diagram') return diagram();
  if (type === 'project') {
    return h('div', { class: 'phases' }, BODIES.project.map(([name, done]) =>
      h('div', { class: 'phase' }, h('span', {}, name),
        h('span', { class: 'bar' }, h('span', { style: `width:${done * 100}%` })))));
  }
  return h('ul', { class: 'checklist' }, BODIES.task.map(([text, done]) =>
    h('li', { class: done ? 'done' : '' }, h('span', { class: 'check' }, done ? '✓' : ''), text)));
}

function diagram() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 420 150');
  svg.setAttribute('class', 'diagram');
  svg.innerHTML = `
    <g class="edge"><path d="M110 75 H160"/><path d="M260 75 H310"/></g>
    <g class="node"><rect x="10" y="45" width="100" height="60" rx="10"/><text x="60" y="80">Browser</text></g>
    <g class="node"><rect x="160" y="45" width="100" height="60" rx="10"/><text x="210" y="80">presenced</text></g>
    <g class="node"><rect x="310" y="45" width="100" height="60" rx="10"/><text x="360" y="80">Browser</text></g>`;
  return svg;
}

function homeBody() {
  return h('div', { class: 'cards' }, SECTIONS.map((section) =>
    h('section', { class: 'card' }, h('h3', {}, section.title),
      section.items.map((item) => {
        const path = itemPath(workspaceId, section, item);
        return routeLink(path, { class: 'card-item' }, h('span', {}, item.name),
          h('span', { class: 'nav-people' }, peopleAt(path).map((u) => avatar(u, 'xs'))));
      }))));
}

function renderPage() {
  const path = location.pathname;
  const resolved = resolvePath(path) ?? { workspaceId };
  const { section, item } = resolved;
  const title = item ? placeName(path) : 'Home';
  document.title = `${title} · Ripple`;
  $('page').replaceChildren(
    h('div', { class: 'crumbs' }, workspaceId, section ? ` / ${section.title}` : ''),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { 'data-testid': 'page-title' }, title),
        h('p', { class: 'topic' }, item ? item.topic : 'Everything in this workspace, and who is looking at it.')),
      h('div', { class: 'here-now', 'data-testid': 'here-now' },
        peopleAt(path).length ? [h('span', { class: 'here-label' }, 'Here now'), peopleAt(path).map((u) => avatar(u, 'md'))] : [])),
    item ? pageBody(resolved) : homeBody(),
  );
}

function renderPeople() {
  const others = [...presence.presence.values()].sort((a, b) => a.userName.localeCompare(b.userName));
  $('header-people').replaceChildren(...others.map((u) => avatar(u, 'md')));
  $('people-empty').hidden = others.length > 0;
  $('people').replaceChildren(...others.map((u) => {
    const isFollowed = following?.userId === u.userId;
    return h('li', { class: `person${isFollowed ? ' followed' : ''}`, 'data-user-id': u.userId, 'data-path': u.currentPath },
      avatar(u, 'md'),
      h('div', { class: 'person-text' },
        h('div', { class: 'person-name' }, u.userName),
        u.currentPath ? routeLink(u.currentPath, { class: 'person-where' }, placeName(u.currentPath))
          : h('span', { class: 'person-where' }, placeName(u.currentPath))),
      h('button', {
        type: 'button',
        class: `follow-button${isFollowed ? ' active' : ''}`,
        'data-follow': u.userId,
        onclick: () => (isFollowed ? presence.unfollow() : startFollowing(u)),
      }, isFollowed ? 'Following' : 'Follow'));
  }));
}

function renderPresence() {
  renderSidebar();
  renderPage();
  renderPeople();
}

function renderConnection(state, detail = {}) {
  const labels = {
    connecting: 'Connecting…',
    connected: 'Live',
    reconnecting: `Reconnecting in ${Math.ceil((detail.delay ?? 0) / 1000)} s`,
    stopped: `Stopped: ${detail.reason ?? 'error'}`,
    closed: 'Closed',
  };
  $('connection').dataset.state = state;
  document.body.dataset.connection = state;
  $('connection').querySelector('.connection-label').textContent = labels[state];
}

function renderFollowPill() {
  $('follow-pill').hidden = !following;
  $('follow-pill-name').textContent = following?.userName ?? '';
}

function renderMe() {
  $('me').replaceChildren(avatar({ userId: me.userId, userName: me.userName, userImage: me.picture }, 'md'),
    h('span', { class: 'me-name' }, me.userName));
  $('workspace').textContent = workspaceId;
  const other = me.userId === 'bo' ? ['ann', 'Ann'] : ['bo', 'Bo'];
  const invite = `${location.origin}/w/${workspaceId}?user=${other[0]}&name=${other[1]}`;
  Object.assign($('invite-link'), { href: invite, textContent: invite });
}

function toast(title, detail) {
  const el = h('div', { class: 'toast', 'data-testid': 'toast', role: 'status' },
    h('strong', {}, title), detail ? h('span', {}, detail) : null);
  $('toasts').append(el);
  setTimeout(() => el.remove(), TOAST_MS);
}

// ---- behaviour ------------------------------------------------------------

function navigate(path) {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  onRoute();
}

function onRoute() {
  const resolved = resolvePath(location.pathname);
  renderSidebar();
  renderPage();
  presence.update(location.pathname, resolved?.resourceType, resolved?.resourceId);
}

function startFollowing(user) {
  following = { userId: user.userId, userName: user.userName };
  renderFollowPill();
  presence.follow(user.userId, (entry) => navigate(entry.currentPath));
  renderPeople();
}

function onUnfollowed({ userId, userName, reason }) {
  if (following?.userId === userId) following = null;
  renderFollowPill();
  renderPeople();
  if (reason === 'offline') toast(`${userName} went offline`, 'Stopped following.');
  else if (reason === 'navigated') toast(`Stopped following ${userName}`, 'You navigated away.');
  else if (reason === 'stopped' && !following) toast(`Stopped following ${userName}`);
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-route]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(new URL(link.href).pathname === '/' ? `/w/${workspaceId}` : new URL(link.href).pathname);
});
window.addEventListener('popstate', onRoute);
$('follow-pill-close').addEventListener('click', () => presence.unfollow());

for (const event of ['snapshot', 'joined', 'changed', 'left']) presence.on(event, renderPresence);
presence.on('state', (state, detail) => {
  renderConnection(state, detail);
  if (state === 'stopped') renderPresence();
});
presence.on('unfollowed', onUnfollowed);

renderMe();
renderConnection(presence.state);
renderPeople();
onRoute();
