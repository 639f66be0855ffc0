// CORE: a part of the phone core (js/phone.js is its only owner; faces never use it directly).
// The bridge's real-time WebSocket (issue 6): ring popups, call state, voice/status/device, and the
// CRM's click-to-call `call.dial` commands.
//
// Connects to `{websocketUrl}?token=<session token>&tab=<tab id>&device=<1|2|3>`. API Gateway closes a
// connection idle for 10 minutes and any connection after 2 hours, and a laptop's sleep or a network
// change can leave a socket that looks open but is dead; so the client:
// - pings every 30 s and treats a missing pong (10 s) as a dead socket;
// - reconnects with exponential backoff (1 s, 2 s, 4 s ... capped at 30 s, with jitter) for at most
//   `maxAttempts` tries, emitting "reconnecting" (attempt, maxAttempts, delayMs) before each and
//   "disconnected" after the last (the seeds' csNotifyReconnecting / csOndisconnected);
// - reconnects at once when the browser comes back online or the tab becomes visible while waiting;
// - sends `sync` after every (re)connection, so the page redraws from the server's `state`;
// - opens a new connection before API Gateway's 2-hour limit closes this one (`rotateAfterMs`), and
//   closes the old one once the new one is open: no gap where a popup could be lost, no "close" or
//   "reconnecting" to show; "open" comes with {rotated: true};
// - never reconnects after `session.revoked`: the server ended the session (a logout, an operator) and
//   closes the socket next; its token would be refused. State "ended"; `connect()` starts again.
//
// Events: "open", "close" ({code, reason, willReconnect}), "reconnecting" (n, N, delayMs),
// "disconnected", "message" (msg), and each message's `type` ("call.ringing", "state", "voice",
// "session.revoked", ...).

import { Emitter } from "./emitter.js";

const PROTOCOL_VERSION = 1;
// API Gateway closes every connection after 2 hours: a new one is opened 5 minutes before.
const ROTATE_AFTER_MS = 115 * 60_000;
// Server messages sent to one connection, not to every tab of the agent (realtime/messages.py).
const TO_ONE_CONNECTION = new Set(["call.dial", "callout.accepted", "transfer.pending", "transfer.response", "transfer.agents", "transfer.target", "error"]);

export class Bridge extends Emitter {
  #url;
  #getToken;
  #tab;
  #device;
  #options;
  #socket = null;
  #attempt = 0;
  #retryTimer = null;
  #pingTimer = null;
  #pongTimer = null;
  #stopped = true;
  #state = "idle"; // idle | connecting | open | reconnecting | disconnected | ended
  #pingSeq = 0;
  #listeners = [];
  #rotateTimer = null;
  #next = null; // the connection opened to replace this one before API Gateway's 2-hour limit
  #retiring = null; // the connection it replaced, closed after the new one's first state
  #retireTimer = null;

  /**
   * @param {object} o
   * @param {string} o.url  the WebSocket API URL (config.json's websocketUrl)
   * @param {() => (string|Promise<string>)} o.getToken  the current session token
   * @param {string} o.tab  this tab's id (kept across reconnects and reloads of the tab)
   * @param {number} [o.device]  1 browser, 2 softphone/IP phone, 3 mobile
   */
  constructor({ url, getToken, tab, device = 1, maxAttempts = 20, baseDelayMs = 1000, maxDelayMs = 30_000, pingIntervalMs = 30_000, pongTimeoutMs = 10_000, rotateAfterMs = ROTATE_AFTER_MS, WebSocketImpl = globalThis.WebSocket }) {
    super();
    this.#url = url;
    this.#getToken = getToken;
    this.#tab = tab;
    this.#device = device;
    this.#options = { maxAttempts, baseDelayMs, maxDelayMs, pingIntervalMs, pongTimeoutMs, rotateAfterMs, WebSocketImpl };
  }

  get state() {
    return this.#state;
  }

  get tab() {
    return this.#tab;
  }

  get maxAttempts() {
    return this.#options.maxAttempts;
  }

  /** Start (or restart after "disconnected"): connect now, reconnect on loss. */
  connect() {
    this.#stopped = false;
    this.#attempt = 0;
    this.#watchBrowser();
    this.#open();
  }

