/**
 * Test doubles for the client: a WebSocket the test drives by hand, a clock
 * whose timers run only when the test advances it, and an event target for
 * the browser's `online` event.
 */
export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = new URL(url);
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get last() {
    return FakeWebSocket.instances.at(-1);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The server accepts the upgrade. */
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server sends one message. */
  receive(msg) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  /** The connection ends from the server's side (or the network's). */
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** Messages of one type the client sent. */
  sentOf(type) {
    return this.sent.filter((m) => m.type === type);
  }
}

export function createClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    /** Runs every timer due within `ms`, in order, including ones they set. */
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    /** Delays of the timers still pending, from now. */
    pending() {
      return [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b);
    },
  };
}

export function createOnlineTarget() {
  const listeners = new Set();
  return {
    addEventListener(type, fn) {
      if (type === 'online') listeners.add(fn);
    },
    removeEventListener(type, fn) {
      if (type === 'online') listeners.delete(fn);
    },
    goOnline() {
      for (const fn of listeners) fn({ type: 'online' });
    },
    get listenerCount() {
      return listeners.size;
    },
  };
}

/** Lets pending promise callbacks (such as an awaited getToken) run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
