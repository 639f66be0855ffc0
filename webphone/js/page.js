// FACE: the webphone page's bootstrap. It starts the phone core (phone.js) with what only a page has
// (config.json next to it, this tab's sessionStorage, the <audio> element, JsSIP from vendor/) and
// translates: the agent's intents from ui.js into the core's commands, the core's events into ui.js's
// drawing. Calls, the bridge, SIP and the call-out rule are the core's; nothing here keeps call state.
//
// Login: the URL fragment #token=…&domain=… (removed at once), a postMessage from the embedding CRM
// (embed.js), this tab's saved session, or the test form.

import JsSIP from "../vendor/jssip.js";
import { startEmbed } from "./embed.js";
import { has, msg, t } from "./i18n.js";
import { PhoneCore } from "./phone.js";
import { formatPhone } from "./phone-numbers.js";
import { createUI, normalizeStatus, statusWords } from "./ui.js";

const ENDED_CARD_MS = 5000;
// Words are catalog keys (i18n.js, messages/*.js); msg() texts re-draw when the agent switches language.
const DEVICE_NAMES = { 1: msg("device.browser"), 2: msg("device.ipPhone"), 3: msg("device.mobile") };
// Why the bridge ended the session (`session.revoked`): the signed-out screen says so.
const REVOKED_REASONS = new Set(["logout", "revoked", "agent_removed", "tenant_inactive"]);
const TONE_HINT = msg("notice.enableSound");

const ui = createUI(document);
const core = new PhoneCore({ JsSIP, remoteAudio: () => document.getElementById("remote-audio") });
let shown = null; // the call on the card (the core's public call), kept 5 s after it ended
let endTimer = null;
let historyTimer = null;
let titleFlash = null;
let notification = null;
let gestureSeen = false;

main().catch((error) => {
  ui.showView("login");
  ui.loginError(msg("page.startFailed", { error: error.message }));
});

