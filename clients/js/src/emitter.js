// @ts-check
/**
 * Events for the client's handlers: a handler that throws is reported the way
 * the platform reports uncaught errors, and the others still run.
 */

/**
 * A throwing event handler must not break the client: report it the way the platform reports uncaught errors.
 *
 * @param {unknown} err
 */
export function reportHandlerError(err) {
  if (typeof globalThis.reportError === 'function') {
    globalThis.reportError(err);
  } else {
    setTimeout(() => {
      throw err;
    }, 0);
  }
}

/**
 * @template {{ [K in keyof Events]: (...args: any[]) => void }} Events
 * @typedef {object} Emitter
 * @property {<E extends keyof Events>(event: E, handler: Events[E]) => () => void} on
 *   subscribes; returns a function that unsubscribes
 * @property {<E extends keyof Events>(event: E, handler: Events[E]) => void} off
 * @property {<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>) => void} emit
 *   calls every handler of `event`, in the order they subscribed
 */

/**
 * @template {{ [K in keyof Events]: (...args: any[]) => void }} Events
 * @returns {Emitter<Events>}
 */
export function createEmitter() {
  /** @type {Map<keyof Events, Set<(...args: any[]) => void>>} */
  const handlers = new Map();
  /** @type {Emitter<Events>['off']} */
  const off = (event, handler) => {
    handlers.get(event)?.delete(handler);
  };
  return {
    on(event, handler) {
      let set = handlers.get(event);
      if (!set) handlers.set(event, (set = new Set()));
      set.add(handler);
      return () => off(event, handler);
    },
    off,
    emit(event, ...args) {
      for (const handler of [...(handlers.get(event) ?? [])]) {
        try {
          handler(...args);
        } catch (err) {
          reportHandlerError(err);
        }
      }
    },
  };
}
