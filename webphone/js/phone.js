// CORE: the phone. The only owner of the agent's session, the bridge's WebSocket, the SIP phone and the
// call state machine (call-state.js), and the only emitter of call events. No DOM: every face gives it
// what it needs (JsSIP, where the remote audio plays, storages) and translates its events.
//
//   faces (translate only)                                 core (this file + call-state.js)
//   page: ui.js + page.js ─┐                          ┌─ Session   (session.js: login, refresh, logout)
//   iframe: embed.js      ─┤                          ├─ Bridge    (bridge.js: popups, voice, status, device)
//   SDK: sdk/client.js    ─┼── commands ─▶ PhoneCore ─┼─ SipPhone  (sip.js: JsSIP, this tab's calls)
//   VCC/3C: sdk/vcc.js    ─┤   ◀─ events ─            ├─ CallState (call-state.js: one call's life)
//   Alohub: sdk/alohub.js ─┘                          └─ Tones     (tones.js: ring, ringback, keys)
//
// The call-out rule, the same for every face: from this tab's browser phone when this tab holds voice
// and calls ring in the browser (device 1); otherwise the bridge's click-to-call (`callout`) places it
// on the agent's device (the IP phone, the mobile, or the browser tab that holds voice).
//
// Events: the call events of call-state.js ("ringing", "callId", "contact", "callout", "progress",
// "answered", "ended", "calloutError", "mute", "unmute", "hold", "unhold", "change"); the agent's:
// "profile" (me), "ready" (status, after the bridge's first state), "reconnected" (status, after the
// first state of each later connection), "voice" (enabled), "status" (ready), "device" (type,
// mobile), "agentStatus" (status: any of the three changed); the connections':
// "connected", "bridgeClosed", "reconnecting" (n, N), "disconnected", "bridgeError" (msg),
// "registered", "unregistered", "registrationFailed" ({cause, sipCode}), "sipStatus" (status),
// "sipError" (error); the session's: "loggingOut" (before a stop), "revoked" (reason), "expired"
// (error); click-to-call: "clickToCall" ({phone, requestId}), "clickToCallFailed" ({phone, errorCode,
// sipCode, message}); transfers (seed 002): "agents", "transferRequest", "transferClosed",
// "transferResponse", "transferSuccess", "transferError".

import { Bridge, tabId } from "./bridge.js";
import { CallState } from "./call-state.js";
import { describeCalloutError, ERROR_CODES } from "./callout-errors.js";
import { Emitter } from "./emitter.js";
import { t } from "./i18n.js";
import { checkDialable } from "./phone-numbers.js";
import { Session } from "./session.js";
import { SipPhone } from "./sip.js";
import { Tones } from "./tones.js";

/** Seed 002's transfer error codes. */
export const TRANSFER_ERRORS = Object.freeze({
  NOT_CHOOSE_TYPE_TRANSFER: "NOT_CHOOSE_TYPE_TRANSFER",
  TRANSFER_CALL_FAILED: "TRANSFER_CALL_FAILED",
  NOT_IN_A_CALL: "NOT_IN_A_CALL",
  COULD_NOT_GET_CALL_INFO: "COULD_NOT_GET_CALL_INFO",
});

// Seed: a transfer request nobody answers is rejected after 10 s (the bridge enforces the same
// deadline). The requester waits a little longer for the bridge's word before giving up itself.
export const TRANSFER_ANSWER_MS = 10_000;
const TRANSFER_WAIT_MS = TRANSFER_ANSWER_MS + 3_000;
const REQUEST_TIMEOUT_MS = 10_000;
const FIRST_STATE_MS = 15_000;
// The messages below are the catalogs' (i18n.js): in the page's language, or the SDK's (data-language).
const DEVICE_KEYS = Object.freeze({ 1: "device.browser", 2: "device.ipPhone", 3: "device.mobile" });
/** Where the agent's calls ring, in words of the current language ("this browser", "trình duyệt này"). */
export const DEVICE_NAMES = Object.freeze({
  get 1() {
    return t(DEVICE_KEYS[1]);
  },
  get 2() {
    return t(DEVICE_KEYS[2]);
  },
  get 3() {
    return t(DEVICE_KEYS[3]);
  },
});

