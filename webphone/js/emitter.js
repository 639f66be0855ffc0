// A tiny event emitter shared by the webphone's modules: the phone core (phone.js, call-state.js) and
// its parts (session, bridge, sip) emit through it, and every face (the page's UI, the iframe's
// postMessage, the SDK and its seed globals) listens through it, so none of them knows the others.

export class Emitter {
  #handlers = new Map();

  /** Call `handler(...args)` on every `type` event; returns a function that unsubscribes. */
  on(type, handler) {
    if (!this.#handlers.has(type)) this.#handlers.set(type, new Set());
    this.#handlers.get(type).add(handler);
    return () => this.off(type, handler);
  }

  once(type, handler) {
    const off = this.on(type, (...args) => {
      off();
      handler(...args);
    });
    return off;
  }

  off(type, handler) {
    this.#handlers.get(type)?.delete(handler);
  }

  /** Every handler runs even if one throws; the error is reported, not swallowed. */
  emit(type, ...args) {
    for (const handler of [...(this.#handlers.get(type) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        reportError(error);
      }
    }
    for (const handler of [...(this.#handlers.get("*") ?? [])]) {
      try {
        handler(type, ...args);
      } catch (error) {
        reportError(error);
      }
    }
  }
}

function reportError(error) {
  // Surface listener bugs asynchronously (the console and window.onerror see them) without stopping
  // the other listeners.
  setTimeout(() => {
    throw error;
  });
}
