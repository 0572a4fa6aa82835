// @ts-check
/**
 * The presence map: every other user in the workspace by userId, kept from the
 * server's presence_snapshot, user_joined, presence_changed and user_left (or
 * user_left_presence) messages. It does no I/O; the client feeds it messages.
 */

/** @typedef {import('../index.d.ts').PresenceEntry} PresenceEntry */
/** @typedef {import('../index.d.ts').PresenceSelf} PresenceSelf */
/** @typedef {import('../index.d.ts').PresenceEvents} PresenceEvents */

/**
 * A user as a message describes them; which fields are set depends on the message.
 *
 * @typedef {object} UserMessage
 * @property {string} userId
 * @property {string} [userName]
 * @property {string | null} [userImage]
 * @property {string} [currentPath]
 * @property {string | null} [resourceType]
 * @property {string | null} [resourceId]
 */

/**
 * @typedef {object} SnapshotMessage
 * @property {{ userId: string, connectionId: string }} [self]
 * @property {unknown} [users]
 */

/**
 * A presence entry as the server describes it, with unset fields omitted.
 *
 * @param {UserMessage} msg
 * @param {PresenceEntry} [previous] the user's entry before `msg`, whose fields `msg` may leave out
 * @returns {PresenceEntry}
 */
export function toEntry(msg, previous) {
  /** @type {{ -readonly [K in keyof PresenceEntry]: PresenceEntry[K] }} */
  const entry = {
    userId: msg.userId,
    userName: msg.userName ?? previous?.userName ?? msg.userId,
    userImage: msg.userImage !== undefined ? msg.userImage : (previous?.userImage ?? null),
    currentPath: msg.currentPath ?? previous?.currentPath ?? '',
  };
  const located = msg.currentPath !== undefined;
  const resourceType = located ? msg.resourceType : previous?.resourceType;
  const resourceId = located ? msg.resourceId : previous?.resourceId;
  if (resourceType != null) entry.resourceType = resourceType;
  if (resourceId != null) entry.resourceId = resourceId;
  return Object.freeze(entry);
}

/**
 * @typedef {object} PresenceMap
 * @property {Map<string, PresenceEntry>} entries every other user, by userId: one Map for the map's life
 * @property {PresenceSelf | null} self who this client is, from the latest snapshot that said
 * @property {(msg: SnapshotMessage) => void} snapshot replaces every entry; emits `snapshot`
 * @property {(msg: UserMessage) => PresenceEntry | null} joined adds or replaces a user; emits `joined`
 * @property {(msg: UserMessage) => PresenceEntry | null} changed updates a user; emits `changed`
 * @property {(msg: { userId: string }) => PresenceEntry | null} left
 *   removes a user; emits `left`, once however many leave messages come
 * @property {() => void} clear forgets everyone, without events
 */

/**
 * Creates an empty map. Each method returns the entry it added, changed or
 * removed, or null for a message that changed nothing (this client's own
 * user, a message without a userId, a leave of someone not present).
 *
 * @param {import('./emitter.js').Emitter<PresenceEvents>['emit']} emit
 * @returns {PresenceMap}
 */
export function createPresenceMap(emit) {
  /** @type {Map<string, PresenceEntry>} */
  const entries = new Map();
  /** @type {PresenceSelf | null} */
  let self = null;

  /** @param {UserMessage} msg */
  const isOther = (msg) => Boolean(msg.userId) && msg.userId !== self?.userId;

  return {
    entries,
    get self() {
      return self;
    },

    snapshot(msg) {
      self = msg.self ? { userId: msg.self.userId, connectionId: msg.self.connectionId } : self;
      entries.clear();
      for (const user of Array.isArray(msg.users) ? msg.users : []) {
        if (user?.userId && user.userId !== self?.userId) entries.set(user.userId, toEntry(user));
      }
      emit('snapshot', entries);
    },

    joined(msg) {
      if (!isOther(msg)) return null;
      const entry = toEntry(msg, entries.get(msg.userId));
      entries.set(msg.userId, entry);
      emit('joined', entry);
      return entry;
    },

    changed(msg) {
      if (!isOther(msg)) return null;
      const previous = entries.get(msg.userId);
      const entry = toEntry(msg, previous);
      entries.set(msg.userId, entry);
      emit('changed', entry, previous);
      return entry;
    },

    // presenced sends user_left_presence (the form the app's shipped client
    // listens for) right after user_left by default: the second finds the user
    // already gone and changes nothing.
    left(msg) {
      const entry = entries.get(msg.userId);
      if (!entry) return null;
      entries.delete(msg.userId);
      emit('left', entry);
      return entry;
    },

    clear() {
      entries.clear();
    },
  };
}
