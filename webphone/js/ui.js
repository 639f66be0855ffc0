// Rendering and user intents. The UI never talks to the bridge or SIP: it draws what page.js gives it
// and emits what the agent asks for ("answer", "dial", "key", ...). Text goes in with textContent
// only (caller names and CRM data are never parsed as HTML).
//
// Words come from the message catalogs (i18n.js): a text given as a lazy message (msg(key)) is
// re-drawn when the agent switches language in Settings; the page's static words carry data-i18n.

import { Emitter } from "./emitter.js";
import {
  browserLanguages,
  getLanguage,
  msg,
  onLanguageChange,
  pickLanguage,
  setLanguage,
  storedLanguage,
  storeLanguage,
  t,
  translatePage,
} from "./i18n.js";
import { formatPhone } from "./phone-numbers.js";

const KEYS = new Set(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]);

export function createUI(doc = document) {
  const $ = (id) => doc.getElementById(id);
  const ui = new Emitter();
  const app = $("app");
  const el = {
    agentName: $("agent-name"), agentExt: $("agent-ext"),
    bridge: $("bridge-status"), sip: $("sip-status"), notice: $("notice"),
    views: { loading: $("loading-view"), login: $("login-view"), phone: $("phone-view") },
    loginForm: $("login-form"), loginDomain: $("login-domain"), loginToken: $("login-token"),
    loginRemember: $("login-remember"), loginError: $("login-error"), loginSubmit: $("login-submit"),
    ready: $("ready-toggle"), enableVoice: $("enable-voice"), voiceHolder: $("voice-holder"),
    card: $("call-card"), kind: $("call-kind"), phone: $("call-phone"), customer: $("call-customer"),
    customerLink: $("call-customer-link"), customerName: $("call-customer-name"), status: $("call-status"),
    timer: $("call-timer"), callError: $("call-error"),
    answer: $("answer"), hangup: $("hangup"), mute: $("mute"), hold: $("hold"), transfer: $("transfer"),
    transferForm: $("transfer-form"), transferTarget: $("transfer-target"),
    dialForm: $("dial-form"), dialInput: $("dial-input"), dialError: $("dial-error"), backspace: $("dial-backspace"),
    callButton: $("call-button"),
    historyList: $("history-list"), historyEmpty: $("history-empty"), historyError: $("history-error"),
    historyRefresh: $("history-refresh"), player: $("recording-player"),
    deviceForm: $("device-form"), mobileRow: $("mobile-row"), mobile: $("device-mobile"), deviceError: $("device-error"),
    sipIdentity: $("sip-identity"), logout: $("logout"), language: $("language-select"),
    tabs: { dialpad: $("tab-dialpad"), history: $("tab-history"), settings: $("tab-settings") },
    panels: { dialpad: $("dialpad"), history: $("history"), settings: $("settings") },
  };
  let timerHandle = null;
  // What is on screen, to re-draw it in another language: texts set from lazy messages, the call, the history.
  const live = new Map();
  let lastCall = null;
  let lastHistory = null;
  let tenantLanguage = null;

  /** Set an element's text: a string as is, a lazy message in the current language (and on every switch). */
  function setText(element, text) {
    if (text && typeof text === "object" && "key" in text) live.set(element, text);
    else live.delete(element);
    element.textContent = text == null ? "" : String(text);
  }

  function applyLanguage() {
    translatePage(doc);
    el.language.value = getLanguage();
    for (const [element, text] of live) element.textContent = String(text);
    if (!el.loginSubmit.disabled) el.loginSubmit.textContent = t("login.submit");
    if (lastCall) ui.renderCall(lastCall);
    if (lastHistory) ui.renderHistory(lastHistory);
  }
  onLanguageChange(applyLanguage);

  // ------------------------------------------------------------------ intents
  el.loginForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ui.emit("login", {
      domain: el.loginDomain.value.trim(),
      token: el.loginToken.value.trim(),
      remember: el.loginRemember.checked,
    });
  });
  el.ready.addEventListener("click", () => ui.emit("ready", el.ready.getAttribute("aria-pressed") !== "true"));
  el.enableVoice.addEventListener("click", () => ui.emit("enableVoice"));
  el.answer.addEventListener("click", () => ui.emit("answer"));
  el.hangup.addEventListener("click", () => ui.emit("hangup"));
  el.mute.addEventListener("click", () => ui.emit("mute"));
  el.hold.addEventListener("click", () => ui.emit("hold"));
  el.transfer.addEventListener("click", () => {
    el.transferForm.hidden = !el.transferForm.hidden;
    if (!el.transferForm.hidden) el.transferTarget.focus();
  });
  el.transferForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const target = el.transferTarget.value.trim();
    if (target) ui.emit("transfer", target);
    el.transferForm.hidden = true;
    el.transferTarget.value = "";
  });
  el.dialForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ui.emit("dial", el.dialInput.value);
  });
  for (const button of el.dialForm.querySelectorAll("[data-key]")) {
    button.addEventListener("click", () => ui.emit("key", button.dataset.key));
  }
  el.backspace.addEventListener("click", () => ui.backspace());
  el.historyRefresh.addEventListener("click", () => ui.emit("historyRefresh"));
  el.deviceForm.addEventListener("change", () => {
    el.mobileRow.hidden = deviceChoice() !== 3;
  });
  el.deviceForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ui.emit("device", { deviceType: deviceChoice(), mobile: el.mobile.value.trim() });
  });
  el.logout.addEventListener("click", () => ui.emit("logout"));
  // The agent's choice is kept on this computer and wins over the tenant's default and the browser's.
  el.language.addEventListener("change", () => {
    storeLanguage(el.language.value);
    setLanguage(el.language.value);
    ui.emit("language", getLanguage());
  });
  for (const [name, tab] of Object.entries(el.tabs)) {
    tab.addEventListener("click", () => ui.selectTab(name));
    tab.addEventListener("keydown", (e) => {
      const names = Object.keys(el.tabs);
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = names[(names.indexOf(name) + step + names.length) % names.length];
      ui.selectTab(next);
      el.tabs[next].focus();
    });
  }
  // The whole page is a keypad: digits, * and # type (or send DTMF), Enter calls or answers, Esc hangs up.
  doc.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if (typing && target !== el.dialInput) return; // the login form, transfer target, mobile number
    if (e.key === "Escape" && app.dataset.view === "phone") {
      ui.emit("escape");
      return;
    }
    if (target === el.dialInput) {
      // Typing in the field itself during a call sends DTMF as well.
      if (KEYS.has(e.key) && app.dataset.callState === "in_call") ui.emit("dtmf", e.key);
      return;
    }
    if (app.dataset.view !== "phone") return;
    if (KEYS.has(e.key)) {
      e.preventDefault();
      ui.emit("key", e.key);
    } else if (e.key === "Backspace" && target.tagName !== "BUTTON") {
      e.preventDefault();
      ui.backspace();
    } else if (e.key === "Enter" && (target === doc.body || target === app)) {
      e.preventDefault();
      ui.emit("enter");
    }
  });

  function deviceChoice() {
    const checked = el.deviceForm.querySelector("input[name=device]:checked");
    return checked ? Number(checked.value) : 1;
  }

  // ------------------------------------------------------------------ drawing
  ui.showView = (name) => {
    app.dataset.view = name;
    for (const [key, view] of Object.entries(el.views)) view.hidden = key !== name;
    if (name === "login") el.loginSubmit.disabled = false;
  };

  ui.selectTab = (name) => {
    for (const [key, tab] of Object.entries(el.tabs)) {
      tab.setAttribute("aria-selected", String(key === name));
      tab.tabIndex = key === name ? 0 : -1;
      el.panels[key].hidden = key !== name;
    }
    ui.emit("tab", name);
  };

  ui.prefillLogin = ({ domain = "", remember = false } = {}) => {
    el.loginDomain.value = domain;
    el.loginRemember.checked = remember;
  };

  ui.loginBusy = (busy) => {
    el.loginSubmit.disabled = busy;
    el.loginSubmit.textContent = t(busy ? "login.busy" : "login.submit");
  };

  ui.loginError = (text) => {
    setText(el.loginError, text || "");
  };

  /** The tenant's default language (webphone.language of /v1/agent/me): used unless the agent chose one. */
  ui.setTenantLanguage = (language) => {
    tenantLanguage = language ?? null;
    setLanguage(pickLanguage({ chosen: storedLanguage(), tenantDefault: tenantLanguage, browser: browserLanguages() }));
  };

  ui.clearLoginToken = () => {
    el.loginToken.value = "";
  };

  ui.setAgent = (agent, sipUri) => {
    setText(el.agentName, agent ? agent.display_name || msg("agent.name", { ext: agent.ipphone }) : "CTI Bridge");
    setText(el.agentExt, agent ? msg("agent.ext", { ext: agent.ipphone }) : "");
    setText(el.sipIdentity, sipUri ? msg("agent.sip", { uri: sipUri }) : "");
  };

  ui.setBridgeStatus = (state, text) => {
    el.bridge.dataset.state = state;
    setText(el.bridge, text);
  };

  ui.setSipStatus = (state, text) => {
    el.sip.dataset.state = state;
    setText(el.sip, text);
  };

  ui.notice = (text, kind = "info") => {
    setText(el.notice, text || "");
    el.notice.dataset.kind = kind;
    el.notice.dataset.message = text?.key ?? ""; // which message is shown, whatever the language
    el.notice.hidden = !text;
  };

  ui.setReady = (ready) => {
    // data-state appears with the bridge's first word on the agent's status (until then the button only
    // shows the page's default), like the bridge and SIP badges' states
    el.ready.dataset.state = ready ? "on" : "off";
    el.ready.setAttribute("aria-pressed", String(Boolean(ready)));
    setText(el.ready, msg(ready ? "ready.on" : "ready.off"));
  };

  ui.setVoice = ({ voice, holderTab, deviceType }) => {
    el.enableVoice.hidden = Boolean(voice) || deviceType !== 1;
    el.voiceHolder.hidden = Boolean(voice) || deviceType !== 1;
    setText(el.voiceHolder, msg(holderTab ? "voice.otherTab" : "voice.noTab"));
  };

  ui.setDevice = (deviceType, mobile) => {
    for (const input of el.deviceForm.querySelectorAll("input[name=device]")) {
      input.checked = Number(input.value) === deviceType;
    }
    el.mobile.value = mobile || "";
    el.mobileRow.hidden = deviceType !== 3;
  };

  ui.deviceError = (text) => {
    setText(el.deviceError, text || "");
    el.deviceError.hidden = !text;
  };

  ui.dialValue = () => el.dialInput.value;
  ui.setDialValue = (value) => {
    el.dialInput.value = value;
  };
  ui.appendDigit = (key) => {
    el.dialInput.value += key;
  };
  ui.backspace = () => {
    el.dialInput.value = el.dialInput.value.slice(0, -1);
  };
  ui.dialError = (text) => {
    setText(el.dialError, text || "");
    el.dialError.hidden = !text;
  };
  ui.canCall = (can) => {
    el.callButton.disabled = !can;
  };

  /**
   * call: null or {state: ringing|dialing|progress|in_call|ended, direction, phone, contact {name,url},
   * canAnswer, canControl, muted, onHold, answeredAt, statusText, error}
   */
  ui.renderCall = (call) => {
    lastCall = call;
    app.dataset.callState = call ? (call.state === "progress" || call.state === "dialing" ? "dialing" : call.state) : "idle";
    clearInterval(timerHandle);
    el.timer.textContent = "";
    if (!call) {
      el.card.hidden = true;
      el.transferForm.hidden = true;
      return;
    }
    el.card.hidden = false;
    const inbound = call.direction === "inbound";
    el.kind.textContent = t(
      {
        ringing: inbound ? "call.incoming" : "call.calling",
        dialing: "call.calling",
        progress: "call.calling",
        in_call: inbound ? "call.inbound" : "call.outbound",
        ended: "call.ended",
      }[call.state] ?? "call.call",
    );
    el.phone.textContent = call.phone ? formatPhone(call.phone) : t("call.unknownNumber");
    const contact = call.contact;
    el.customer.hidden = !contact?.name && !contact?.url;
    // The bridge only forwards http(s) links from the CRM; checked again here (never a javascript: URL).
    if (contact?.url && /^https?:\/\//i.test(contact.url)) {
      el.customerLink.href = contact.url;
      el.customerLink.textContent = contact.name || t("call.openInCrm");
      el.customerLink.hidden = false;
      el.customerName.textContent = "";
    } else {
      el.customerLink.hidden = true;
      el.customerLink.removeAttribute("href");
      el.customerName.textContent = contact?.name || "";
    }
    el.status.textContent = String(call.statusText || "");
    el.callError.textContent = String(call.error || "");
    el.callError.hidden = !call.error;
    const live = call.state === "in_call" && call.canControl;
    el.answer.hidden = !(call.state === "ringing" && inbound && call.canAnswer);
    el.hangup.hidden = call.state === "ended" || !call.canControl;
    el.hangup.textContent = t(call.state === "ringing" && inbound ? "button.decline" : "button.hangup");
    for (const button of [el.mute, el.hold, el.transfer]) button.hidden = !live;
    el.mute.setAttribute("aria-pressed", String(Boolean(call.muted)));
    el.mute.textContent = t(call.muted ? "button.unmute" : "button.mute");
    el.hold.setAttribute("aria-pressed", String(Boolean(call.onHold)));
    el.hold.textContent = t(call.onHold ? "button.resume" : "button.hold");
    if (!live) el.transferForm.hidden = true;
    if (call.state === "in_call" && call.answeredAt) {
      const tick = () => {
        el.timer.textContent = formatDuration((Date.now() - call.answeredAt) / 1000);
      };
      tick();
      timerHandle = setInterval(tick, 1000);
    }
  };

  ui.focusAnswer = () => {
    if (!el.answer.hidden) el.answer.focus();
  };

  ui.historyBusy = (busy) => {
    el.historyRefresh.disabled = busy;
  };

  ui.historyError = (text) => {
    setText(el.historyError, text || "");
    el.historyError.hidden = !text;
  };

  /** items: the calls API's CallView list. */
  ui.renderHistory = (items) => {
    lastHistory = items;
    el.historyList.replaceChildren();
    el.historyEmpty.hidden = items.length > 0;
    for (const call of items) {
      const li = doc.createElement("li");
      const inbound = call.direction !== "outbound";
      const answered = (call.status || "").toUpperCase() === "ANSWERED";
      li.dataset.callid = call.callid;
      li.dataset.status = inbound && call.status && !answered ? "missed" : "ok";
      const dir = doc.createElement("span");
      dir.className = "dir";
      dir.textContent = inbound ? "↙" : "↗";
      dir.title = t(inbound ? "history.inbound" : "history.outbound");
      const num = doc.createElement("span");
      num.className = "num";
      num.textContent = call.phone ? formatPhone(call.phone) : t("history.unknown");
      const meta = doc.createElement("span");
      meta.className = "meta";
      const parts = [callTime(call), statusWords(call.status)];
      if (call.billsec) parts.push(formatDuration(call.billsec));
      meta.textContent = parts.filter(Boolean).join(" · ");
      const actions = doc.createElement("span");
      actions.className = "actions";
      if (call.recording?.state === "stored") {
        const play = doc.createElement("button");
        play.type = "button";
        play.textContent = t("history.play");
        play.setAttribute("aria-label", t("history.playLabel", { phone: call.phone ? formatPhone(call.phone) : t("history.someone") }));
        play.addEventListener("click", () => ui.emit("play", call.callid));
        actions.append(play);
      }
      if (call.phone) {
        const again = doc.createElement("button");
        again.type = "button";
        again.textContent = t("history.call");
        again.setAttribute("aria-label", t("history.callLabel", { phone: formatPhone(call.phone) }));
        again.addEventListener("click", () => ui.emit("callBack", call.phone));
        actions.append(again);
      }
      li.append(dir, num, actions, meta);
      el.historyList.append(li);
    }
  };

  ui.playRecording = (url) => {
    el.player.hidden = false;
    el.player.src = url;
    el.player.play().catch(() => {});
  };

  ui.selectTab("dialpad");
  // Before any login: the agent's saved choice, else the browser's language (the tenant's comes later).
  setLanguage(pickLanguage({ chosen: storedLanguage(), browser: browserLanguages() }));
  applyLanguage();
  return ui;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * When a call happened, on the agent's clock (the browser's time zone): from its UTC instant, the PBX's
 * calldate or else when it first rang. One clock for every row: a call the PBX logged and one that only
 * rang (no calldate yet) read alike. The PBX's local text only when there is no instant at all.
 */
export function callTime(call) {
  const instant = new Date(call.calldate || call.started_at || NaN);
  if (Number.isNaN(instant.getTime())) return (call.calldate_local || "").replace("T", " ");
  const two = (n) => String(n).padStart(2, "0");
  const day = `${instant.getFullYear()}-${two(instant.getMonth() + 1)}-${two(instant.getDate())}`;
  return `${day} ${two(instant.getHours())}:${two(instant.getMinutes())}:${two(instant.getSeconds())}`;
}

/**
 * A call status as words: the PBX's (seed 004: ANSWERED, NO ANSWER, BUSY, FAILED, CANCEL, CONGESTION,
 * CHANUNAVAIL) or the bridge's while no call log has come (RINGING, DIALING).
 */
export function statusWords(status, prefix = "status.") {
  const value = normalizeStatus(status);
  const key = `${prefix}${value}`;
  return value && t(key) !== key ? t(key) : status || "";
}

/** The PBXs' spellings of one status as one: "no_answer" → "NO ANSWER", "CANCELED" → "CANCEL". */
export function normalizeStatus(status) {
  const value = String(status || "").toUpperCase().replace(/_/g, " ").trim();
  return value === "CANCELED" || value === "CANCELLED" ? "CANCEL" : value;
}