/** An Error with a stable `code` (and what else the caller should know). */
export function phoneError(code, message, fields = {}) {
  const error = new Error(message || code);
  error.code = code;
  Object.assign(error, fields);
  return error;
}

const idleStatus = () => ({ connected: false, ready: false, voice: false, voiceTab: null, deviceType: 1, mobile: null });

export class PhoneCore extends Emitter {
  #deps;
  #config = null; // {httpApiUrl, websocketUrl}
  #session = null;
  #bridge = null;
  #sip = null;
  #me = null;
  #calls;
  #tones;
  #synced = false;
  #resyncing = false; // the bridge connected again: its next `state` is the new connection's first
  #rotated = false; // that connection replaced one still open (bridge.js, the 2-hour limit)
  #tab = null; // this tab's id (bridge.js tabId), the one the bridge names as voice holder
  #voiceClaim = null; // an enableVoice request in flight: asking twice sends it once
  #status = idleStatus();
  #incomingTransfer = null;
  #offeredTransfers = new Set(); // ids of the transfer requests this tab showed ("transferRequest")
  #generation = 0; // bumped by every start/stop: late events of an old login are dropped

  /**
   * @param {object} deps  what the face provides (tests give fakes)
   * @param {object} deps.JsSIP  the JsSIP module
   * @param {() => (HTMLMediaElement|null)} [deps.remoteAudio]  where the other party is heard
   * @param {string} [deps.userAgent]  the SIP User-Agent's name
   * @param {Storage|null} [deps.sessionStorage]  where the session token may live (the SDK: memory)
   * @param {Storage|null} [deps.localStorage]  the page's "remember the domain"
   * @param {Storage|null} [deps.tabStorage]  where this tab's id lives
   */
  constructor({
    JsSIP = null,
    remoteAudio = () => null,
    userAgent = "CTI Bridge webphone",
    sessionStorage = globalThis.sessionStorage,
    localStorage = globalThis.localStorage,
    tabStorage = globalThis.sessionStorage,
    fetchImpl = undefined,
    SessionImpl = Session,
    BridgeImpl = Bridge,
    SipPhoneImpl = SipPhone,
    tones = new Tones(),
    newTabId = tabId,
    now = Date.now,
  } = {}) {
    super();
    this.#deps = { JsSIP, remoteAudio, userAgent, sessionStorage, localStorage, tabStorage, fetchImpl, SessionImpl, BridgeImpl, SipPhoneImpl, newTabId };
    this.#tones = tones;
    this.#calls = new CallState({ now });
    this.#wireCalls();
  }

  // ------------------------------------------------------------------ state
  /** The logged-in agent ({user_id, ipphone, display_name, domain, customer, ...}), or null. */
  get agent() {
    return this.#me?.agent ?? null;
  }

  /** GET /v1/agent/me's answer (agent, webphone SIP settings, embed), or null. */
  get profile() {
    return this.#me;
  }

  get session() {
    return this.#session;
  }

  get bridgeState() {
    return this.#bridge?.state ?? "idle";
  }

