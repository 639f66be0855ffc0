// The webphone page: wires the session, the bridge's WebSocket, the SIP phone, the tones and the UI.
//
// Flow: config.json (where the APIs are) → login (URL fragment #token=…&domain=…, a postMessage from
// the embedding CRM, this tab's saved session, or the test form) → GET /v1/agent/me (agent + SIP
// settings) → the bridge's WebSocket (popups, voice, status, device, click-to-call) → SIP registration
// when this tab holds voice and the agent's calls ring in the browser (device 1).
//
// `webphone.events` reports what the page does, for the iframe layer (embed.js, issue 9): "registered",
// "unregistered", "ringing", "answered", "ended", "callout" and "calloutError", each with the call;
// "profile" (agent, SIP URI, allowed embedding origins), "bridge" (the WebSocket client) and "logout".

import JsSIP from "../vendor/jssip.js";
import { Bridge, tabId } from "./bridge.js";
import { describeCalloutError, ERROR_CODES } from "./callout-errors.js";
import { Emitter } from "./emitter.js";
import { EndedCalls } from "./ended-calls.js";
import { checkDialable, numberKey } from "./phone-numbers.js";
import { Session } from "./session.js";
import { SipPhone } from "./sip.js";
import { Tones } from "./tones.js";
import { createUI } from "./ui.js";
import { startEmbed } from "./embed.js";

const ENDED_CARD_MS = 5000;
const DEVICE_NAMES = { 1: "this browser", 2: "your IP phone", 3: "your mobile" };
// Why the bridge ended the session (`session.revoked`): the signed-out screen says so.
const REVOKED_WORDS = {
  logout: "You were signed out: this login was logged out (in another tab or window). Log in again from your CRM.",
  revoked: "You were signed out by an administrator. Log in again from your CRM.",
  agent_removed: "You were signed out: this extension is no longer set up in the call center.",
  tenant_inactive: "You were signed out: this call center's service is not active.",
};

export const events = new Emitter();
const state = {
  config: null,
  session: null,
  bridge: null,
  sip: null,
  agent: null,
  sipConfig: null, // in memory only: it carries the SIP password
  voice: false,
  voiceTab: null,
  ready: false,
  device: 1,
  mobile: null,
  call: null,
};
/** For the SDK/iframe layer and debugging: the live modules (read-only view). */
export const webphone = {
  events,
  get session() { return state.session; },
  get bridge() { return state.bridge; },
  get sip() { return state.sip; },
  get call() { return state.call ? publicCall(state.call) : null; },
  // For iframe mode (embed.js): what the CRM may ask for.
  login: (domain, token) => loginWith(domain, token),
  logout: (message) => teardown(message, { logout: true }),
  dial: (number) => placeCall(number),
};

const ui = createUI(document);
const tones = new Tones();
const endedCalls = new EndedCalls();
let titleFlash = null;
let notification = null;
let gestureSeen = false;

main().catch((error) => {
  ui.showView("login");
  ui.loginError(`The webphone could not start: ${error.message}`);
});