  /** Close for good (logout, page unload): no reconnect. */
  close() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#stopTimers();
    this.#unwatchBrowser();
    this.#dropNext();
    this.#retire();
    const socket = this.#socket;
    this.#socket = null;
    if (socket && socket.readyState <= 1) socket.close(1000, "bye");
    this.#setState("idle");
  }

  set device(value) {
    this.#device = value;
  }

  /** Send a client action; answers false if the socket is not open. */
  send(action, fields = {}) {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify({ action, v: PROTOCOL_VERSION, ...fields }));
    return true;
  }

  // Seed verbs, as actions of the bridge (layers/shared/ctibridge/realtime/messages.py).
  sync() { return this.send("sync"); }
  enableVoice() { return this.send("enableVoice"); }
  setReady(ready) { return this.send("status", { ready: Boolean(ready) }); }
  setDevice(deviceType, mobile) {
    this.#device = deviceType;
    return this.send("device", deviceType === 3 ? { device_type: 3, mobile } : { device_type: deviceType });
  }
  resetDevice() { return this.send("resetDevice"); }
  reportCallState(callid, state) { return this.send("callState", { callid, state }); }
  /** Outcome of a click-to-call `call.dial` (issue 7): status ringing | answered | failed. */
  calloutResult(fields) { return this.send("callout.result", fields); }

  // ------------------------------------------------------------------ connection
  async #open() {
    if (this.#stopped) return;
    this.#setState(this.#attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this.#getToken();
    } catch {
      token = null;
    }
    if (this.#stopped) return;
    if (!token) {
      this.#scheduleRetry();
      return;
    }
    let socket;
    try {
      socket = this.#newSocket(token);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.#socket) return;
      this.#attempt = 0;
      this.#setState("open");
      this.#opened({ rotated: false });
    });
    this.#listen(socket);
  }

  #newSocket(token) {
    const url = new URL(this.#url);
    url.searchParams.set("token", token);
    url.searchParams.set("tab", this.#tab);
    url.searchParams.set("device", String(this.#device));
    return new this.#options.WebSocketImpl(url.toString());
  }

  /** `socket` is this bridge's connection now: keep it alive, replace it before its 2 hours, sync. */
  #opened(detail) {
    this.#startPing();
    clearTimeout(this.#rotateTimer);
    this.#rotateTimer = setTimeout(() => this.#rotate(), this.#options.rotateAfterMs);
    this.emit("open", detail);
    this.sync();
  }

  /**
   * Make before break: open the next connection while this one still serves, switch to it once it is
   * open, then close the old one. If the next one cannot open, the old one serves until API Gateway
   * closes it, and the usual reconnection follows.
   */
  async #rotate() {
    const old = this.#socket;
    if (this.#stopped || !old || old.readyState !== 1 || this.#next) return;
    let token;
    try {
      token = await this.#getToken();
    } catch {
      token = null;
    }
    if (!token || this.#stopped || this.#socket !== old) return;
    let next;
    try {
      next = this.#newSocket(token);
    } catch {
      return;
    }
    this.#next = next;
    next.addEventListener("open", () => {
      if (next !== this.#next) return;
      this.#next = null;
      if (this.#stopped || this.#socket !== old) {
        next.close(1000, "bye");
        return;
      }
      this.#socket = next;
      this.#stopTimers();
      // The old one is closed once the new one has its first state (the core takes voice back on it
      // first, so the old one's $disconnect does not tell the agent's other tabs that voice is free).
      this.#retiring = old;
      this.#retireTimer = setTimeout(() => this.#retire(), this.#options.pongTimeoutMs);
      this.#opened({ rotated: true });
    });
    next.addEventListener("close", () => {
      if (next === this.#next) this.#next = null; // never opened: the old one goes on
    });
    this.#listen(next);
  }

  #retire() {
    clearTimeout(this.#retireTimer);
    const old = this.#retiring;
    this.#retiring = null;
    try {
      old?.close(1000, "rotated");
    } catch {
      // already closing
    }
  }

  #dropNext() {
    const next = this.#next;
    this.#next = null;
    if (next && next.readyState <= 1) next.close(1000, "bye");
  }

  #listen(socket) {
    socket.addEventListener("message", (event) => {
      if (socket === this.#socket) this.#onMessage(event.data);
      // What the server sent to the replaced connection alone (a click-to-call for the voice tab before
      // the new connection took voice, answers to requests sent on it); popups reach the new one too.
      else if (socket === this.#retiring) this.#onMessage(event.data, TO_ONE_CONNECTION);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.#socket) return;
      this.#socket = null;
      this.#stopTimers();
      const willReconnect = !this.#stopped;
      this.emit("close", { code: event.code, reason: event.reason, willReconnect });
      if (willReconnect) this.#scheduleRetry();
    });
    // "error" is always followed by "close": nothing to do here.
  }

  #scheduleRetry() {
    if (this.#stopped) return;
    clearTimeout(this.#retryTimer);
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.#options;
    if (this.#attempt >= maxAttempts) {
      this.#setState("disconnected");
      this.emit("disconnected");
      return;
    }
    this.#attempt += 1;
    const exponential = Math.min(maxDelayMs, baseDelayMs * 2 ** (this.#attempt - 1));
    const delay = Math.round(exponential * (0.8 + Math.random() * 0.4));
    this.#setState("reconnecting");
    this.emit("reconnecting", this.#attempt, maxAttempts, delay);
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  /** Skip the wait of a pending retry (network back, tab visible again). */
  retryNow() {
    if (this.#stopped) return;
    if (this.#state === "disconnected") {
      this.connect();
      return;
    }
    if (this.#state === "reconnecting" && !this.#socket) {
      clearTimeout(this.#retryTimer);
      this.#open();
    }
  }

  #onMessage(data, only = null) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    if (only && !only.has(message.type)) return;
    if (message.type === "pong") {
      clearTimeout(this.#pongTimer);
      this.#pongTimer = null;
    }
    if (message.type === "session.revoked") this.#end();
    this.emit("message", message);
    this.emit(message.type, message);
    if (message.type === "state" && this.#retiring) this.#retire();
  }

  /** The server ended the session: stay down (the socket's close follows, with no reconnect). */
  #end() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#stopTimers();
    this.#dropNext();
    this.#retire();
    this.#unwatchBrowser();
    this.#setState("ended");
  }

  #startPing() {
    this.#stopTimers();
    const { pingIntervalMs, pongTimeoutMs } = this.#options;
    this.#pingTimer = setInterval(() => {
      if (this.#pongTimer) return; // one ping in flight at a time
      if (!this.send("ping", { id: `p${++this.#pingSeq}` })) return;
      this.#pongTimer = setTimeout(() => {
        // No pong: the socket is dead even if the browser says it is open. Drop it and reconnect.
        this.#pongTimer = null;
        const socket = this.#socket;
        if (socket) {
          this.#socket = null;
          this.#stopTimers();
          try {
            socket.close(4000, "no pong");
          } catch {
            // ignore
          }
          this.emit("close", { code: 4000, reason: "no pong", willReconnect: !this.#stopped });
          this.#scheduleRetry();
        }
      }, pongTimeoutMs);
    }, pingIntervalMs);
  }

  #stopTimers() {
    clearTimeout(this.#rotateTimer);
    this.#rotateTimer = null;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#pingTimer = null;
    this.#pongTimer = null;
  }

  #setState(state) {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("statechange", state);
  }

  #watchBrowser() {
    if (this.#listeners.length || typeof window === "undefined") return;
    const wake = () => this.retryNow();
    const visible = () => {
      if (document.visibilityState === "visible") this.retryNow();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", visible);
    this.#listeners = [
      () => window.removeEventListener("online", wake),
      () => document.removeEventListener("visibilitychange", visible),
    ];
  }

  #unwatchBrowser() {
    for (const remove of this.#listeners) remove();
    this.#listeners = [];
  }
}

/** This tab's id: random, kept in sessionStorage so a reload of the tab is the same tab. */
export function tabId(storage = globalThis.sessionStorage) {
  const KEY = "ctibridge.tab";
  let id = null;
  try {
    id = storage?.getItem(KEY);
  } catch {
    id = null;
  }
  if (!id || !/^[A-Za-z0-9_.:-]{1,64}$/.test(id)) {
    const bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    id = `t-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    try {
      storage?.setItem(KEY, id);
    } catch {
      // memory only
    }
  }
  return id;
}
