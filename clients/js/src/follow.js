// @ts-check
/**
 * Follow mode: sends the app after another user whenever they are somewhere
 * else, and ends (with a reason) when they leave, when this user goes
 * somewhere of their own, or when it is stopped. It does no I/O; the client
 * tells it what the presence map and the user did.
 */

/** @typedef {import('../index.d.ts').PresenceEntry} PresenceEntry */
/** @typedef {import('../index.d.ts').PresenceEvents} PresenceEvents */
/** @typedef {import('../index.d.ts').UnfollowReason} UnfollowReason */

/** How many navigations the app may still be catching up with. */
const FOLLOW_MEMORY = 16;

/**
 * @typedef {object} Following
 * @property {string} userId
 * @property {string} userName
 * @property {(entry: PresenceEntry) => void} onNavigate
 * @property {string[]} issued the paths the app was sent to and may not have reported yet, oldest first
 */

/**
 * @typedef {object} FollowMode
 * @property {string | null} userId the user being followed, or null
 * @property {(userId: string, onNavigate: (entry: PresenceEntry) => void) => void} start
 *   ends any following (`stopped`), then follows `userId`
 * @property {() => void} reconcile catches up with the map as it is now (after a
 *   snapshot, or on starting while connected): navigates, or ends (`offline`)
 * @property {(entry: PresenceEntry) => void} changed a user's entry changed
 * @property {(userId: string) => void} left a user left the map: following them ends (`offline`)
 * @property {(path: string) => void} moved this user's location became `path`, a new one
 * @property {(reason: UnfollowReason) => void} end ends following, if any; emits `unfollowed`
 */

/**
 * @param {object} parts
 * @param {(userId: string) => PresenceEntry | undefined} parts.lookup a user's entry in the presence map
 * @param {() => string | undefined} parts.here this user's location, as last reported
 * @param {import('./emitter.js').Emitter<PresenceEvents>['emit']} parts.emit
 * @returns {FollowMode}
 */
export function createFollowMode({ lookup, here, emit }) {
  /** @type {Following | null} */
  let follow = null;

  /**
   * Sends the app after the followed user, unless it is (or is already on its way) there.
   *
   * @param {Following} current
   * @param {PresenceEntry} entry
   */
  function navigateTo(current, entry) {
    const path = entry.currentPath;
    const heading = current.issued.at(-1) ?? here();
    if (!path || path === heading) return;
    current.issued.push(path);
    if (current.issued.length > FOLLOW_MEMORY) current.issued.shift();
    current.onNavigate(entry);
  }

  /** @param {UnfollowReason} reason */
  function end(reason) {
    if (!follow) return;
    const { userId, userName } = follow;
    follow = null;
    emit('unfollowed', { userId, userName, reason });
  }

  /**
   * Whether moving to `path` is the user leaving the one they follow.
   *
   * @param {Following} current
   * @param {string} path
   */
  function leavesFollowed(current, path) {
    const index = current.issued.indexOf(path);
    if (index >= 0) {
      current.issued.splice(0, index + 1);
      return false;
    }
    return path !== lookup(current.userId)?.currentPath;
  }

  return {
    get userId() {
      return follow?.userId ?? null;
    },

    start(userId, onNavigate) {
      end('stopped');
      const userName = lookup(userId)?.userName ?? userId;
      follow = { userId, userName, onNavigate, issued: [] };
    },

    reconcile() {
      if (!follow) return;
      const target = lookup(follow.userId);
      if (target) navigateTo(follow, target);
      else end('offline');
    },

    changed(entry) {
      if (follow?.userId === entry.userId) navigateTo(follow, entry);
    },

    left(userId) {
      if (follow?.userId === userId) end('offline');
    },

    moved(path) {
      if (follow && leavesFollowed(follow, path)) end('navigated');
    },

    end,
  };
}