async function main() {
  wireUI();
  wirePage();
  // Embedded in a CRM: listen to it from the start, so a login it posts early is not lost.
  const embed = window.parent !== window ? startEmbed(webphone) : null;
  try {
    const response = await fetch("config.json", { cache: "no-store", credentials: "omit" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.config = await response.json();
  } catch {
    ui.showView("login");
    ui.loginError("This webphone is not set up: its config.json (the bridge's addresses) is missing.");
    return;
  }
  state.session = new Session({ httpApiUrl: state.config.httpApiUrl });
  state.session.on("expired", () => teardown("Your session has expired: log in again from your CRM."));
  const remembered = Session.remembered();
  ui.prefillLogin({ domain: remembered?.domain ?? "", remember: Boolean(remembered) });

  const fragment = takeFragmentLogin();
  if (fragment) {
    await loginWith(fragment.domain, fragment.token);
  } else if (await state.session.restore()) {
    await start();
  } else {
    ui.showView("login");
  }
  embed?.ready();
}

/** #token=…&domain=… from the address, removed from it at once (and from the history). */
function takeFragmentLogin() {
  if (!location.hash || location.hash.length < 2) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  const domain = params.get("domain");
  if (!token) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return { token, domain: domain || Session.remembered()?.domain || "" };
}

async function loginWith(domain, token, remember = null) {
  ui.loginBusy(true);
  ui.loginError("");
  try {
    if (state.session.loggedIn) await teardown(null, { logout: true, quiet: true });
    await state.session.login(domain, token);
    if (remember !== null) Session.remember(remember ? { domain } : null);
    ui.clearLoginToken();
    await start();
  } catch (error) {
    ui.showView("login");
    ui.loginError(loginMessage(error));
  } finally {
    ui.loginBusy(false);
  }
}

function loginMessage(error) {
  const byCode = {
    TOKEN_EXPIRED: "This login token has expired: open the phone again from your CRM.",
    TOKEN_INVALID: "This login token is not valid for this domain.",
    DOMAIN_NOT_FOUND: "No call center uses this domain.",
    DOMAIN_EXPIRED: "This call center's service has expired.",
    IPPHONE_NOT_FOUND: "This extension is not set up in the call center.",
    TOO_MANY_ATTEMPTS: "Too many failed logins: wait a few minutes.",
    NETWORK_ERROR: "The bridge can't be reached: check the network.",
  };
  return byCode[error.code] ?? error.message ?? "The login failed.";
}

/** After login (or a restored session): profile, SIP settings, the bridge's WebSocket. */
async function start() {
  let me;
  try {
    me = await state.session.me();
  } catch (error) {
    ui.showView("login");
    ui.loginError(loginMessage(error));
    return;
  }
  state.agent = me.agent;
  state.sipConfig = me.webphone ?? null;
  events.emit("profile", {
    agent: me.agent,
    sipUri: me.webphone?.sip_uri ?? null,
    sipDomain: (me.webphone?.sip_uri ?? "").replace(/^sips?:/, "").split("@").pop() || null,
    allowedOrigins: me.embed?.allowed_origins ?? [],
  });
  state.device = Number(me.agent?.device_type) || 1;
  state.mobile = me.agent?.mobile ?? null;
  ui.setAgent(state.agent, state.sipConfig?.sip_uri);
  ui.setDevice(state.device, state.mobile);
  ui.showView("phone");
  ui.setVoice({ voice: false, holderTab: null, deviceType: state.device });
  renderSipStatus();
  if (!tones.unlocked) ui.notice("Click anywhere on the phone to turn on the ring tone.");
  const url = state.config.websocketUrl || me.realtime?.ws_url;
  const bridge = new Bridge({ url, getToken: () => state.session.token, tab: tabId(), device: state.device });
  state.bridge = bridge;
  wireBridge(bridge);
  events.emit("bridge", bridge);
  bridge.connect();
  loadHistory();
}

async function teardown(message, { logout = false, quiet = false } = {}) {
  if (state.agent) events.emit("logout");
  clearCall();
  stopSip();
  if (logout && state.voice) state.bridge?.resetDevice(); // seeds: reConfigDeviceType() on logout
  state.bridge?.close();
  state.bridge = null;
  state.sipConfig = null;
  state.agent = null;
  state.voice = false;
  if (logout) await state.session.logout();
  if (quiet) return;
  ui.setAgent(null);
  ui.setBridgeStatus("off", "Bridge off");
  ui.notice("");
  ui.showView("login");
  ui.loginError(message || "");
}

// ------------------------------------------------------------------ the bridge
function wireBridge(bridge) {
  bridge.on("open", () => {
    ui.setBridgeStatus("on", "Bridge on");
    ui.notice(tones.unlocked ? "" : "Click anywhere on the phone to turn on the ring tone.");
  });
  bridge.on("reconnecting", (attempt, max) => {
    ui.setBridgeStatus("wait", "Reconnecting");
    ui.notice(`Reconnecting to the bridge (${attempt}/${max})…`);
  });
  bridge.on("session.revoked", (msg) => {
    // The bridge ended this login (here or in another tab, or an operator): no reconnect, no logout
    // request; the agent logs in again from the CRM.
    state.session.discard(msg.reason);
    teardown(REVOKED_WORDS[msg.reason] ?? REVOKED_WORDS.revoked);
  });
  bridge.on("disconnected", () => {
    ui.setBridgeStatus("error", "Bridge off");
    ui.notice("Disconnected from the bridge: popups and click-to-call are off. Click here to retry.", "error");
  });
  bridge.on("state", (msg) => {
    state.voice = Boolean(msg.voice);
    state.voiceTab = msg.voice_tab ?? null;
    state.ready = Boolean(msg.ready);
    state.device = Number(msg.device_type) || 1;
    state.mobile = msg.mobile ?? null;
    ui.setReady(state.ready);
    ui.setDevice(state.device, state.mobile);
    renderVoice();
    const serverCall = msg.call ?? {};
    if (serverCall.state === "ringing" && !state.call && serverCall.phone) {
      ring({ callid: serverCall.callid, phone: serverCall.phone, direction: serverCall.direction || "inbound" });
    } else if (serverCall.state === "idle" && state.call && !state.call.sip && state.call.state !== "ended") {
      clearCall();
    }
    updateSip();
  });
  bridge.on("voice", (msg) => {
    state.voice = Boolean(msg.enabled);
    state.voiceTab = msg.holder_tab ?? null;
    renderVoice();
    updateSip();
  });
  bridge.on("status", (msg) => {
    state.ready = Boolean(msg.ready);
    ui.setReady(state.ready);
  });
  bridge.on("device", (msg) => {
    state.device = Number(msg.device_type) || 1;
    state.mobile = msg.mobile ?? null;
    ui.setDevice(state.device, state.mobile);
    ui.deviceError("");
    renderVoice();
    updateSip();
  });
  bridge.on("call.ringing", (msg) => {
    if (msg.direction && msg.direction !== "inbound" && msg.direction !== "in") return;
    ring({ callid: msg.callid, phone: msg.phone, contact: msg.contact, direction: "inbound" });
  });
  bridge.on("call.contact", (msg) => {
    if (matches(state.call, msg)) {
      state.call.contact = msg.contact;
      renderCall();
    }
  });
  bridge.on("call.outgoing", (msg) => {
    const call = state.call;
    if (call && call.state !== "ended" && call.direction === "outbound" && matches(call, msg)) {
      call.callid = call.callid ?? msg.callid;
      call.contact = msg.contact ?? call.contact;
      renderCall();
    } else if (!call || call.state === "ended") {
      // Dialed from the IP phone or mobile: show it, the agent's phone does the talking.
      setCall(newCall({ direction: "outbound", phone: msg.phone, callid: msg.callid, contact: msg.contact, state: "dialing", statusText: `Calling from ${DEVICE_NAMES[state.device]}…` }));
    }
  });
  bridge.on("call.state", (msg) => {
    const call = state.call;
    if (!call) return;
    if (msg.state === "in_call" && (matches(call, msg) || !msg.callid) && call.state !== "in_call" && call.state !== "ended") {
      call.state = "in_call";
      call.answeredAt = Date.now();
      call.statusText = call.sip ? "Connected" : `Answered on ${DEVICE_NAMES[state.device]}`;
      stopAlerting();
      renderCall();
    } else if (msg.state === "idle" && !call.sip && call.state !== "ended") {
      endCall("Call ended");
    }
  });
  bridge.on("call.ended", (msg) => {
    const call = state.call;
    const words = endWords(msg);
    if (call && matches(call, msg)) {
      if (call.state === "ended") {
        call.statusText = words;
        renderCall();
      } else if (!call.sip) {
        endCall(words);
      } else {
        call.endWords = words;
      }
    }
    setTimeout(loadHistory, 1500);
  });
  bridge.on("call.dial", (msg) => dialFromCrm(msg));
  bridge.on("error", (msg) => {
    // callout.result is new in issue 7: an older bridge answers UNKNOWN_ACTION, which is harmless.
    if (msg.action === "callout.result" || msg.code === "UNKNOWN_ACTION") return;
    if (msg.action === "device") ui.deviceError(msg.message);
    else ui.notice(msg.message, "error");
  });
}

function renderVoice() {
  ui.setVoice({ voice: state.voice, holderTab: state.voiceTab, deviceType: state.device });
  ui.canCall(state.device === 1);
}

// ------------------------------------------------------------------ SIP
function updateSip() {
  const want = Boolean(state.session?.loggedIn && state.voice && state.device === 1 && state.sipConfig);
  if (want && !state.sip) startSip();
  else if (!want && state.sip) stopSip();
  renderSipStatus();
}

function startSip() {
  let sip;
  try {
    sip = new SipPhone({ JsSIP, config: state.sipConfig, remoteAudio: document.getElementById("remote-audio") });
  } catch (error) {
    ui.setSipStatus("error", "No SIP settings");
    return;
  }
  state.sip = sip;
  sip.on("status", () => renderSipStatus());
  sip.on("registered", () => events.emit("registered", { uri: sip.uri }));
  sip.on("unregistered", () => events.emit("unregistered", { uri: sip.uri }));
  sip.on("registrationFailed", ({ cause, sipCode }) => {
    ui.setSipStatus("error", "Phone off");
    ui.notice(`The browser phone could not register (${sipCode ?? ""} ${cause}). Check with your admin.`.replace("( ", "("), "error");
  });
  sip.on("incoming", (sipCall) => {
    const call = state.call;
    if (call && call.state !== "ended" && !call.sip && call.direction === "inbound" && call.state === "ringing") {
      call.sip = sipCall;
      if (!call.phone) call.phone = sipCall.phone;
      if (!call.contact && sipCall.displayName) call.contact = { name: sipCall.displayName };
      renderCall();
      startAlerting(call);
    } else {
      ring({ phone: sipCall.phone, direction: "inbound", sip: sipCall, contact: sipCall.displayName ? { name: sipCall.displayName } : null });
    }
  });
  sip.on("outgoing", (sipCall) => {
    const call = state.call;
    if (call && call.direction === "outbound" && !call.sip) call.sip = sipCall;
  });
  sip.on("progress", (sipCall, { sipCode }) => {
    const call = callOf(sipCall);
    if (!call || call.direction !== "outbound" || call.state === "in_call") return;
    call.state = "progress";
    call.statusText = "Ringing…";
    if (sipCode === 180) tones.startRingback();
    if (call.requestId && !call.reported.ringing) {
      call.reported.ringing = true;
      state.bridge?.calloutResult({ request_id: call.requestId, status: "ringing", error_code: null, sip_code: sipCode });
    }
    events.emit("ringing", publicCall(call));
    renderCall();
  });
  sip.on("accepted", (sipCall) => {
    const call = callOf(sipCall);
    if (!call) return;
    call.state = "in_call";
    call.answeredAt = Date.now();
    call.statusText = "Connected";
    stopAlerting();
    if (call.callid) state.bridge?.reportCallState(call.callid, "in_call");
    if (call.requestId && !call.reported.answered) {
      call.reported.answered = true;
      state.bridge?.calloutResult({ request_id: call.requestId, status: "answered", error_code: null, sip_code: 200 });
    }
    events.emit("answered", publicCall(call));
    renderCall();
  });
  const finished = (sipCall, info) => {
    const call = callOf(sipCall);
    if (!call) return;
    const wasAnswered = call.state === "in_call";
    let words = call.endWords || (wasAnswered ? "Call ended" : call.direction === "inbound" ? "Missed call" : "Call not answered");
    let error = null;
    if (info.error) {
      error = info.error.message;
      words = "Call failed";
      events.emit("calloutError", { ...publicCall(call), errorCode: info.error.errorCode, sipCode: info.error.sipCode });
      if (call.requestId) {
        state.bridge?.calloutResult({ request_id: call.requestId, status: "failed", error_code: info.error.errorCode, sip_code: info.error.sipCode });
      }
    } else if (call.requestId && !wasAnswered) {
      state.bridge?.calloutResult({ request_id: call.requestId, status: "failed", error_code: ERROR_CODES.NOT_CONNECT_CUSTOMER, sip_code: info.sipCode ?? 487 });
    }
    if (wasAnswered && call.callid) state.bridge?.reportCallState(call.callid, "idle");
    call.sip = null;
    endCall(words, error);
  };
  sip.on("ended", finished);
  sip.on("failed", finished);
  for (const name of ["hold", "unhold", "muted", "unmuted"]) {
    sip.on(name, (sipCall) => {
      const call = callOf(sipCall);
      if (!call) return;
      call.statusText = name === "hold" ? "On hold" : call.statusText === "On hold" && name === "unhold" ? "Connected" : call.statusText;
      renderCall();
    });
  }
  sip.start();
}

function stopSip() {
  const sip = state.sip;
  state.sip = null;
  sip?.stop();
}

function renderSipStatus() {
  const sip = state.sip;
  if (state.device !== 1) ui.setSipStatus("off", state.device === 2 ? "IP phone" : "Mobile");
  else if (!sip) ui.setSipStatus("off", "Phone off");
  else if (sip.registered) ui.setSipStatus("on", "Phone ready");
  else if (sip.connected) ui.setSipStatus("wait", "Registering");
  else ui.setSipStatus("wait", "Connecting");
}

function callOf(sipCall) {
  return state.call && state.call.sip === sipCall ? state.call : null;
}

// ------------------------------------------------------------------ calls
function newCall(fields) {
  return {
    callid: null, phone: "", direction: "inbound", contact: null, state: "ringing", sip: null,
    requestId: null, answeredAt: null, statusText: "", error: null, endWords: null, endTimer: null,
    reported: {},
    ...fields,
  };
}

function matches(call, msg) {
  if (!call || !msg) return false;
  if (call.callid && msg.callid) return call.callid === msg.callid;
  return Boolean(msg.phone) && numberKey(call.phone) === numberKey(msg.phone);
}

/** An inbound call rings (from the bridge's popup, the SIP INVITE, or both: they are merged). */
function ring({ callid = null, phone, contact = null, direction = "inbound", sip = null }) {
  if (!sip && endedCalls.has(callid)) return; // a re-sent or late ring of a call that ended here
  const call = state.call;
  if (call && call.state !== "ended") {
    if (matches(call, { callid, phone }) || (call.sip && !call.callid && call.state === "ringing")) {
      call.callid = call.callid ?? callid;
      call.contact = contact ?? call.contact;
      renderCall();
    }
    return; // one call at a time
  }
  const ringsHere = Boolean(sip) || (state.voice && state.device === 1);
  const fresh = newCall({
    callid, phone, contact, direction, sip, state: "ringing",
    statusText: ringsHere ? "Ringing…" : `Ringing on ${DEVICE_NAMES[state.device]}…`,
  });
  setCall(fresh);
  startAlerting(fresh);
  events.emit("ringing", publicCall(fresh));
  ui.focusAnswer();
}

function setCall(call) {
  if (state.call?.endTimer) clearTimeout(state.call.endTimer);
  state.call = call;
  renderCall();
}

function clearCall() {
  if (state.call?.endTimer) clearTimeout(state.call.endTimer);
  state.call = null;
  stopAlerting();
  renderCall();
}

function endCall(words, error = null) {
  const call = state.call;
  if (!call) return;
  endedCalls.add(call.callid);
  call.state = "ended";
  call.statusText = words;
  call.error = error;
  stopAlerting();
  events.emit("ended", publicCall(call));
  renderCall();
  clearTimeout(call.endTimer);
  call.endTimer = setTimeout(() => {
    if (state.call === call) clearCall();
  }, ENDED_CARD_MS);
}

function renderCall() {
  const call = state.call;
  if (!call) {
    ui.renderCall(null);
    return;
  }
  const sip = state.sip;
  ui.renderCall({
    state: call.state,
    direction: call.direction,
    phone: call.phone,
    contact: call.contact,
    canAnswer: Boolean(call.sip && sip?.call === call.sip),
    canControl: Boolean(call.sip),
    muted: Boolean(call.sip && sip?.muted),
    onHold: Boolean(call.sip && sip?.onHold),
    answeredAt: call.answeredAt,
    statusText: call.statusText,
    error: call.error,
  });
}

function endWords(msg) {
  const parts = ["Call ended"];
  const status = (msg.status || "").toUpperCase();
  if (status === "ANSWERED") parts.push("answered");
  else if (status) parts.push(status.toLowerCase());
  if (msg.billsec) parts.push(formatSeconds(msg.billsec));
  return parts.join(" · ");
}

function formatSeconds(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function publicCall(call) {
  // The SIP leg is dropped from the call when it ends: remember what the CRM's events need of it.
  if (call.sip) call.sipInfo = { callId: call.sip.callId ?? null, queueId: call.sip.queueId ?? null };
  return {
    callid: call.callid,
    sipCallId: call.sipInfo?.callId ?? null,
    queueId: call.sipInfo?.queueId ?? null,
    phone: call.phone,
    direction: call.direction,
    state: call.state,
    contact: call.contact,
    requestId: call.requestId,
  };
}

/** Place a call from the dial pad or a CRM's click-to-call; answers null or {errorCode, message}. */
function placeCall(text, { callId = null, requestId = null } = {}) {
  ui.dialError("");
  const checked = checkDialable(text);
  if (!checked.ok) return fail(ERROR_CODES.CONNECT, checked.message);
  if (state.device !== 1) {
    return fail(ERROR_CODES.NOT_CONNECT_AGENT, `Your calls ring on ${DEVICE_NAMES[state.device]}: choose "This browser" in Settings to call from here.`);
  }
  if (!state.voice) return fail(ERROR_CODES.NOT_CONNECT_AGENT, "The phone is on in another tab: use it there, or click \"Use the phone in this tab\".");
  if (state.call && state.call.state !== "ended") return fail(ERROR_CODES.AGENT_BUSY, "You are already on a call.");
  if (!state.sip?.connected) return fail(ERROR_CODES.NOT_CONNECT_AGENT, describeCalloutError(ERROR_CODES.NOT_CONNECT_AGENT));
  const call = newCall({ direction: "outbound", phone: checked.number, state: "dialing", statusText: "Calling…", requestId });
  setCall(call);
  try {
    call.sip = state.sip.dial(checked.number, { callId });
  } catch (error) {
    endCall("Call failed", error.message);
    return { errorCode: error.errorCode ?? ERROR_CODES.CONNECT, sipCode: error.sipCode ?? null, message: error.message };
  }
  events.emit("callout", publicCall(call));
  renderCall();
  return null;

  function fail(errorCode, message) {
    ui.dialError(message);
    return { errorCode, sipCode: null, message };
  }
}

/** The CRM's click-to-call, relayed by the bridge to this (voice) tab: {request_id, phone, call_id}. */
function dialFromCrm(msg) {
  ui.setDialValue(msg.phone ?? "");
  const failure = placeCall(msg.phone, { callId: msg.call_id || null, requestId: msg.request_id || null });
  if (failure) {
    ui.notice(`Click-to-call ${msg.phone}: ${failure.message}`, "error");
    state.bridge?.calloutResult({ request_id: msg.request_id, status: "failed", error_code: failure.errorCode, sip_code: failure.sipCode });
  }
}

// ------------------------------------------------------------------ alerting: tones, notification, title
function startAlerting(call) {
  if (call.sip || (state.voice && state.device === 1)) tones.startRing();
  if (document.visibilityState === "hidden") {
    const who = call.contact?.name ? `${call.phone} — ${call.contact.name}` : call.phone;
    if ("Notification" in window && Notification.permission === "granted") {
      notification?.close();
      notification = new Notification("Incoming call", { body: who, tag: "ctibridge-call", requireInteraction: true });
      notification.onclick = () => {
        window.focus();
        notification?.close();
      };
    }
    flashTitle(`📞 ${call.phone}`);
  }
}

function stopAlerting() {
  tones.stop();
  notification?.close();
  notification = null;
  if (titleFlash) {
    clearInterval(titleFlash.timer);
    document.title = titleFlash.original;
    titleFlash = null;
  }
}

function flashTitle(text) {
  if (titleFlash) return;
  const original = document.title;
  let on = false;
  titleFlash = {
    original,
    timer: setInterval(() => {
      on = !on;
      document.title = on ? text : original;
    }, 900),
  };
}

// ------------------------------------------------------------------ history
async function loadHistory() {
  if (!state.session?.loggedIn) return;
  ui.historyBusy(true);
  try {
    const body = await state.session.api("/v1/agent/calls?limit=25");
    ui.historyError("");
    ui.renderHistory(body.items ?? []);
  } catch (error) {
    if (error.status !== 401) ui.historyError(`The call history could not be loaded (${error.message}).`);
  } finally {
    ui.historyBusy(false);
  }
}

async function playRecording(callid) {
  try {
    const call = await state.session.api(`/v1/agent/calls/${encodeURIComponent(callid)}`);
    if (call.recording?.url) ui.playRecording(call.recording.url);
    else ui.historyError("This recording is not available yet.");
  } catch (error) {
    ui.historyError(`The recording could not be loaded (${error.message}).`);
  }
}

// ------------------------------------------------------------------ the agent's intents
function wireUI() {
  ui.on("login", ({ domain, token, remember }) => loginWith(domain, token, remember));
  ui.on("logout", () => teardown("You are logged out.", { logout: true }));
  ui.on("ready", (ready) => state.bridge?.setReady(ready));
  ui.on("enableVoice", () => state.bridge?.enableVoice());
  ui.on("device", ({ deviceType, mobile }) => {
    if (deviceType === 3 && !/^\+?[0-9]{8,15}$/.test(mobile)) {
      ui.deviceError("Type the mobile number the calls should go to.");
      return;
    }
    ui.deviceError("");
    state.bridge?.setDevice(deviceType, mobile);
  });
  ui.on("answer", () => answer());
  ui.on("hangup", () => hangup());
  ui.on("escape", () => hangup());
  ui.on("mute", () => {
    state.sip?.toggleMute();
  });
  ui.on("hold", () => {
    state.sip?.toggleHold();
  });
  ui.on("transfer", (target) => {
    const checked = checkDialable(target);
    if (!checked.ok) ui.dialError(checked.message);
    else state.sip?.transfer(checked.number);
  });
  ui.on("dial", (text) => placeCall(text));
  ui.on("callBack", (phone) => {
    ui.selectTab("dialpad");
    ui.setDialValue(phone);
  });
  ui.on("enter", () => {
    if (state.call?.state === "ringing" && state.call.sip) answer();
    else placeCall(ui.dialValue());
  });
  ui.on("key", (key) => {
    if (state.call?.state === "in_call" && state.call.sip) {
      state.sip?.sendDTMF(key);
      ui.appendDigit(key);
    } else {
      ui.appendDigit(key);
    }
    tones.dtmf(key);
  });
  ui.on("dtmf", (key) => {
    state.sip?.sendDTMF(key);
    tones.dtmf(key);
  });
  ui.on("historyRefresh", () => loadHistory());
  ui.on("tab", (name) => {
    if (name === "history") loadHistory();
  });
  ui.on("play", (callid) => playRecording(callid));
}

function answer() {
  if (state.sip?.answer()) {
    tones.stop();
    state.call.statusText = "Connecting…";
    renderCall();
  }
}

function hangup() {
  const call = state.call;
  if (!call || call.state === "ended") return;
  if (call.sip) state.sip?.hangup();
}

function wirePage() {
  // The first gesture turns sounds on (autoplay policy) and asks for notifications. The hint goes away
  // on "click", after the gesture: removing it on pointerdown would move the page under the pointer.
  const gesture = (event) => {
    tones.unlock();
    if (!gestureSeen && state.session?.loggedIn) {
      gestureSeen = true;
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    }
    if (event.type !== "pointerdown" && document.getElementById("notice").textContent.startsWith("Click anywhere")) {
      ui.notice("");
    }
  };
  document.addEventListener("pointerdown", gesture, { capture: true });
  document.addEventListener("click", gesture, { capture: true });
  document.addEventListener("keydown", gesture, { capture: true });
  document.getElementById("notice").addEventListener("click", () => {
    if (state.bridge?.state === "disconnected") state.bridge.connect();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && titleFlash) {
      clearInterval(titleFlash.timer);
      document.title = titleFlash.original;
      titleFlash = null;
    }
  });
  // Leaving the page: un-REGISTER (so the PBX stops ringing a closed tab) and close the socket. The
  // session stays in this tab's sessionStorage, so a reload logs straight back in.
  window.addEventListener("pagehide", () => {
    stopSip();
    state.bridge?.close();
  });
}
