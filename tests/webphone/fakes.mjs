// Fakes of the phone core's collaborators (bridge.js, sip.js, session.js, tones.js) for `node --test`:
// same methods and events as the real ones, with what was sent recorded and what arrives driven by the test.

import assert from "node:assert/strict";

import { Emitter } from "../../webphone/js/emitter.js";
import { PhoneCore } from "../../webphone/js/phone.js";

export class FakeBridge extends Emitter {
  static instances = [];
  state = "idle";
  sent = [];
  device;

  constructor(options) {
    super();
    this.options = options;
    this.device = options.device;
    FakeBridge.instances.push(this);
  }

  static get last() {
    return FakeBridge.instances.at(-1);
  }

  connect() {
    this.state = "open";
    this.emit("open");
  }

  close() {
    this.state = "idle";
    this.closed = true;
  }

  send(action, fields = {}) {
    if (this.state !== "open") return false;
    this.sent.push({ action, ...fields });
    return true;
  }

  enableVoice() { return this.send("enableVoice"); }
  setReady(ready) { return this.send("status", { ready }); }
  resetDevice() { return this.send("resetDevice"); }
  reportCallState(callid, state) { return this.send("callState", { callid, state }); }
  calloutResult(fields) { return this.send("callout.result", fields); }

  /** A message from the bridge. */
  receive(message) {
    this.emit("message", message);
    this.emit(message.type, message);
  }

  actions(name) {
    return this.sent.filter((m) => m.action === name);
  }
}

let sipCallSeq = 0;

export class FakeSip extends Emitter {
  static instances = [];
  connected = false;
  registered = false;
  call = null;
  dialed = [];
  transfers = [];
  failNextDial = null;

  constructor({ config }) {
    super();
    this.config = config;
    this.uri = config.sip_uri;
    FakeSip.instances.push(this);
  }

  static get last() {
    return FakeSip.instances.at(-1);
  }

  start() {
    this.connected = true;
    this.registered = true;
    this.emit("status", { connected: true, registered: true });
    this.emit("registered");
  }

  stop() {
    this.stopped = true;
    this.connected = false;
    this.registered = false;
  }

  /** JsSIP creates the session inside ua.call(): "outgoing" comes before dial() returns. */
  dial(number, { callId = null } = {}) {
    if (this.failNextDial) {
      const error = this.failNextDial;
      this.failNextDial = null;
      throw error;
    }
    const call = { direction: "outbound", phone: number, callId: callId ?? `sip-out-${++sipCallSeq}`, established: false };
    this.call = call;
    this.dialed.push({ number, callId });
    this.emit("outgoing", call);
    return call;
  }

  /** A customer's INVITE reaches the phone. */
  ring({ phone = "0901234567", callId = `sip-in-${++sipCallSeq}`, queueId = null, displayName = null } = {}) {
    const call = { direction: "inbound", phone, callId, queueId, displayName, established: false };
    this.call = call;
    this.emit("incoming", call);
    return call;
  }

  answer() {
    return Boolean(this.call && this.call.direction === "inbound" && !this.call.established);
  }

  /** The far end (or JsSIP after answer()) confirms the call. */
  accept(call = this.call) {
    call.established = true;
    this.emit("accepted", call);
  }

  /** JsSIP ends an established call synchronously inside terminate(). */
  hangup() {
    const call = this.call;
    if (!call) return false;
    this.finish(call, call.established ? "ended" : "failed", { cause: "Canceled", sipCode: call.established ? null : 487 });
    return true;
  }

  finish(call, event = "ended", info = {}) {
    if (this.call === call) this.call = null;
    this.emit(event, call, info);
  }

  toggleHold() { return Boolean(this.call?.established); }
  toggleMute() { return Boolean(this.call?.established); }
  sendDTMF() { return Boolean(this.call?.established); }

  transfer(target) {
    if (!this.call?.established) return false;
    this.transfers.push(target);
    return true;
  }
}

export class FakeSession extends Emitter {
  static profile = null;
  token = null;

  constructor(options) {
    super();
    this.options = options;
  }

  get loggedIn() {
    return Boolean(this.token);
  }

  async login(domain, token) {
    if (token === "expired-token") throw Object.assign(new Error("expired"), { code: "TOKEN_EXPIRED", status: 401 });
    this.token = `session-of-${domain}`;
  }

  async restore() {
    return false;
  }

  async me() {
    return structuredClone(FakeSession.profile);
  }

  async logout() {
    this.loggedOut = true;
    this.token = null;
  }

  discard(reason) {
    this.discarded = reason;
    this.token = null;
  }

  async api() {
    return { items: [] };
  }
}

export class FakeTones {
  played = [];
  unlocked = false;
  startRing() { this.played.push("ring"); }
  startRingback() { this.played.push("ringback"); }
  stop() { this.played.push("stop"); }
  dtmf(key) { this.played.push(`dtmf:${key}`); }
  unlock() { this.unlocked = true; }
  get last() { return this.played.at(-1) ?? null; }
}

export function agentProfile({ ipphone = "101", deviceType = 1, allowedOrigins = [] } = {}) {
  return {
    agent: { user_id: 7001, ipphone, display_name: `Agent ${ipphone}`, customer: "demo", device_type: deviceType, mobile: null },
    webphone: { websocket_server_url: "wss://sip.example/ws", sip_uri: `sip:${ipphone}@sip.example`, password: "secret" },
    embed: { allowed_origins: allowedOrigins },
    realtime: {},
  };
}

/**
 * A logged-in core with fakes; `state` is the bridge's first state message (voice in this tab on
 * device 1 by default). `attach(core)` runs before the login. Answers {core, bridge, sip, tones, events}: `events` records every event.
 */
export async function loggedInCore({ deviceType = 1, voice = true, ready = true, allowedOrigins = [], now, attach = null } = {}) {
  FakeSession.profile = agentProfile({ deviceType, allowedOrigins });
  FakeBridge.instances.length = 0;
  FakeSip.instances.length = 0;
  const tones = new FakeTones();
  const core = new PhoneCore({
    JsSIP: {},
    SessionImpl: FakeSession,
    BridgeImpl: FakeBridge,
    SipPhoneImpl: FakeSip,
    tones,
    newTabId: () => "tab-1",
    sessionStorage: null,
    localStorage: null,
    tabStorage: null,
    ...(now ? { now } : {}),
  });
  const events = [];
  core.on("*", (type, ...args) => events.push({ type, args }));
  core.configure({ httpApiUrl: "https://api.example", websocketUrl: "wss://ws.example" });
  attach?.(core); // a face that listens from before the login (embed.js)
  await core.login("demo", "crm-token");
  const bridge = FakeBridge.last;
  bridge.receive({ type: "state", ready, voice, voice_tab: voice ? "tab-1" : "tab-2", device_type: deviceType, mobile: null, call: { state: "idle" } });
  const sip = voice && deviceType === 1 ? FakeSip.last : null;
  return { core, bridge, sip, tones, events, named: (type) => events.filter((e) => e.type === type).map((e) => e.args) };
}

/** Let pending promise callbacks run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Wait until the bridge got `action`, then answer it with `reply` (as the real one does, later). */
export async function replyTo(bridge, action, reply) {
  for (let i = 0; i < 50 && !bridge.actions(action).length; i += 1) await settle();
  assert.ok(bridge.actions(action).length, `no ${action} sent`);
  bridge.receive(reply);
}
