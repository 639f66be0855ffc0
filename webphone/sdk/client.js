// FACE: the SDK's modern API (window.CTIBridge) over the phone core (../js/phone.js), for a CRM page that
// loads ctibridge.js. It only translates: where config.json is, an in-memory session (the SDK never
// stores the token), where the remote audio plays, promises and the SDK's error names. Calls, the
// bridge, the SIP phone and transfers are the core's; so is the call-out rule (this tab's browser phone
// when it holds voice on device 1, else the bridge's click-to-call on the agent's device).
//
//   const phone = await CTIBridge.init({token, domain});
//   phone.on("ringing", (call) => showCustomer(call.phone));
//   await phone.call("0987654321");
//
// Events: ready, error (SESSION_REVOKED, SESSION_EXPIRED, SIP_...), connected, reconnecting (n, N),
// reconnected (status: the bridge's first state after a reconnection), disconnected, sessionEnded
// (error: revoked or expired, after its "error"; nothing reconnects), registered,
// unregistered, voice (enabled), status (ready), device (type, mobile), ringing, callId, contact,
// callout, progress, answered, ended (call), calloutError ({errorCode, sipCode, message, phone}),
// mute/unmute/hold/unhold (call), agents (list), transferRequest (transferCall), transferClosed
// ({transferId, status, offered}), transferResponse (status, info: agent and queue transfers),
// transferSuccess (info), transferError (code, info).

import JsSIP from "jssip/lib/JsSIP.js";
import { Emitter } from "../js/emitter.js";
import { t } from "../js/i18n.js";
import { PhoneCore, phoneError, TRANSFER_ERRORS } from "../js/phone.js";

export { TRANSFER_ERRORS };
export const sdkError = phoneError;

// The core's events a CRM may listen to, under the same names.
const FORWARDED = [
  "connected", "reconnecting", "reconnected", "disconnected", "registered", "unregistered", "voice", "status", "device",
  "ringing", "callId", "contact", "callout", "progress", "answered", "ended", "calloutError",
  "mute", "unmute", "hold", "unhold", "agents", "transferRequest", "transferClosed", "transferResponse",
  "transferSuccess", "transferError",
];

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
  #core;
  #audio = null;

  /** @param {{configUrl?: string|null, phone?: PhoneCore}} options  where config.json is (see index.js) */
  constructor({ configUrl = null, phone = null } = {}) {
    super();
    this.#configUrl = configUrl;
    this.#core =
      phone ??
      new PhoneCore({
        JsSIP,
        userAgent: "CTI Bridge SDK",
        remoteAudio: () => this.#audioElement(),
        sessionStorage: memoryStorage(),
        localStorage: null,
        tabStorage: prefixedStorage(globalThis.sessionStorage, "sdk."),
      });
    const core = this.#core;
    for (const name of FORWARDED) core.on(name, (...args) => this.emit(name, ...args));
    // The session is over (the bridge revoked it, or it could not be refreshed): nothing reconnects.
    const ended = (error) => {
      this.emit("error", error);
      this.emit("sessionEnded", error);
    };
    core.on("revoked", (reason) => ended(phoneError("SESSION_REVOKED", t("sdk.sessionRevoked"), { reason })));
    core.on("expired", (error) => ended(phoneError(error.code || "SESSION_EXPIRED", error.message)));
    core.on("sipError", (error) => this.emit("error", error));
    core.on("registrationFailed", ({ cause, sipCode }) => {
      this.emit("error", phoneError("SIP_REGISTRATION_FAILED", t("sdk.registerFailed", { detail: sipCode ?? cause })));
    });
    if (typeof document !== "undefined") {
      // Browsers play sounds only after a gesture: the agent's first click or key unlocks the ring tone.
      const unlock = () => core.unlockTones();
      document.addEventListener("pointerdown", unlock, { capture: true });
      document.addEventListener("keydown", unlock, { capture: true });
    }
  }

  // ------------------------------------------------------------------ state
  get agent() {
    return this.#core.agent;
  }

  get status() {
    const { sip, ...status } = this.#core.status;
    return status;
  }

  get currentCall() {
    return this.#core.currentCall;
  }

  // ------------------------------------------------------------------ login
  /**
   * Log the agent in with the token the CRM minted (seed 001/002 JWT) and connect. Resolves with this
   * client once the bridge has sent its first state; rejects with {code, status, message}.
   * `httpApiUrl`/`websocketUrl` override config.json (for a page that loaded the script another way).
   */
  async init({ token, domain, httpApiUrl = null, websocketUrl = null } = {}) {
    if (!token || !domain) throw phoneError("VALIDATION_ERROR", t("sdk.initNeedsLogin"));
    await this.#core.stop({ logout: true });
    const config = httpApiUrl ? { httpApiUrl, websocketUrl } : await loadConfig(this.#configUrl);
    this.#core.configure(config);
    await this.#core.login(domain, token, { waitForState: true });
    this.emit("ready", this.status);
    return this;
  }

  /** Log out: the phone unregisters, the device goes back to the agent's default, the session ends. */
  logout() {
    return this.#core.stop({ logout: true });
  }

  // ------------------------------------------------------------------ commands (the core's, as promises)
  enableVoice() { return this.#core.enableVoice(); }
  setReady(ready) { return this.#core.setReady(ready); }
  setDevice(deviceType, mobile = null) { return this.#core.setDevice(deviceType, mobile); }
  resetDevice() { return this.#core.resetDevice(); }
  unregister() { this.#core.unregister(); }
  call(number, { callId = null } = {}) { return this.#core.call(number, { callId }); }
  answer() { return this.#core.answer(); }
  hangup() { return this.#core.hangup(); }
  toggleHold() { return this.#core.toggleHold(); }
  toggleMute() { return this.#core.toggleMute(); }
  sendDTMF(tones) { return this.#core.sendDTMF(tones); }
  listAgents() { return this.#core.listAgents(); }
  transferToAgent(ipphone) { return this.#core.transferToAgent(ipphone); }
  transferToQueue(queueId) { return this.#core.transferToQueue(queueId); }
  respondTransfer(accept) { return this.#core.respondTransfer(accept); }

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
}

/** config.json next to the script ({httpApiUrl, websocketUrl}): where this bridge's APIs are. */
async function loadConfig(url) {
  if (!url) throw phoneError("CONFIG_MISSING", t("sdk.whereIsBridge"));
  let response;
  try {
    response = await fetch(url, { cache: "no-store", credentials: "omit" });
  } catch {
    throw phoneError("NETWORK_ERROR", t("sdk.configUnreachable", { url }));
  }
  if (!response.ok) throw phoneError("CONFIG_MISSING", t("sdk.configHttp", { status: response.status }));
  const config = await response.json();
  if (!config?.httpApiUrl) throw phoneError("CONFIG_MISSING", t("sdk.configMissing"));
  return config;
}
