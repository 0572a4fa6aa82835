/**
 * The demo workspace's content: a few of each kind of resource Ripple has.
 * Everything here is static; only presence is live.
 */
export const SECTIONS = [
  {
    kind: 'channels',
    resourceType: 'channel',
    title: 'Channels',
    items: [
      { id: 'general', name: 'general', topic: 'Company-wide announcements and chatter' },
      { id: 'design', name: 'design', topic: 'Critiques, inspiration, the design system' },
      { id: 'engineering', name: 'engineering', topic: 'Builds, deploys and code review' },
      { id: 'random', name: 'random', topic: 'Everything else' },
    ],
  },
  {
    kind: 'documents',
    resourceType: 'document',
    title: 'Documents',
    items: [
      { id: '42', name: 'Q3 roadmap', topic: 'Edited 2 hours ago' },
      { id: '7', name: 'Onboarding guide', topic: 'Edited yesterday' },
      { id: '19', name: 'Incident review: login outage', topic: 'Edited last week' },
    ],
  },
  {
    kind: 'diagrams',
    resourceType: 'diagram',
    title: 'Diagrams',
    items: [
      { id: '3', name: 'System architecture', topic: '12 shapes' },
      { id: '8', name: 'Checkout flow', topic: '9 shapes' },
    ],
  },
  {
    kind: 'projects',
    resourceType: 'project',
    title: 'Projects',
    items: [
      { id: 'mobile', name: 'Mobile app', topic: '14 of 23 tasks done' },
      { id: 'billing', name: 'Billing revamp', topic: '5 of 17 tasks done' },
    ],
  },
  {
    kind: 'tasks',
    resourceType: 'task',
    title: 'Tasks',
    items: [
      { id: '5', name: 'Fix login redirect', topic: 'In progress · due Friday' },
      { id: '12', name: 'Write release notes', topic: 'To do · due next week' },
      { id: '31', name: 'Audit token expiry', topic: 'In review' },
    ],
  },
];

const KINDS = new Map(SECTIONS.map((s) => [s.kind, s]));

/**
 * What a path inside a workspace points at.
 *
 * @param {string} path e.g. `/w/ws1/documents/42`
 * @returns {{ workspaceId: string, section?: object, item?: object, resourceType?: string, resourceId?: string } | null}
 */
export function resolvePath(path) {
  const match = path.match(/^\/w\/([A-Za-z0-9_-]{1,128})(?:\/([a-z]+)\/([A-Za-z0-9_-]+))?\/?$/);
  if (!match) return null;
  const [, workspaceId, kind, id] = match;
  if (!kind) return { workspaceId };
  const section = KINDS.get(kind);
  const item = section?.items.find((i) => i.id === id);
  if (!item) return { workspaceId };
  return { workspaceId, section, item, resourceType: section.resourceType, resourceId: item.id };
}

/** The path of an item in a workspace. */
export function itemPath(workspaceId, section, item) {
  return `/w/${workspaceId}/${section.kind}/${item.id}`;
}

/** Short body text for each kind of page, so the pages feel distinct. */
export const BODIES = {
  channel: [
    ['Maya', 'Morning! The staging deploy is green again.'],
    ['Theo', 'Nice. I will pick up the flaky checkout test after standup.'],
    ['Priya', 'Reminder: design review at 3pm, agenda is in the doc.'],
  ],
  document: [
    'This page collects the decisions we made and the open questions we still have.',
    'Each section has an owner. Comment inline if something looks wrong; the owner resolves it.',
    'Timeline and milestones are tracked in the project, not here, so this stays readable.',
  ],
  project: [
    ['Discovery', 1],
    ['Design', 0.8],
    ['Build', 0.45],
    ['Launch', 0],
  ],
  task: [
    ['Reproduce on a fresh account', true],
    ['Find the redirect loop', true],
    ['Write the fix and a test', false],
    ['Ship behind a flag', false],
  ],
};
