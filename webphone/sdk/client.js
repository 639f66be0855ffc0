// The CTI Bridge SDK's core, for a CRM page that loads ctibridge.js: one agent logged in with a token the
// CRM minted, the bridge's WebSocket (popups, voice, status, device, transfers) and, when this tab holds
// voice and calls ring in the browser, the SIP phone. It reuses the webphone's modules (session.js,
// bridge.js, sip.js), bundled by esbuild into one classic script (npm run build:sdk).
//
// Every outcome is an event (so the seed-compatible callbacks of vcc.js/alohub.js are thin), and every
// command answers a promise:
//
//   const phone = await CTIBridge.init({token, domain});
//   phone.on("ringing", (call) => showCustomer(call.phone));
//   await phone.call("0987654321");
//
// Events: ready, error (SESSION_REVOKED: the bridge ended the login), connected, reconnecting (n, N),
// disconnected, registered, unregistered,
// voice (enabled), status (ready), device (type, mobile), ringing (call), callId (call), contact (call),
// callout (call), progress (call), answered (call), ended (call), calloutError ({errorCode, sipCode,
// message, phone}), mute/unmute/hold/unhold (call), agents (list), transferRequest (transferCall),
// transferClosed ({transferId, status}), transferResponse (status "OK"|"NOK", info), transferSuccess
// (info), transferError (code, info).

import JsSIP from "jssip/lib/JsSIP.js";
import { Bridge, tabId } from "../js/bridge.js";
import { describeCalloutError, ERROR_CODES } from "../js/callout-errors.js";
import { Emitter } from "../js/emitter.js";
import { EndedCalls } from "../js/ended-calls.js";
import { checkDialable, numberKey } from "../js/phone-numbers.js";
import { Session } from "../js/session.js";
import { SipPhone } from "../js/sip.js";
import { Tones } from "../js/tones.js";

/** Seed 002's transfer error codes. */
export const TRANSFER_ERRORS = Object.freeze({
  NOT_CHOOSE_TYPE_TRANSFER: "NOT_CHOOSE_TYPE_TRANSFER",
  TRANSFER_CALL_FAILED: "TRANSFER_CALL_FAILED",
  NOT_IN_A_CALL: "NOT_IN_A_CALL",
  COULD_NOT_GET_CALL_INFO: "COULD_NOT_GET_CALL_INFO",
});

// Seed: a transfer request nobody answers is rejected after 10 s (the bridge enforces the same
// deadline). The requester waits a little longer for the bridge's word before giving up itself.
const TRANSFER_ANSWER_MS = 10_000;
const TRANSFER_WAIT_MS = TRANSFER_ANSWER_MS + 3_000;
const REQUEST_TIMEOUT_MS = 10_000;
const DEVICE_NAMES = { 1: "this browser", 2: "your IP phone", 3: "your mobile" };

/** An Error with a stable `code` (and what else the caller should know). */
export function sdkError(code, message, fields = {}) {
  const error = new Error(message || code);
  error.code = code;
  Object.assign(error, fields);
  return error;
}

/** Storage that lives as long as the page: the SDK never writes the session token anywhere. */
function memoryStorage() {
  const values = new Map();
  return {
    getItem: (key) => (values.has(key) ? values.get(key) : null),
    setItem: (key, value) => values.set(key, String(value)),
    removeItem: (key) => values.delete(key),
  };
}

/** This tab's sessionStorage under the SDK's own keys (the webphone page may share the origin). */
function prefixedStorage(storage, prefix) {
  return {
    getItem: (key) => storage?.getItem(prefix + key) ?? null,
    setItem: (key, value) => storage?.setItem(prefix + key, value),
    removeItem: (key) => storage?.removeItem(prefix + key),
  };
}

export class CTIBridgeClient extends Emitter {
  #configUrl;
  #session = null;
  #bridge = null;
  #sip = null;
  #me = null;
  #call = null;
  #synced = false;
  #status = { connected: false, ready: false, voice: false, voiceTab: null, deviceType: 1, mobile: null };
  #incomingTransfer = null;
  #bridgedCallouts = new Map(); // number key -> when: call-outs the bridge places on another device
  #audio = null;
  #tones = new Tones();
  #endedCalls = new EndedCalls();
  #generation = 0; // bumped by every init/logout: late events of an old login are dropped