  get status() {
    return {
      ...this.#status,
      registered: Boolean(this.#sip?.registered),
      loggedIn: Boolean(this.#session?.loggedIn),
      sip: this.#sip ? { connected: this.#sip.connected, registered: this.#sip.registered } : null,
    };
  }

  /** The live call ({id, callid, sipCallId, phone, direction, state, ...}), or null. */
  get currentCall() {
    return this.#calls.current;
  }

  /** Calls ring in this tab's browser phone (it holds voice, on device 1). */
  get ringsHere() {
    return this.#status.voice && this.#status.deviceType === 1;
  }

  // ------------------------------------------------------------------ login
  /** Where the bridge's APIs are ({httpApiUrl, websocketUrl}): a new session against them. */
  configure(config) {
    if (!config?.httpApiUrl) throw phoneError("CONFIG_MISSING", t("core.configNoHttpApi"));
    this.#config = { httpApiUrl: config.httpApiUrl, websocketUrl: config.websocketUrl ?? null };
    this.#session = this.#newSession();
    return this.#session;
  }

  /**
   * Log in with the token the CRM minted (seed 001/002 JWT), then start. With `waitForState`, resolves
   * once the bridge sent its first state (the SDK's init). Rejects with {code, status, message}.
   */
  async login(domain, token, { waitForState = false } = {}) {
    if (!this.#session) throw phoneError("CONFIG_MISSING", t("core.configNotLoaded"));
    if (this.#session.loggedIn || this.#bridge) await this.stop({ logout: true });
    await this.#session.login(domain, token);
    await this.start({ waitForState });
  }

  /** The page's "remember the domain" (not secret, in localStorage), or null. */
  get rememberedDomain() {
    return Session.remembered(this.#deps.localStorage)?.domain ?? null;
  }

  /** Remember `domain` for the next login form, or forget it (null). */
  rememberDomain(domain) {
    Session.remember(domain === null ? null : { domain }, this.#deps.localStorage);
  }

  /** The session this tab saved before a reload: started again when it still works. */
  async restore() {
    if (!this.#session || !(await this.#session.restore())) return false;
    await this.start();
    return true;
  }

  /** After login: the agent's profile and SIP settings, then the bridge's WebSocket. */
  async start({ waitForState = false } = {}) {
    const generation = ++this.#generation;
    const session = this.#session;
    const me = await session.me();
    if (generation !== this.#generation) throw phoneError("INIT_REPLACED", t("core.loginReplaced"));
    this.#me = me;
    this.#status.deviceType = Number(me.agent?.device_type) || 1;
    this.#status.mobile = me.agent?.mobile ?? null;
    this.emit("profile", me);
    const url = this.#config.websocketUrl || me.realtime?.ws_url;
    if (!url) throw phoneError("CONFIG_MISSING", t("sdk.wsUrlUnknown"));
    this.#tab = this.#deps.newTabId(this.#deps.tabStorage);
    const bridge = new this.#deps.BridgeImpl({
      url,
      getToken: () => session.token,
      tab: this.#tab,
      device: this.#status.deviceType,
    });
    this.#bridge = bridge;
    this.#wireBridge(bridge, generation);
    const synced = this.#await("state", { timeoutMs: FIRST_STATE_MS });
    bridge.connect();
    if (!waitForState) {
      synced.catch(() => {});
      return;
    }
    await synced;
    this.emit("ready", this.status);
  }

  /**
   * Stop: the call is dropped, the phone unregisters, the bridge closes. With `logout`, the device goes
   * back to the agent's default (seed reConfigDeviceType) and the session ends on the server.
   */
  async stop({ logout = false } = {}) {
    if (this.#me) this.emit("loggingOut");
    this.#generation += 1;
    this.#stopSip();
    this.#clearIncomingTransfer();
    this.#offeredTransfers.clear();
    this.#calls.clear();
    if (logout && this.#status.voice && this.#bridge) this.#bridge.resetDevice();
    this.#bridge?.close();
    this.#bridge = null;
    this.#synced = false;
    this.#resyncing = false;
    this.#status = idleStatus();
    this.#me = null;
    this.emit("sipStatus", this.status);
    if (logout && this.#session?.loggedIn) await this.#session.logout();
  }

  /** Leaving the page: un-REGISTER and close the socket; the session stays for a reload. */
  detach() {
    this.#stopSip();
    this.#bridge?.close();
  }

  /** Connect the bridge again after it gave up ("disconnected"). */
  reconnect() {
    if (this.#bridge?.state === "disconnected") this.#bridge.connect();
  }

  /** An authorized request to the HTTP API (the page's history). */
  api(path, options) {
    if (!this.#session) return Promise.reject(phoneError("SESSION_INVALID", t("core.notLoggedIn")));
    return this.#session.api(path, options);
  }

  // ------------------------------------------------------------------ the agent's settings
  /** Take voice in this tab (seed csEnableCall): the other tabs of the agent lose it. */
  async enableVoice() {
    this.#voiceClaim ??= this.#ask("enableVoice", {}, "voice", { match: (m) => m.enabled }).finally(() => {
      this.#voiceClaim = null;
    });
    await this.#voiceClaim;
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
    if (![1, 2, 3].includes(type)) throw phoneError("VALIDATION_ERROR", t("sdk.badDevice", { device: deviceType }));
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

  // ------------------------------------------------------------------ sounds
  /** Browsers play sounds only after a gesture: the faces call this on the agent's first click or key. */
  unlockTones() {
    this.#tones.unlock();
  }

  get tonesUnlocked() {
    return this.#tones.unlocked;
  }

  /** A key beep (the dial pad). */
  beep(key) {
    this.#tones.dtmf(key);
  }

  // ------------------------------------------------------------------ calls
  /**
   * Call `number`. From this tab's browser phone when it holds voice on device 1: resolves with the call
   * once the INVITE is on its way. Otherwise the bridge places it on the agent's device (click-to-call):
   * resolves with {phone, requestId, route}. What happens next comes as events (progress, answered,
   * ended, calloutError). Rejects with {code: errorCode, errorCode, sipCode, message} (the seeds'
   * call-out error table), after a "calloutError" event.
   * `route: "browser"` forces this tab's phone (the bridge's own call.dial must not bounce back).
   */
  async call(number, { callId = null, requestId = null, route = null } = {}) {
    const checked = checkDialable(number);
    const fail = (errorCode, message, sipCode = null) => {
      const error = phoneError(errorCode, message, { errorCode, sipCode, phone: String(number ?? "") });
      this.emit("calloutError", { errorCode, sipCode, message, phone: error.phone, call: null });
      throw error;
    };
    if (!checked.ok) fail(ERROR_CODES.CONNECT, checked.message);
    if (!this.#session?.loggedIn) fail(ERROR_CODES.NOT_CONNECT_AGENT, t("core.logInFirst"));
    if (this.#calls.busy) fail(ERROR_CODES.AGENT_BUSY, t("dial.busy"));
    if (route !== "browser" && !this.ringsHere) {
      if (this.#bridge?.state !== "open") fail(ERROR_CODES.NOT_CONNECT_AGENT, t("sdk.notConnected"));
      let accepted;
      try {
        accepted = await this.#ask("callout", { phone: checked.number }, "callout.accepted");
      } catch (error) {
        fail(error.code === "TIMEOUT" || error.code === "NOT_CONNECTED" ? ERROR_CODES.CONNECT : error.code, error.message);
      }
      const placed = { phone: checked.number, requestId: accepted.request_id, route: accepted.route };
      this.#calls.bridgedCallout(placed);
      return placed;
    }
    if (!this.#sip?.connected) fail(ERROR_CODES.NOT_CONNECT_AGENT, describeCalloutError(ERROR_CODES.NOT_CONNECT_AGENT));
    const call = this.#calls.dialing({ phone: checked.number, requestId });
    try {
      this.#calls.sipOutgoing(this.#sip.dial(checked.number, { callId }));
    } catch (error) {
      const failure = { errorCode: error.errorCode ?? ERROR_CODES.CONNECT, sipCode: error.sipCode ?? null, message: error.message };
      this.#calls.dialFailed(call, failure);
      throw phoneError(failure.errorCode, failure.message, { ...failure, phone: checked.number });
    }
    this.#calls.dialed(call);
    return this.#calls.current;
  }

  /** Answer the ringing call (seed onAcceptCall); resolves when it is up. */
  async answer() {
    const call = this.#calls.record;
    if (!call || call.direction !== "inbound" || call.state !== "ringing") throw phoneError("NO_CALL", t("sdk.noRinging"));
    const answered = this.#callEvent(call, "answered");
    if (!call.sip || !this.#sip?.answer()) {
      answered.cancel();
      throw phoneError("NOT_SUPPORTED", t("sdk.answerElsewhere", { device: DEVICE_NAMES[this.#status.deviceType] }));
    }
    this.#calls.answering();
    await answered.promise;
    return this.#calls.current ?? null;
  }

  /** Hang up, cancel a call-out, or decline a ringing call (seed endCall); resolves when it ended. */
  async hangup() {
    const call = this.#calls.record;
    if (!call) throw phoneError("NO_CALL", t("sdk.noCall"));
    // Listen first: JsSIP ends an established call synchronously inside terminate().
    const ended = this.#callEvent(call, "ended");
    if (!call.sip || !this.#sip?.hangup()) {
      ended.cancel();
      throw phoneError("NOT_SUPPORTED", t("sdk.hangupElsewhere", { device: DEVICE_NAMES[this.#status.deviceType] }));
    }
    return ended.promise;
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

  /** Blind transfer of this tab's call to a number (the page's Transfer): {ok} or {ok: false, message}. */
  blindTransfer(target) {
    const checked = checkDialable(target);
    if (!checked.ok) return { ok: false, message: checked.message };
    return { ok: Boolean(this.#sip?.transfer(checked.number)) };
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
      throw phoneError(code, message, { info });
    };
    if (!target) fail(TRANSFER_ERRORS.NOT_CHOOSE_TYPE_TRANSFER, t("sdk.chooseAgent"));
    const call = this.#callToTransfer(fail);
    let pending;
    try {
      pending = await this.#ask("transfer.agent", withoutEmpty({ ipphone: target, callid: call.callid, phone: call.phone }), "transfer.pending");
    } catch (error) {
      fail(transferCode(error), error.message);
    }
    info.transferId = pending.transfer_id;
    let response;
    try {
      response = await this.#await("transfer.response", { match: (m) => m.transfer_id === pending.transfer_id, timeoutMs: TRANSFER_WAIT_MS });
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
      throw phoneError(code, message, { queueId: queue });
    };
    if (!queue) fail(TRANSFER_ERRORS.NOT_CHOOSE_TYPE_TRANSFER, t("sdk.chooseQueue"));
    this.#callToTransfer(fail);
    let target;
    try {
      target = (await this.#ask("transfer.queue", { queue_id: queue }, "transfer.target", { match: (m) => m.queue_id === queue })).target;
      await this.#refer(target);
    } catch (error) {
      // Seed 002: a transfer to a queue is answered by csTransferCallResponse, OK or NOK.
      this.emit("transferResponse", "NOK", { queueId: queue, target: target ?? null, reason: "failed" });
      fail(transferCode(error), error.message);
    }
    this.emit("transferResponse", "OK", { queueId: queue, target, reason: "accepted" });
    return { status: "OK", target };
  }

  /** Accept (true) or reject (false) the transfer offered to this agent (seed responseTransferAgent). */
  async respondTransfer(accept) {
    const offered = this.#incomingTransfer;
    if (!offered) throw phoneError("NO_TRANSFER_REQUEST", t("sdk.noTransferRequest"));
    this.#clearIncomingTransfer();
    const closed = await this.#ask("transfer.respond", { transfer_id: offered.transferId, accept: Boolean(accept) }, "transfer.closed", {
      match: (m) => m.transfer_id === offered.transferId,
    });
    return closed.status;
  }

  #callToTransfer(fail) {
    const call = this.#calls.record;
    if (!call || call.state !== "in_call") fail(TRANSFER_ERRORS.NOT_IN_A_CALL, t("sdk.noCallToTransfer"));
    if (!call.sip || this.#sip?.call !== call.sip) {
      fail(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, t("sdk.transferElsewhere"));
    }
    return call;
  }

  /** SIP REFER of the current call to `target`; resolves when the other side accepted it (202). */
  #refer(target) {
    const sip = this.#sip;
    const call = this.#calls.record;
    if (!sip || !call?.sip) return Promise.reject(phoneError(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, t("sdk.callGone")));
    return firstOf(REQUEST_TIMEOUT_MS, () => phoneError(TRANSFER_ERRORS.TRANSFER_CALL_FAILED, t("sdk.transferNoAnswer")), (resolve, reject) => {
      const offs = [
        sip.on("transferRequested", (sipCall) => sipCall === call.sip && resolve()),
        sip.on("transferFailed", (sipCall, failure) => {
          if (sipCall === call.sip) reject(phoneError(TRANSFER_ERRORS.TRANSFER_CALL_FAILED, t("sdk.transferRefused", { reason: failure?.sipCode ?? t("sdk.noAnswer") })));
        }),
      ];
      if (!sip.transfer(target)) reject(phoneError(TRANSFER_ERRORS.COULD_NOT_GET_CALL_INFO, t("sdk.notEstablished")));
      return offs;
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
    this.#offeredTransfers.add(transferCall.transferId);
    if (this.#offeredTransfers.size > 50) this.#offeredTransfers.delete(this.#offeredTransfers.values().next().value);
    this.emit("transferRequest", transferCall);
  }

  #clearIncomingTransfer() {
    if (this.#incomingTransfer) clearTimeout(this.#incomingTransfer.timer);
    this.#incomingTransfer = null;
  }

  // ------------------------------------------------------------------ the call state machine
  #wireCalls() {
    const calls = this.#calls;
    for (const name of ["ringing", "callId", "contact", "callout", "progress", "answered", "ended", "calloutError", "mute", "unmute", "hold", "unhold", "change"]) {
      calls.on(name, (...args) => this.emit(name, ...args));
    }
    calls.on("tone", (tone) => {
      if (tone === "ring") this.#tones.startRing();
      else if (tone === "ringback") this.#tones.startRingback();
      else this.#tones.stop();
    });
    calls.on("report", ({ action, fields }) => {
      if (action === "callState") this.#bridge?.reportCallState(fields.callid, fields.state);
      else this.#bridge?.calloutResult(fields);
    });
  }

  /** The click-to-call of the CRM's server, sent by the bridge to this (voice) tab: {request_id, phone, call_id}. */
  #dialFromCrm(msg) {
    this.emit("clickToCall", { phone: msg.phone ?? "", requestId: msg.request_id ?? null });
    this.call(msg.phone, { callId: msg.call_id || null, requestId: msg.request_id || null, route: "browser" }).catch((error) => {
      this.#bridge?.calloutResult({ request_id: msg.request_id, status: "failed", error_code: error.errorCode, sip_code: error.sipCode ?? null });
      this.emit("clickToCallFailed", { phone: msg.phone ?? "", errorCode: error.errorCode, sipCode: error.sipCode ?? null, message: error.message });
    });
  }

  // ------------------------------------------------------------------ the bridge
  #wireBridge(bridge, generation) {
    const on = (type, handler) => bridge.on(type, (...args) => generation === this.#generation && handler(...args));
    const calls = this.#calls;
    on("open", (detail) => {
      this.#status.connected = true;
      this.#resyncing = this.#synced; // the first connection's state is the login's ("ready")
      // A connection replaced before API Gateway's 2-hour limit never went down: nothing to tell.
      this.#rotated = Boolean(detail?.rotated);
      if (!this.#rotated) this.emit("connected");
    });
    on("close", () => {
      this.#status.connected = false;
      this.emit("bridgeClosed");
    });
    on("reconnecting", (attempt, max) => {
      this.emit("reconnecting", attempt, max);
      // A browser never learns why a handshake failed: a session that ended while this tab was away
      // (logout elsewhere, revoked, expired during sleep) looks like a network loss, retried for
      // minutes. From the second failure, ask the HTTP API: a 401 ends the session here ("expired").
      if (attempt === 2 || attempt % 5 === 0) this.#session?.me().catch(() => {});
    });
    on("disconnected", () => this.emit("disconnected"));
    on("session.revoked", (msg) => {
      // The bridge ended this login (a logout elsewhere, an operator): no reconnect, no logout request.
      this.#session?.discard(msg.reason);
      this.stop({ logout: false }).finally(() => this.emit("revoked", msg.reason));
    });
    on("state", (msg) => {
      // The agent never gave voice away: a drop (sleep, network, API Gateway's 2-hour limit) left the
      // bridge counting this tab's dead socket as the holder, or it let go. Take it back, or calls stop
      // ringing here until the agent notices. A holder in another tab (the agent moved voice meanwhile)
      // keeps it. Until the bridge answers, this tab still holds voice: stopping the browser phone in
      // between would hang up the call in progress.
      const holder = msg.voice_tab ?? null;
      const reclaim = this.#resyncing && this.#status.voice && !msg.voice && (holder === null || holder === this.#tab);
      this.#setStatus({
        ready: Boolean(msg.ready),
        voice: reclaim || Boolean(msg.voice),
        voiceTab: reclaim ? this.#tab : holder,
        deviceType: Number(msg.device_type) || 1,
        mobile: msg.mobile ?? null,
      });
      const serverCall = msg.call ?? {};
      if (serverCall.state === "ringing" && !calls.busy && serverCall.phone) {
        calls.ring({ callid: serverCall.callid, phone: serverCall.phone, ringsHere: this.ringsHere });
      } else if (serverCall.state === "idle") {
        calls.bridgeState({ state: "idle" });
      }
      this.#updateSip();
      if (this.#resyncing) {
        // Connected again (a network loss, API Gateway's 2-hour limit): the seed vendors' script
        // logs in again and calls csInitComplete once more, where CRMs take voice back if the
        // reconnection lost it (the vendors' demo: `if (!csVoice.enableVoice) csEnableCall()`).
        this.#resyncing = false;
        if (reclaim) this.#reclaimVoice();
        if (!this.#rotated) this.emit("reconnected", this.status);
      }
    });
    on("voice", (msg) => {
      // "released" while this tab holds voice: the bridge forgot a dead socket of this tab (its
      // $disconnect came after the reconnection), not a choice of the agent. Take it back, phone running.
      if (msg.reason === "released" && !msg.enabled && this.#status.voice && this.#status.voiceTab === this.#tab) {
        this.#reclaimVoice();
        return;
      }
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
      calls.ring({ callid: msg.callid, phone: msg.phone, contact: msg.contact ?? null, ringsHere: this.ringsHere });
    });
    on("call.contact", (msg) => calls.contact(msg));
    on("call.outgoing", (msg) => calls.outgoing(msg));
    on("call.state", (msg) => calls.bridgeState(msg));
    on("call.ended", (msg) => calls.callLog(msg));
    on("call.dial", (msg) => this.#dialFromCrm(msg));
    on("transfer.request", (msg) => this.#onTransferRequest(msg));
    on("transfer.closed", (msg) => {
      if (this.#incomingTransfer?.transferId === msg.transfer_id) this.#clearIncomingTransfer();
      // `offered`: this tab showed the request (answered here or in another tab, timed out, cancelled).
      const offered = this.#offeredTransfers.delete(msg.transfer_id);
      this.emit("transferClosed", { transferId: msg.transfer_id, status: msg.status, offered });
    });
    on("error", (msg) => {
      // callout.result is new in issue 7: an older bridge answers UNKNOWN_ACTION, which is harmless.
      if (msg.action === "callout.result" || msg.code === "UNKNOWN_ACTION") return;
      this.emit("bridgeError", msg);
    });
  }

  /** Ask the bridge for the voice this tab held before a reconnection; refused, calls stop ringing here. */
  #reclaimVoice() {
    const generation = this.#generation;
    this.enableVoice().catch(() => {
      if (generation !== this.#generation || this.#bridge?.state !== "open") return; // the next state decides
      if (this.#status.voiceTab !== this.#tab) return; // another tab took it meanwhile: already applied
      this.#setStatus({ voice: false, voiceTab: null });
      this.#updateSip();
    });
  }

  #setStatus(change) {
    const before = { ...this.#status };
    Object.assign(this.#status, change);
    const first = !this.#synced && "ready" in change;
    if (first) this.#synced = true;
    const now = this.#status;
    let changed = first;
    if (first || before.voice !== now.voice || before.voiceTab !== now.voiceTab) {
      changed = true;
      this.emit("voice", now.voice, now.voiceTab);
    }
    if (first || before.ready !== now.ready) {
      changed = true;
      this.emit("status", now.ready);
    }
    if (first || before.deviceType !== now.deviceType || before.mobile !== now.mobile) {
      changed = true;
      this.emit("device", now.deviceType, now.mobile);
    }
    if (changed) this.emit("agentStatus", this.status);
  }

  #send(action, fields = {}, required = true) {
    const sent = Boolean(this.#bridge?.send(action, fields));
    if (!sent && required) throw phoneError("NOT_CONNECTED", t("sdk.notConnected"));
    return sent;
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
    const bridge = this.#bridge;
    if (!bridge) return Promise.reject(phoneError("NOT_CONNECTED", t("core.logInFirst")));
    return firstOf(timeoutMs, () => phoneError("TIMEOUT", t("core.bridgeNoAnswer", { type })), (resolve, reject) => [
      bridge.on(type, (msg) => match(msg) && resolve(msg)),
      ...(action ? [bridge.on("error", (msg) => msg.action === action && reject(phoneError(msg.code, msg.message)))] : []),
    ]);
  }

  // ------------------------------------------------------------------ SIP
  #updateSip() {
    const want = Boolean(this.#session?.loggedIn && this.ringsHere && this.#me?.webphone);
    if (want && !this.#sip) this.#startSip();
    else if (!want && this.#sip) this.#stopSip();
    this.emit("sipStatus", this.status);
  }

  #startSip() {
    const { SipPhoneImpl, JsSIP, remoteAudio, userAgent } = this.#deps;
    let sip;
    try {
      sip = new SipPhoneImpl({ JsSIP, config: this.#me.webphone, remoteAudio: remoteAudio(), userAgent });
    } catch (error) {
      this.emit("sipError", phoneError("SIP_SETTINGS_MISSING", error.message));
      return;
    }
    this.#sip = sip;
    const calls = this.#calls;
    const mine = (handler) => (...args) => this.#sip === sip && handler(...args);
    sip.on("status", mine(() => this.emit("sipStatus", this.status)));
    sip.on("registered", mine(() => this.emit("registered", { uri: sip.uri })));
    sip.on("unregistered", () => this.emit("unregistered", { uri: sip.uri }));
    sip.on("registrationFailed", mine((failure) => this.emit("registrationFailed", failure)));
    sip.on("incoming", mine((sipCall) => calls.sipIncoming(sipCall, { ringsHere: true })));
    sip.on("outgoing", mine((sipCall) => calls.sipOutgoing(sipCall)));
    sip.on("progress", (sipCall, { sipCode }) => calls.sipProgress(sipCall, sipCode));
    sip.on("accepted", (sipCall) => calls.sipAccepted(sipCall));
    sip.on("ended", (sipCall, info) => calls.sipFinished(sipCall, info));
    sip.on("failed", (sipCall, info) => calls.sipFinished(sipCall, info));
    for (const name of ["hold", "unhold", "muted", "unmuted"]) sip.on(name, (sipCall) => calls.sipFlag(sipCall, name));
    sip.start();
  }

  #stopSip() {
    const sip = this.#sip;
    this.#sip = null;
    sip?.stop();
  }

  // ------------------------------------------------------------------ helpers
  #newSession() {
    const { SessionImpl, sessionStorage, localStorage, fetchImpl } = this.#deps;
    const session = new SessionImpl({
      httpApiUrl: this.#config.httpApiUrl,
      storage: sessionStorage,
      localStorage,
      ...(fetchImpl ? { fetchImpl } : {}),
    });
    session.on("expired", (error) => {
      if (session !== this.#session) return;
      this.stop({ logout: false }).finally(() => this.emit("expired", error));
    });
    return session;
  }

  /**
   * {promise, cancel}: the promise resolves with the call when `call` emits `event` ("answered" or
   * "ended") and rejects if it ends first. Subscribe before acting: some outcomes are synchronous.
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
          resolve(c);
        }),
        this.on("ended", (c) => {
          if (c.id !== call.id) return;
          cancel();
          if (event === "ended") resolve(c);
          else reject(phoneError("CALL_ENDED", t("sdk.callEnded")));
        }),
      );
    });
    return { promise, cancel };
  }
}

/**
 * A promise settled by the first outcome `listen(resolve, reject)` reports, or rejected with
 * `timeoutError()` after `ms`; the listeners `listen` returns (unsubscribe functions) go away then.
 */
function firstOf(ms, timeoutError, listen) {
  return new Promise((resolve, reject) => {
    let settled = false;
    let offs = [];
    const done = (settle) => (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const off of offs) off();
      settle(value);
    };
    const timer = setTimeout(() => done(reject)(timeoutError()), ms);
    offs = listen(done(resolve), done(reject));
    if (settled) for (const off of offs) off(); // settled while subscribing
  });
}

function transferCode(error) {
  return error.code === "TIMEOUT" || error.code === "NOT_CONNECTED" ? TRANSFER_ERRORS.TRANSFER_CALL_FAILED : error.code;
}

function withoutEmpty(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined && value !== ""));
}
