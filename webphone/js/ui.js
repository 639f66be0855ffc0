// Rendering and user intents. The UI never talks to the bridge or SIP: it draws what page.js gives it
// and emits what the agent asks for ("answer", "dial", "key", ...). Text goes in with textContent
// only (caller names and CRM data are never parsed as HTML).

import { Emitter } from "./emitter.js";

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
    sipIdentity: $("sip-identity"), logout: $("logout"),
    tabs: { dialpad: $("tab-dialpad"), history: $("tab-history"), settings: $("tab-settings") },
    panels: { dialpad: $("dialpad"), history: $("history"), settings: $("settings") },
  };
  let timerHandle = null;

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
    el.loginSubmit.textContent = busy ? "Logging in…" : "Log in";
  };

  ui.loginError = (text) => {
    el.loginError.textContent = text || "";
  };

  ui.clearLoginToken = () => {
    el.loginToken.value = "";
  };

  ui.setAgent = (agent, sipUri) => {
    el.agentName.textContent = agent ? agent.display_name || `Agent ${agent.ipphone}` : "CTI Bridge";
    el.agentExt.textContent = agent ? `ext ${agent.ipphone}` : "";
    el.sipIdentity.textContent = sipUri ? `SIP: ${sipUri}` : "";
  };

  ui.setBridgeStatus = (state, text) => {
    el.bridge.dataset.state = state;
    el.bridge.textContent = text;
  };

  ui.setSipStatus = (state, text) => {
    el.sip.dataset.state = state;
    el.sip.textContent = text;
  };

  ui.notice = (text, kind = "info") => {
    el.notice.textContent = text || "";
    el.notice.dataset.kind = kind;
    el.notice.hidden = !text;
  };

  ui.setReady = (ready) => {
    el.ready.setAttribute("aria-pressed", String(Boolean(ready)));
    el.ready.textContent = ready ? "Ready" : "Not ready";
  };

  ui.setVoice = ({ voice, holderTab, deviceType }) => {
    el.enableVoice.hidden = Boolean(voice) || deviceType !== 1;
    el.voiceHolder.hidden = Boolean(voice) || deviceType !== 1;
    el.voiceHolder.textContent = holderTab ? "The phone is on in another tab." : "No tab has the phone on.";
  };

  ui.setDevice = (deviceType, mobile) => {
    for (const input of el.deviceForm.querySelectorAll("input[name=device]")) {
      input.checked = Number(input.value) === deviceType;
    }
    el.mobile.value = mobile || "";
    el.mobileRow.hidden = deviceType !== 3;
  };

  ui.deviceError = (text) => {
    el.deviceError.textContent = text || "";
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
    el.dialError.textContent = text || "";
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
    el.kind.textContent = {
      ringing: inbound ? "Incoming call" : "Calling",
      dialing: "Calling",
      progress: "Calling",
      in_call: inbound ? "Inbound call" : "Outbound call",
      ended: "Call ended",
    }[call.state] ?? "Call";
    el.phone.textContent = call.phone || "Unknown number";
    const contact = call.contact;
    el.customer.hidden = !contact?.name && !contact?.url;
    // The bridge only forwards http(s) links from the CRM; checked again here (never a javascript: URL).
    if (contact?.url && /^https?:\/\//i.test(contact.url)) {
      el.customerLink.href = contact.url;
      el.customerLink.textContent = contact.name || "Open in CRM";
      el.customerLink.hidden = false;
      el.customerName.textContent = "";
    } else {
      el.customerLink.hidden = true;
      el.customerLink.removeAttribute("href");
      el.customerName.textContent = contact?.name || "";
    }
    el.status.textContent = call.statusText || "";
    el.callError.textContent = call.error || "";
    el.callError.hidden = !call.error;
    const live = call.state === "in_call" && call.canControl;
    el.answer.hidden = !(call.state === "ringing" && inbound && call.canAnswer);
    el.hangup.hidden = call.state === "ended" || !call.canControl;
    el.hangup.textContent = call.state === "ringing" && inbound ? "Decline" : "Hang up";
    for (const button of [el.mute, el.hold, el.transfer]) button.hidden = !live;
    el.mute.setAttribute("aria-pressed", String(Boolean(call.muted)));
    el.mute.textContent = call.muted ? "Unmute" : "Mute";
    el.hold.setAttribute("aria-pressed", String(Boolean(call.onHold)));
    el.hold.textContent = call.onHold ? "Resume" : "Hold";
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
    el.historyError.textContent = text || "";
    el.historyError.hidden = !text;
  };

  /** items: the calls API's CallView list. */
  ui.renderHistory = (items) => {
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
      dir.title = inbound ? "Inbound" : "Outbound";
      const num = doc.createElement("span");
      num.className = "num";
      num.textContent = call.phone || "Unknown";
      const meta = doc.createElement("span");
      meta.className = "meta";
      const when = call.calldate_local || call.calldate || call.started_at || "";
      const parts = [when.replace("T", " ").replace(/(:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/, "$1"), statusWords(call.status)];
      if (call.billsec) parts.push(formatDuration(call.billsec));
      meta.textContent = parts.filter(Boolean).join(" · ");
      const actions = doc.createElement("span");
      actions.className = "actions";
      if (call.recording?.state === "stored") {
        const play = doc.createElement("button");
        play.type = "button";
        play.textContent = "▶ Play";
        play.setAttribute("aria-label", `Play the recording of the call with ${call.phone || "unknown"}`);
        play.addEventListener("click", () => ui.emit("play", call.callid));
        actions.append(play);
      }
      if (call.phone) {
        const again = doc.createElement("button");
        again.type = "button";
        again.textContent = "Call";
        again.setAttribute("aria-label", `Call ${call.phone}`);
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
  return ui;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function statusWords(status) {
  const value = (status || "").toUpperCase();
  return (
    {
      ANSWERED: "Answered",
      "NO ANSWER": "No answer",
      NO_ANSWER: "No answer",
      BUSY: "Busy",
      FAILED: "Failed",
      CANCEL: "Cancelled",
      CANCELED: "Cancelled",
      CONGESTION: "Failed",
    }[value] ?? (status || "")
  );
}