  /** @param {{configUrl?: string|null}} options  where config.json is (see index.js) */
  constructor({ configUrl = null } = {}) {
    super();
    this.#configUrl = configUrl;
    if (typeof document !== "undefined") {
      // Browsers play sounds only after a gesture: the agent's first click or key unlocks the ring tone.
      const unlock = () => this.#tones.unlock();
      document.addEventListener("pointerdown", unlock, { capture: true });
      document.addEventListener("keydown", unlock, { capture: true });
    }
  }

  // ------------------------------------------------------------------ state
  /** The logged-in agent ({user_id, ipphone, display_name, domain, customer, ...}), or null. */
  get agent() {
    return this.#me?.agent ?? null;
  }

  get status() {
    return { ...this.#status, registered: Boolean(this.#sip?.registered), loggedIn: Boolean(this.#session?.loggedIn) };
  }

  /** The current call ({id, callid, sipCallId, phone, direction, state, ...}), or null. */
  get currentCall() {
    return this.#call ? publicCall(this.#call) : null;
  }

  // ------------------------------------------------------------------ login
  /**
   * Log the agent in with the token the CRM minted (seed 001/002 JWT) and connect. Resolves with this
   * client once the bridge has sent its first state; rejects with {code, status, message}.
   * `httpApiUrl`/`websocketUrl` override config.json (for a page that loaded the script another way).
   */
  async init({ token, domain, httpApiUrl = null, websocketUrl = null } = {}) {
    if (!token || !domain) throw sdkError("VALIDATION_ERROR", "CTIBridge.init needs {token, domain}.");
    await this.#stop({ logout: true });
    const generation = ++this.#generation;
    const config = httpApiUrl ? { httpApiUrl, websocketUrl } : await loadConfig(this.#configUrl);
    const session = new Session({ httpApiUrl: config.httpApiUrl, storage: memoryStorage(), localStorage: null });
    this.#session = session;
    session.on("expired", (error) => this.emit("error", sdkError(error.code || "SESSION_EXPIRED", error.message)));
    await session.login(domain, token);
    const me = await session.me();
    if (generation !== this.#generation) throw sdkError("INIT_REPLACED", "Another init() replaced this one.");
    this.#me = me;
    this.#status.deviceType = Number(me.agent?.device_type) || 1;
    this.#status.mobile = me.agent?.mobile ?? null;
    const url = config.websocketUrl || me.realtime?.ws_url;
    if (!url) throw sdkError("CONFIG_MISSING", "The bridge's WebSocket URL is unknown (config.json).");
    const storage = prefixedStorage(globalThis.sessionStorage, "sdk.");
    const bridge = new Bridge({ url, getToken: () => session.token, tab: tabId(storage), device: this.#status.deviceType });
    this.#bridge = bridge;
    this.#wireBridge(bridge, generation);
    const synced = this.#await("state", { timeoutMs: 15_000 });
    bridge.connect();
    await synced;
    this.emit("ready", this.status);
    return this;
  }

  /** Log out: the phone unregisters, the device goes back to the agent's default, the session ends. */
  async logout() {
    await this.#stop({ logout: true });
  }

  async #stop({ logout }) {
    this.#generation += 1;
    this.#stopSip();
    this.#clearIncomingTransfer();
    this.#call = null;
    if (this.#status.voice && this.#bridge) this.#bridge.resetDevice(); // seed: reConfigDeviceType()
    this.#bridge?.close();
    this.#bridge = null;
    this.#synced = false;
    this.#status = { connected: false, ready: false, voice: false, voiceTab: null, deviceType: 1, mobile: null };
    const session = this.#session;
    this.#session = null;
    this.#me = null;
    if (logout && session?.loggedIn) await session.logout();
  }

  // ------------------------------------------------------------------ the agent's settings
  /** Take voice in this tab (seed csEnableCall): the other tabs of the agent lose it. */
  async enableVoice() {
    await this.#ask("enableVoice", {}, "voice", { match: (m) => m.enabled });
    return true;
  }

  /** Ready for calls (On) or not (Off) (seed changeCallStatus). */
  async setReady(ready) {
    await this.#ask("status", { ready: Boolean(ready) }, "status", { match: (m) => m.ready === Boolean(ready) });
    return Boolean(ready);
  }

  /** Where calls ring: 1 this browser, 2 an IP phone or softphone, 3 the mobile `mobile`. */
  async setDevice(deviceType, mobile = null) {
    const type = Number(deviceType);
    if (![1, 2, 3].includes(type)) throw sdkError("VALIDATION_ERROR", `Device type ${deviceType} is not one of 1, 2, 3.`);
    const fields = type === 3 ? { device_type: 3, mobile } : { device_type: type };
    await this.#ask("device", fields, "device", { match: (m) => m.device_type === type });
    if (this.#bridge) this.#bridge.device = type; // the ?device= of its next reconnect
    return type;
  }

  /** Back to the agent's configured device (seed reConfigDeviceType). */
  async resetDevice() {
    const message = await this.#ask("resetDevice", {}, "device");
    return message.device_type;
  }

  /** Stop the browser phone (seed csUnregister); the bridge connection stays. */
  unregister() {
    this.#stopSip();
  }

  // ------------------------------------------------------------------ calls
  /**
   * Call `number`. From this tab's browser phone when it holds voice (device 1): resolves with the call
   * once the INVITE is on its way. Otherwise the bridge places it on the agent's device (the voice tab,
   * the IP phone or the mobile; click-to-call): resolves with {phone, requestId, route}. What happens
   * next comes as events (progress, answered, ended, calloutError). Rejects with {code: errorCode,
   * errorCode, sipCode, message} (the seeds' call-out error table).
   */
  async call(number, { callId = null } = {}) {
    const checked = checkDialable(number);
    const fail = (errorCode, message) => {
      const error = sdkError(errorCode, message, { errorCode, sipCode: null, phone: String(number ?? "") });
      this.emit("calloutError", { errorCode, sipCode: null, message, phone: error.phone });
      throw error;
    };
    if (!checked.ok) fail(ERROR_CODES.CONNECT, checked.message);
    if (!this.#session?.loggedIn) fail(ERROR_CODES.NOT_CONNECT_AGENT, "Not logged in: call CTIBridge.init({token, domain}) first.");
    if (this.#call) fail(ERROR_CODES.AGENT_BUSY, "You are already on a call.");
    if (this.#status.deviceType !== 1 || !this.#status.voice) {
      if (!this.#bridge?.state || this.#bridge.state !== "open") fail(ERROR_CODES.NOT_CONNECT_AGENT, "The bridge is not connected.");
      let accepted;
      try {
        accepted = await this.#ask("callout", { phone: checked.number }, "callout.accepted");
      } catch (error) {
        fail(error.code === "TIMEOUT" ? ERROR_CODES.CONNECT : error.code, error.message);
      }
      // The PBX's outgoing_call (or the voice tab's dial) follows: it is this call, not a new one.
      this.#bridgedCallouts.set(numberKey(checked.number), Date.now());
      const placed = { phone: checked.number, requestId: accepted.request_id, route: accepted.route };
      this.emit("callout", { ...placed, direction: "outbound", state: "dialing", callId: null });
      return placed;
    }
    if (!this.#sip?.connected) fail(ERROR_CODES.NOT_CONNECT_AGENT, describeCalloutError(ERROR_CODES.NOT_CONNECT_AGENT));
    const call = newCall({ direction: "outbound", phone: checked.number, state: "dialing" });
    this.#call = call;
    try {
      call.sip = this.#sip.dial(checked.number, { callId });
    } catch (error) {
      this.#call = null;
      fail(error.errorCode ?? ERROR_CODES.CONNECT, error.message);
    }
    this.emit("callout", publicCall(call));
    return publicCall(call);
  }

  /** Answer the ringing call (seed onAcceptCall); resolves when it is up. */
  async answer() {
    const call = this.#call;
    if (!call || call.direction !== "inbound" || call.state !== "ringing") throw sdkError("NO_CALL", "No call is ringing.");
    const answered = this.#callEvent(call, "answered");
    if (!call.sip || !this.#sip?.answer()) {
      answered.cancel();
      throw sdkError("NOT_SUPPORTED", `This call rings on ${DEVICE_NAMES[this.#status.deviceType]}, not in this tab: answer it there.`);
    }
    await answered.promise;
    return publicCall(call);
  }

  /** Hang up, cancel a call-out, or decline a ringing call (seed endCall); resolves when it ended. */
  async hangup() {
    const call = this.#call;
    if (!call) throw sdkError("NO_CALL", "There is no call.");
    // Listen first: JsSIP ends an established call synchronously inside terminate().
    const ended = this.#callEvent(call, "ended");
    if (!call.sip || !this.#sip?.hangup()) {
      ended.cancel();
      throw sdkError("NOT_SUPPORTED", `This call is on ${DEVICE_NAMES[this.#status.deviceType]}, not in this tab: hang up there.`);
    }
    await ended.promise;
    return publicCall(call);
  }

  /** Hold or resume (seed holdCall); answers true when the re-INVITE went out. */
  toggleHold() {
    return Boolean(this.#sip?.toggleHold());
  }

  /** Mute or unmute the microphone (seed muteCall). */
  toggleMute() {
    return Boolean(this.#sip?.toggleMute());
  }

  sendDTMF(tones) {
    return Boolean(this.#sip?.sendDTMF(tones));
  }

  // ------------------------------------------------------------------ transfers (seed 002)
  /** The agents a call can go to now (seed getTransferAgent): [{ipphone, display_name, device_type}]. */
  async listAgents() {
    const { agents } = await this.#ask("transfer.agents", {}, "transfer.agents");
    this.emit("agents", agents);
    return agents;
  }

  /**
   * Ask agent `ipphone` to take the current call (seed csTransferCallAgent). Resolves {status: "OK"}
   * once the call was handed over (SIP REFER accepted), {status: "NOK", reason} when the agent said
   * no or did not answer in 10 s; rejects with a seed transfer error code.
   */
  async transferToAgent(ipphone) {
    const target = String(ipphone ?? "").trim();
    const info = { ipphone: target };
    const fail = (code, message) => {
      this.emit("transferError", code, info);
      throw sdkError(code, message, { info });
    };
    if (!target) fail(TRANSFER_ERRORS.NOT_CHOOSE_TYPE_TRANSFER, "Choose the agent to transfer the call to.");
    const call = this.#callToTransfer(fail);
    let pending;
    try {
      pending = await this.#ask("transfer.agent", withoutEmpty({ ipphone: target, callid: call.callid, phone: call.phone }), "transfer.pending");
    } catch (error) {
      const code = error.code === "TIMEOUT" || error.code === "NOT_CONNECTED" ? TRANSFER_ERRORS.TRANSFER_CALL_FAILED : error.code;
      fail(code, error.message);
    }
    info.transferId = pending.transfer_id;
    let response;
    try {
      response = await this.#await("transfer.response", {
        match: (m) => m.transfer_id === pending.transfer_id,
        timeoutMs: TRANSFER_WAIT_MS,
      });
    } catch {
      // No word from the bridge in time: give up, and make sure the target's prompt goes away.
      this.#send("transfer.cancel", { transfer_id: pending.transfer_id }, false);
      response = { status: "NOK", reason: "expired", target };
    }
    this.emit("transferResponse", response.status, { ...info, reason: response.reason });
    if (response.status !== "OK") return { status: "NOK", reason: response.reason };
    try {
      await this.#refer(response.target);
    } catch (error) {
      fail(error.code, error.message);
    }
    this.emit("transferSuccess", info);
    return { status: "OK", reason: "accepted" };
  }

  /** Send the current call to queue `queueId` (seed csTransferCallAcd); resolves once handed over. */
  async transferToQueue(queueId) {
    const queue = String(queueId ?? "").trim();
    const fail = (code, message) => {
      this.emit("transferError", code, null);
      throw sdkError(code, message, { queueId: queue });
    };
    if (!queue) fail(TRANSFER_ERRORS.NOT_CHOOSE_TYPE_TRANSFER, "Choose the queue to transfer the call to.");
    this.#callToTransfer(fail);
    let target;
    try {
      target = (await this.#ask("transfer.queue", { queue_id: queue }, "transfer.target", { match: (m) => m.queue_id === queue })).target;
      await this.#refer(target);
    } catch (error) {
      const code = error.code === "TIMEOUT" || error.code === "NOT_CONNECTED" ? TRANSFER_ERRORS.TRANSFER_CALL_FAILED : error.code;
      fail(code, error.message);
    }
    return { status: "OK", target };
  }

  /** Accept (true) or reject (false) the transfer offered to this agent (seed responseTransferAgent). */
  async respondTransfer(accept) {
    const offered = this.#incomingTransfer;
    if (!offered) throw sdkError("NO_TRANSFER_REQUEST", "No transfer is waiting for an answer.");
    this.#clearIncomingTransfer();
    const closed = await this.#ask("transfer.respond", { transfer_id: offered.transferId, accept: Boolean(accept) }, "transfer.closed", {
      match: (m) => m.transfer_id === offered.transferId,
    });
    return closed.status;
  }

  #callToTransfer(fail) {
    const call = this.#call;
    if (!call || call.state !== "in_call") fail(TRANSFER_ERRORS.NOT_IN_A_CALL, "There is no call to transfer.");
    if (!call.sip || this.#sip?.call !== call.sip) {
      fail(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, "The call is not in this tab's phone: transfer it where it was answered.");
    }
    return call;
  }

  /** SIP REFER of the current call to `target`; resolves when the other side accepted it (202). */
  #refer(target) {
    const sip = this.#sip;
    const call = this.#call;
    if (!sip || !call?.sip) return Promise.reject(sdkError(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, "The call is gone."));
    return new Promise((resolve, reject) => {
      const offs = [];
      const done = (settle, value) => {
        clearTimeout(timer);
        for (const off of offs) off();
        settle(value);
      };
      offs.push(sip.on("transferRequested", (sipCall) => sipCall === call.sip && done(resolve)));
      offs.push(
        sip.on("transferFailed", (sipCall, failure) => {
          if (sipCall === call.sip) {
            done(reject, sdkError(TRANSFER_ERRORS.TRANSFER_CALL_FAILED, `The transfer was refused (${failure?.sipCode ?? "no answer"}).`));
          }
        }),
      );
      const timer = setTimeout(() => done(reject, sdkError(TRANSFER_ERRORS.TRANSFER_CALL_FAILED, "The transfer got no answer.")), REQUEST_TIMEOUT_MS);
      if (!sip.transfer(target)) done(reject, sdkError(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, "The call is not established."));
    });
  }

  #onTransferRequest(msg) {
    if (this.#incomingTransfer) {
      // One offer at a time, as one call at a time: a second one is declined at once.
      this.#send("transfer.respond", { transfer_id: msg.transfer_id, accept: false }, false);
      return;
    }
    const transferCall = {
      transferId: msg.transfer_id,
      dropAgentId: msg.from_ipphone, // the seed's name: the agent dropping the call
      dropAgentName: msg.from_name,
      callId: msg.callid ?? null,
      phone: msg.phone ?? null,
      deadline: msg.deadline,
    };
    // Seed behaviour: no answer in 10 s is a rejection.
    const timer = setTimeout(() => this.respondTransfer(false).catch(() => {}), TRANSFER_ANSWER_MS);
    this.#incomingTransfer = { ...transferCall, timer };
    this.emit("transferRequest", transferCall);
  }

  #clearIncomingTransfer() {
    if (this.#incomingTransfer) clearTimeout(this.#incomingTransfer.timer);
    this.#incomingTransfer = null;
  }

  // ------------------------------------------------------------------ the bridge
  #wireBridge(bridge, generation) {
    const on = (type, handler) => bridge.on(type, (...args) => generation === this.#generation && handler(...args));
    on("open", () => {
      this.#status.connected = true;
      this.emit("connected");
    });
    on("close", () => {
      this.#status.connected = false;
    });
    on("reconnecting", (attempt, max) => this.emit("reconnecting", attempt, max));
    on("disconnected", () => this.emit("disconnected"));
    on("session.revoked", (msg) => {
      // The bridge ended this login (a logout, an operator): the bridge stays down; init() again.
      this.#session?.discard(msg.reason);
      this.#stop({ logout: false });
      this.emit("error", sdkError("SESSION_REVOKED", "The session was ended; log in again.", { reason: msg.reason }));
    });
    on("state", (msg) => {
      this.#setStatus({
        ready: Boolean(msg.ready),
        voice: Boolean(msg.voice),
        voiceTab: msg.voice_tab ?? null,
        deviceType: Number(msg.device_type) || 1,
        mobile: msg.mobile ?? null,
      });
      const serverCall = msg.call ?? {};
      if (serverCall.state === "ringing" && !this.#call && serverCall.phone) {
        this.#ring({ callid: serverCall.callid, phone: serverCall.phone });
      } else if (serverCall.state === "idle" && this.#call && !this.#call.sip) {
        this.#end(this.#call);
      }
      this.#updateSip();
    });
    on("voice", (msg) => {
      this.#setStatus({ voice: Boolean(msg.enabled), voiceTab: msg.holder_tab ?? null });
      this.#updateSip();
    });
    on("status", (msg) => this.#setStatus({ ready: Boolean(msg.ready) }));
    on("device", (msg) => {
      this.#setStatus({ deviceType: Number(msg.device_type) || 1, mobile: msg.mobile ?? null });
      this.#updateSip();
    });
    on("call.ringing", (msg) => {
      if (msg.direction && msg.direction !== "inbound" && msg.direction !== "in") return;
      this.#ring({ callid: msg.callid, phone: msg.phone, contact: msg.contact ?? null });
    });
    on("call.contact", (msg) => {
      if (matches(this.#call, msg)) {
        this.#call.contact = msg.contact;
        this.emit("contact", publicCall(this.#call));
      }
    });
    on("call.outgoing", (msg) => {
      const call = this.#call;
      if (call && call.direction === "outbound" && matches(call, msg)) {
        this.#setCallid(call, msg.callid);
      } else if (!call) {
        // Dialed from the IP phone or the mobile: the CRM still hears of it (once: a call-out this tab
        // asked the bridge for was announced already).
        const outgoing = newCall({ direction: "outbound", phone: msg.phone, callid: msg.callid, contact: msg.contact ?? null, state: "dialing" });
        this.#call = outgoing;
        const asked = this.#bridgedCallouts.get(numberKey(msg.phone));
        this.#bridgedCallouts.delete(numberKey(msg.phone));
        if (!asked || Date.now() - asked > 120_000) this.emit("callout", publicCall(outgoing));
      }
    });
    on("call.state", (msg) => {
      const call = this.#call;
      if (!call || call.sip) return; // a call in this tab's phone reports itself
      if (msg.state === "in_call" && call.state !== "in_call" && (!msg.callid || matches(call, msg))) {
        this.#answered(call);
      } else if (msg.state === "idle") {
        this.#end(call);
      }
    });
    on("call.ended", (msg) => {
      const call = this.#call;
      if (call && !call.sip && matches(call, msg)) this.#end(call);
    });
    on("call.dial", (msg) => this.#dialFromCrm(msg));
    on("transfer.request", (msg) => this.#onTransferRequest(msg));
    on("transfer.closed", (msg) => {
      if (this.#incomingTransfer?.transferId === msg.transfer_id) this.#clearIncomingTransfer();
      this.emit("transferClosed", { transferId: msg.transfer_id, status: msg.status });
    });
  }

  #setStatus(change) {
    const before = { ...this.#status };
    Object.assign(this.#status, change);
    const first = !this.#synced && "ready" in change;
    if (first) this.#synced = true;
    const now = this.#status;
    if (first || before.voice !== now.voice) this.emit("voice", now.voice);
    if (first || before.ready !== now.ready) this.emit("status", now.ready);
    if (first || before.deviceType !== now.deviceType || before.mobile !== now.mobile) {
      this.emit("device", now.deviceType, now.mobile);
    }
  }

  #send(action, fields = {}, required = true) {
    const sent = Boolean(this.#bridge?.send(action, fields));
    if (!sent && required) throw sdkError("NOT_CONNECTED", "The bridge is not connected.");
    return sent;
  }

  #requireBridge() {
    if (!this.#bridge) throw sdkError("NOT_CONNECTED", "Not logged in: call CTIBridge.init({token, domain}) first.");
    return this.#bridge;
  }

  /**
   * Send `action` and wait for its answer `type`. Sending first is safe: a reply can only arrive in a
   * later task, after #await subscribed.
   */
  #ask(action, fields, type, { match, timeoutMs } = {}) {
    this.#send(action, fields);
    return this.#await(type, { match, action, timeoutMs });
  }

  /** The next bridge message `type` that `match`es; an `error` for `action` rejects. */
  #await(type, { match = () => true, action = null, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    match ??= () => true;
    timeoutMs ??= REQUEST_TIMEOUT_MS;
    const bridge = this.#requireBridge();
    return new Promise((resolve, reject) => {
      const offs = [];
      const done = (settle, value) => {
        clearTimeout(timer);
        for (const off of offs) off();
        settle(value);
      };
      offs.push(bridge.on(type, (msg) => match(msg) && done(resolve, msg)));
      if (action) offs.push(bridge.on("error", (msg) => msg.action === action && done(reject, sdkError(msg.code, msg.message))));
      const timer = setTimeout(() => done(reject, sdkError("TIMEOUT", `The bridge did not answer (${type}).`)), timeoutMs);
    });
  }

  /** The click-to-call of the CRM's server, sent by the bridge to this (voice) tab. */
  #dialFromCrm(msg) {
    this.call(msg.phone, { callId: msg.call_id || null })
      .then(() => {
        if (this.#call) this.#call.requestId = msg.request_id;
      })
      .catch((error) => {
        this.#bridge?.calloutResult({ request_id: msg.request_id, status: "failed", error_code: error.errorCode, sip_code: error.sipCode ?? null });
      });
  }

  // ------------------------------------------------------------------ SIP
  #updateSip() {
    const want = Boolean(this.#session?.loggedIn && this.#status.voice && this.#status.deviceType === 1 && this.#me?.webphone);
    if (want && !this.#sip) this.#startSip();
    else if (!want && this.#sip) this.#stopSip();
  }

  #startSip() {
    let sip;
    try {
      sip = new SipPhone({ JsSIP, config: this.#me.webphone, remoteAudio: this.#audioElement(), userAgent: "CTI Bridge SDK" });
    } catch (error) {
      this.emit("error", sdkError("SIP_SETTINGS_MISSING", error.message));
      return;
    }
    this.#sip = sip;
    sip.on("registered", () => this.emit("registered"));
    sip.on("unregistered", () => this.emit("unregistered"));
    sip.on("registrationFailed", ({ cause, sipCode }) => {
      this.emit("error", sdkError("SIP_REGISTRATION_FAILED", `The browser phone could not register (${sipCode ?? cause}).`));
    });
    sip.on("incoming", (sipCall) => {
      const call = this.#call;
      if (call && call.direction === "inbound" && call.state === "ringing" && !call.sip) {
        call.sip = sipCall;
        call.sipCallId = sipCall.callId;
        if (!call.phone) call.phone = sipCall.phone;
        this.#tones.startRing();
      } else {
        this.#ring({ phone: sipCall.phone, sip: sipCall });
      }
    });
    sip.on("outgoing", (sipCall) => {
      const call = this.#call;
      if (call && call.direction === "outbound") {
        call.sip = sipCall;
        call.sipCallId = sipCall.callId;
      }
    });
    sip.on("progress", (sipCall, { sipCode }) => {
      const call = this.#callOf(sipCall);
      if (!call || call.direction !== "outbound" || call.state === "in_call") return;
      const first = call.state !== "progress";
      call.state = "progress";
      if (sipCode === 180) this.#tones.startRingback();
      if (call.requestId && !call.reported.ringing) {
        call.reported.ringing = true;
        this.#bridge?.calloutResult({ request_id: call.requestId, status: "ringing", error_code: null, sip_code: sipCode });
      }
      if (first) this.emit("progress", publicCall(call));
    });
    sip.on("accepted", (sipCall) => {
      const call = this.#callOf(sipCall);
      if (!call) return;
      if (call.callid) this.#bridge?.reportCallState(call.callid, "in_call");
      if (call.requestId && !call.reported.answered) {
        call.reported.answered = true;
        this.#bridge?.calloutResult({ request_id: call.requestId, status: "answered", error_code: null, sip_code: 200 });
      }
      this.#answered(call);
    });
    const finished = (sipCall, info) => {
      const call = this.#callOf(sipCall);
      if (!call) return;
      if (info.error) {
        call.error = info.error;
        this.emit("calloutError", { ...info.error, phone: call.phone });
        if (call.requestId) {
          this.#bridge?.calloutResult({ request_id: call.requestId, status: "failed", error_code: info.error.errorCode, sip_code: info.error.sipCode });
        }
      } else if (call.requestId && call.state !== "in_call") {
        this.#bridge?.calloutResult({ request_id: call.requestId, status: "failed", error_code: ERROR_CODES.NOT_CONNECT_CUSTOMER, sip_code: info.sipCode ?? 487 });
      }
      if (call.state === "in_call" && call.callid) this.#bridge?.reportCallState(call.callid, "idle");
      this.#end(call);
    };
    sip.on("ended", finished);
    sip.on("failed", finished);
    const flags = { hold: ["held", true], unhold: ["held", false], muted: ["muted", true], unmuted: ["muted", false] };
    for (const [name, [flag, value]] of Object.entries(flags)) {
      sip.on(name, (sipCall) => {
        const call = this.#callOf(sipCall);
        if (!call) return;
        call[flag] = value;
        this.emit({ muted: "mute", unmuted: "unmute" }[name] ?? name, publicCall(call));
      });
    }
    sip.start();
  }

  #stopSip() {
    const sip = this.#sip;
    this.#sip = null;
    sip?.stop();
  }

  #callOf(sipCall) {
    return this.#call && this.#call.sip === sipCall ? this.#call : null;
  }

  /** Where the other party is heard: the seed demo's #peer-video when the page has one. */
  #audioElement() {
    if (this.#audio) return this.#audio;
    let element = document.getElementById("peer-video");
    if (!element) {
      element = document.createElement("audio");
      element.autoplay = true;
      element.hidden = true;
      element.dataset.ctibridge = "remote-audio";
      (document.body ?? document.documentElement).appendChild(element);
    }
    this.#audio = element;
    return element;
  }

  // ------------------------------------------------------------------ call life
  #ring({ callid = null, phone, contact = null, sip = null }) {
    if (!sip && this.#endedCalls.has(callid)) return; // a re-sent or late ring of a call that ended here
    const call = this.#call;
    if (call) {
      // The bridge's popup and the SIP INVITE are one call: merge whichever comes second.
      if (matches(call, { callid, phone }) || (call.sip && !call.callid && call.state === "ringing")) {
        this.#setCallid(call, callid);
        if (contact) {
          call.contact = contact;
          this.emit("contact", publicCall(call));
        }
      }
      return; // one call at a time
    }
    const fresh = newCall({ direction: "inbound", phone, callid, contact, sip, sipCallId: sip?.callId ?? null, state: "ringing" });
    this.#call = fresh;
    if (sip || (this.#status.voice && this.#status.deviceType === 1)) this.#tones.startRing();
    this.emit("ringing", publicCall(fresh));
  }

  #setCallid(call, callid) {
    if (!callid || call.callid) return;
    call.callid = callid;
    this.emit("callId", publicCall(call));
  }

  #answered(call) {
    call.state = "in_call";
    call.answeredAt = Date.now();
    this.#tones.stop();
    this.emit("answered", publicCall(call));
  }

  #end(call) {
    if (call.state === "ended") return;
    this.#endedCalls.add(call.callid);
    call.state = "ended";
    call.endedAt = Date.now();
    call.sip = null;
    this.#tones.stop();
    if (this.#call === call) this.#call = null;
    this.emit("ended", publicCall(call));
  }

  /**
   * {promise, cancel}: the promise resolves when `call` emits `event` ("answered"/"ended") and rejects
   * if it ends first. Subscribe before acting: some outcomes are emitted synchronously.
   */
  #callEvent(call, event) {
    const offs = [];
    const cancel = () => {
      for (const off of offs.splice(0)) off();
    };
    const promise = new Promise((resolve, reject) => {
      offs.push(
        this.on(event, (c) => {
          if (c.id !== call.id) return;
          cancel();
          resolve();
        }),
        this.on("ended", (c) => {
          if (c.id !== call.id) return;
          cancel();
          if (event === "ended") resolve();
          else reject(sdkError("CALL_ENDED", "The call ended."));
        }),
      );
    });
    return { promise, cancel };
  }
}

let nextCallId = 1;

function newCall(fields) {
  return {
    id: `call-${nextCallId++}`,
    callid: null,
    sipCallId: null,
    phone: "",
    direction: "inbound",
    contact: null,
    state: "ringing",
    sip: null,
    requestId: null,
    startedAt: Date.now(),
    answeredAt: null,
    endedAt: null,
    muted: false,
    held: false,
    error: null,
    reported: {},
    ...fields,
  };
}

/** What the CRM sees of a call (no live SIP objects). */
function publicCall(call) {
  return {
    id: call.id,
    callId: call.callid || call.sipCallId || null, // the seeds' callId: the PBX's when known
    callid: call.callid,
    sipCallId: call.sipCallId || call.sip?.callId || null,
    phone: call.phone,
    direction: call.direction,
    state: call.state,
    contact: call.contact,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt: call.endedAt,
    muted: call.muted,
    held: call.held,
    error: call.error,
  };
}

function matches(call, msg) {
  if (!call || !msg) return false;
  if (call.callid && msg.callid) return call.callid === msg.callid;
  return Boolean(msg.phone) && numberKey(call.phone) === numberKey(msg.phone);
}

function withoutEmpty(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined && value !== ""));
}

/** config.json next to the script ({httpApiUrl, websocketUrl}): where this bridge's APIs are. */
async function loadConfig(url) {
  if (!url) throw sdkError("CONFIG_MISSING", "Where the bridge is is unknown: load ctibridge.js with <script src>, or pass httpApiUrl to init().");
  let response;
  try {
    response = await fetch(url, { cache: "no-store", credentials: "omit" });
  } catch {
    throw sdkError("NETWORK_ERROR", `The bridge's config.json can't be reached (${url}).`);
  }
  if (!response.ok) throw sdkError("CONFIG_MISSING", `The bridge's config.json answered HTTP ${response.status}.`);
  const config = await response.json();
  if (!config?.httpApiUrl) throw sdkError("CONFIG_MISSING", "The bridge's config.json has no httpApiUrl.");
  return config;
}