async function main() {
  wireUI();
  wireCore();
  wirePage();
  // Embedded in a CRM: listen to it from the start, so a login it posts early is not lost.
  const embed =
    window.parent !== window
      ? startEmbed({ core, login: (domain, token) => loginWith(domain, token), logout: (message) => teardown(message, { logout: true }) })
      : null;
  try {
    const response = await fetch("config.json", { cache: "no-store", credentials: "omit" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    core.configure(await response.json());
  } catch {
    ui.showView("login");
    ui.loginError(msg("page.configMissing"));
    return;
  }
  const remembered = core.rememberedDomain;
  ui.prefillLogin({ domain: remembered ?? "", remember: remembered !== null });

  const fragment = takeFragmentLogin();
  if (fragment) {
    await loginWith(fragment.domain, fragment.token);
  } else if (!(await restore())) {
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
  return { token, domain: domain || core.rememberedDomain || "" };
}

async function restore() {
  try {
    return await core.restore();
  } catch (error) {
    ui.showView("login");
    ui.loginError(loginMessage(error));
    return true;
  }
}

async function loginWith(domain, token, remember = null) {
  ui.loginBusy(true);
  ui.loginError("");
  try {
    await core.login(domain, token);
    if (remember !== null) core.rememberDomain(remember ? domain : null);
    ui.clearLoginToken();
  } catch (error) {
    ui.showView("login");
    ui.loginError(loginMessage(error));
  } finally {
    ui.loginBusy(false);
  }
}

function loginMessage(error) {
  if (error.code && has(`login.${error.code}`)) return msg(`login.${error.code}`);
  return error.message ?? msg("login.failed");
}

/** Log out (or be logged out), then show the login form with `message`. */
async function teardown(message, { logout = false } = {}) {
  await core.stop({ logout });
  signedOut(message);
}

function signedOut(message) {
  ui.setAgent(null);
  ui.setBridgeStatus("off", msg("bridge.off"));
  ui.notice("");
  ui.showView("login");
  ui.loginError(message || "");
}

// ------------------------------------------------------------------ the core's events → ui.js
function wireCore() {
  core.on("profile", (me) => {
    ui.setTenantLanguage(me.webphone?.language ?? null);
    ui.setAgent(me.agent, me.webphone?.sip_uri);
    ui.setDevice(core.status.deviceType, core.status.mobile);
    ui.showView("phone");
    ui.setVoice({ voice: false, holderTab: null, deviceType: core.status.deviceType });
    renderSipStatus();
    if (!core.tonesUnlocked) ui.notice(TONE_HINT);
    loadHistory();
  });
  core.on("revoked", (reason) => signedOut(msg(`session.revoked.${REVOKED_REASONS.has(reason) ? reason : "revoked"}`)));
  core.on("expired", () => signedOut(msg("session.expired")));
  core.on("connected", () => {
    ui.setBridgeStatus("on", msg("bridge.on"));
    ui.notice(core.tonesUnlocked ? "" : TONE_HINT);
  });
  core.on("reconnecting", (attempt, max) => {
    ui.setBridgeStatus("wait", msg("bridge.reconnecting"));
    ui.notice(msg("notice.reconnecting", { attempt, max }));
  });
  core.on("disconnected", () => {
    ui.setBridgeStatus("error", msg("bridge.off"));
    ui.notice(msg("notice.disconnected"), "error");
  });
  core.on("bridgeError", (msg) => {
    if (msg.action === "device") ui.deviceError(msg.message);
    else ui.notice(msg.message, "error");
  });
  core.on("voice", () => renderVoice());
  core.on("status", (ready) => ui.setReady(ready));
  core.on("device", (deviceType, mobile) => {
    ui.setDevice(deviceType, mobile);
    ui.deviceError("");
    renderVoice();
  });
  core.on("sipStatus", () => renderSipStatus());
  core.on("sipError", () => ui.setSipStatus("error", msg("sip.noSettings")));
  core.on("registrationFailed", ({ cause, sipCode }) => {
    ui.setSipStatus("error", msg("sip.off"));
    ui.notice(msg("notice.registerFailed", { detail: `${sipCode ?? ""} ${cause}`.trim() }), "error");
  });
  core.on("clickToCall", ({ phone }) => {
    ui.dialError("");
    ui.setDialValue(phone);
  });
  core.on("clickToCallFailed", ({ phone, message }) =>
    ui.notice(msg("notice.clickToCall", { phone: formatPhone(phone), message }), "error"),
  );
  core.on("ringing", (call) => {
    startAlerting(call);
    ui.focusAnswer();
  });
  core.on("ended", () => scheduleHistory());
  core.on("change", (call) => showCall(call));
}

function renderVoice() {
  const { voice, voiceTab, deviceType } = core.status;
  ui.setVoice({ voice, holderTab: voiceTab, deviceType });
}

function renderSipStatus() {
  const { deviceType, sip } = core.status;
  if (deviceType !== 1) ui.setSipStatus("off", msg(deviceType === 2 ? "sip.ipPhone" : "sip.mobile"));
  else if (!sip) ui.setSipStatus("off", msg("sip.off"));
  else if (sip.registered) ui.setSipStatus("on", msg("sip.ready"));
  else if (sip.connected) ui.setSipStatus("wait", msg("sip.registering"));
  else ui.setSipStatus("wait", msg("sip.connecting"));
}

/** The card shows the core's call; an ended one stays 5 s (with its call log when it comes). */
function showCall(call) {
  if (!call && shown?.state === "ended" && endTimer) return; // the ended card stays its 5 s
  clearTimeout(endTimer);
  endTimer = null;
  shown = call;
  if (call?.state === "ended") {
    if (call.log) scheduleHistory();
    endTimer = setTimeout(() => {
      endTimer = null;
      showCall(null);
    }, ENDED_CARD_MS);
  }
  if (!call || call.state !== "ringing") stopAlerting();
  renderCall();
}

function renderCall() {
  const call = shown;
  if (!call) {
    ui.renderCall(null);
    return;
  }
  ui.renderCall({
    state: call.state,
    direction: call.direction,
    phone: call.phone,
    contact: call.contact,
    canAnswer: call.canAnswer,
    canControl: call.inThisTab && call.state !== "ended",
    muted: call.muted,
    onHold: call.held,
    answeredAt: call.answeredAt,
    statusText: statusText(call),
    error: call.error?.message ?? null,
  });
}

/** The card's status line, as a lazy message (ui.js re-draws it in the agent's new language). */
function statusText(call) {
  const device = DEVICE_NAMES[core.status.deviceType];
  if (call.state === "ringing") {
    if (call.answering) return msg("call.status.connecting");
    return call.inThisTab || core.ringsHere ? msg("call.status.ringing") : msg("call.status.ringingOn", { device });
  }
  if (call.state === "dialing") return call.inThisTab ? msg("call.status.calling") : msg("call.status.callingFrom", { device });
  if (call.state === "progress") return msg("call.status.ringing");
  if (call.state === "in_call") {
    if (call.held) return msg("call.status.onHold");
    return call.inThisTab ? msg("call.status.connected") : msg("call.status.answeredOn", { device });
  }
  if (call.error) return msg("call.status.failed");
  if (call.log) return endWords(call.log);
  if (!call.inThisTab || call.answeredAt) return msg("call.status.ended");
  return msg(call.direction === "inbound" ? "call.status.missed" : "call.status.notAnswered");
}

/** "Call ended · answered · 0:11" from the PBX's call log (lazy: it follows the language). */
function endWords(log) {
  const status = normalizeStatus(log.status);
  return {
    key: "call.status.ended",
    toString() {
      const parts = [t("call.status.ended")];
      if (status) parts.push(statusWords(status, "call.end.").toLowerCase());
      if (log.billsec) parts.push(formatSeconds(log.billsec));
      return parts.join(" · ");
    },
  };
}

function formatSeconds(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// ------------------------------------------------------------------ alerting: notification, title
function startAlerting(call) {
  if (document.visibilityState !== "hidden") return;
  const phone = formatPhone(call.phone);
  const who = call.contact?.name ? `${phone} — ${call.contact.name}` : phone;
  if ("Notification" in window && Notification.permission === "granted") {
    notification?.close();
    notification = new Notification(t("call.incoming"), { body: who, tag: "ctibridge-call", requireInteraction: true });
    notification.onclick = () => {
      window.focus();
      notification?.close();
    };
  }
  flashTitle(`📞 ${phone}`);
}

function stopAlerting() {
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
function scheduleHistory() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 1500);
}

async function loadHistory() {
  if (!core.status.loggedIn) return;
  ui.historyBusy(true);
  try {
    const body = await core.api("/v1/agent/calls?limit=25");
    ui.historyError("");
    ui.renderHistory(body.items ?? []);
  } catch (error) {
    if (error.status !== 401) ui.historyError(msg("history.loadFailed", { error: error.message }));
  } finally {
    ui.historyBusy(false);
  }
}

async function playRecording(callid) {
  try {
    const call = await core.api(`/v1/agent/calls/${encodeURIComponent(callid)}`);
    if (call.recording?.url) ui.playRecording(call.recording.url);
    else ui.historyError(msg("history.noRecording"));
  } catch (error) {
    ui.historyError(msg("history.recordingFailed", { error: error.message }));
  }
}

// ------------------------------------------------------------------ the agent's intents → the core
function wireUI() {
  const quietly = (promise) => promise.catch(() => {}); // the bridge's errors come as "bridgeError"
  ui.on("login", ({ domain, token, remember }) => loginWith(domain, token, remember));
  ui.on("logout", () => teardown(msg("session.loggedOut"), { logout: true }));
  ui.on("ready", (ready) => quietly(core.setReady(ready)));
  ui.on("enableVoice", () => quietly(core.enableVoice()));
  ui.on("device", ({ deviceType, mobile }) => {
    if (deviceType === 3 && !/^\+?[0-9]{8,15}$/.test(mobile)) {
      ui.deviceError(msg("settings.mobileRequired"));
      return;
    }
    ui.deviceError("");
    quietly(core.setDevice(deviceType, mobile));
  });
  ui.on("answer", () => quietly(core.answer()));
  ui.on("hangup", () => hangup());
  ui.on("escape", () => hangup());
  ui.on("mute", () => core.toggleMute());
  ui.on("hold", () => core.toggleHold());
  ui.on("transfer", (target) => {
    const result = core.blindTransfer(target);
    if (result.message) ui.dialError(result.message);
  });
  ui.on("dial", (text) => dial(text));
  ui.on("callBack", (phone) => {
    ui.selectTab("dialpad");
    ui.setDialValue(phone);
  });
  ui.on("enter", () => {
    if (core.currentCall?.canAnswer) quietly(core.answer());
    else dial(ui.dialValue());
  });
  ui.on("key", (key) => {
    const call = core.currentCall;
    if (call?.state === "in_call" && call.inThisTab) core.sendDTMF(key);
    ui.appendDigit(key);
    core.beep(key);
  });
  ui.on("dtmf", (key) => {
    core.sendDTMF(key);
    core.beep(key);
  });
  ui.on("historyRefresh", () => loadHistory());
  ui.on("tab", (name) => {
    if (name === "history") loadHistory();
  });
  ui.on("play", (callid) => playRecording(callid));
}

/** The dial pad's call: the core's call-out rule (this tab's phone, or the bridge on the agent's device). */
function dial(text) {
  ui.dialError("");
  core.call(text).catch((error) => ui.dialError(error.message));
}

function hangup() {
  if (core.currentCall?.inThisTab) core.hangup().catch(() => {});
}

function wirePage() {
  // The first gesture turns sounds on (autoplay policy) and asks for notifications. The hint goes away
  // on "click", after the gesture: removing it on pointerdown would move the page under the pointer.
  const gesture = (event) => {
    core.unlockTones();
    if (!gestureSeen && core.status.loggedIn) {
      gestureSeen = true;
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    }
    if (event.type !== "pointerdown" && document.getElementById("notice").dataset.message === "notice.enableSound") {
      ui.notice("");
    }
  };
  document.addEventListener("pointerdown", gesture, { capture: true });
  document.addEventListener("click", gesture, { capture: true });
  document.addEventListener("keydown", gesture, { capture: true });
  document.getElementById("notice").addEventListener("click", () => core.reconnect());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && titleFlash) {
      clearInterval(titleFlash.timer);
      document.title = titleFlash.original;
      titleFlash = null;
    }
  });
  // Leaving the page: un-REGISTER (so the PBX stops ringing a closed tab) and close the socket. The
  // session stays in this tab's sessionStorage, so a reload logs straight back in.
  window.addEventListener("pagehide", () => core.detach());
}
