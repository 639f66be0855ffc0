// FACE: the Alohub JSPhone globals (seed 000), over the SDK client (client.js) and so over the phone core.
// Compatibility with Alohub's JSPhone (seed 000, sipjs.js): the functions its CRM pages call from their
// buttons, on top of the SDK client, driving the same element ids the seed's markup has
// (#txtPhoneNumber, #alohub_call_dial, #alohub_calling_content, #alohub_answer_content, #txtPhoneCalling,
// #txtPhoneAnswer, #txtCallTime, #alohub_login_form, #ringtone, #ringbacktone).
//
// What does not carry over: JSPhone's login form (WebSocket server URL, public/private identity,
// password, realm) and its API endpoint + API key. CTI Bridge delivers the SIP settings for the agent
// the CRM logged in (CTIBridge.init({token, domain})) and never lets a browser hold an API key or a
// stored SIP password: those functions say so on the console.
//
// The names are generic (onCall, onAnswer...), so a page's own function of the same name wins: we only
// define what is not defined yet.

export function installAlohubCompat(client, win = window) {
  const doc = win.document;
  const $ = (id) => doc.getElementById(id);
  const unsupported = (name, why) => console.error(`CTIBridge: ${name} is not supported: ${why}`);
  const warn = (name) => (error) => console.warn(`CTIBridge: ${name}: ${error?.message ?? error}`);
  let timer = null;

  const show = (which) => {
    for (const [id, name] of [["alohub_call_dial", "dial"], ["alohub_calling_content", "calling"], ["alohub_answer_content", "answer"]]) {
      const element = $(id);
      if (element) element.style.display = name === which ? "block" : "none";
    }
  };
  const setNumber = (number) => {
    for (const id of ["txtPhoneCalling", "txtPhoneAnswer"]) {
      const element = $(id);
      if (element) element.textContent = number ?? "";
    }
  };
  const clock = (start) => {
    clearInterval(timer);
    timer = null;
    const element = $("txtCallTime");
    if (!element || start === null) return;
    const tick = () => {
      const seconds = Math.max(0, Math.floor((Date.now() - start) / 1000));
      element.textContent = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
        .map((n) => String(n).padStart(2, "0"))
        .join(" : ");
    };
    tick();
    timer = setInterval(tick, 1000);
  };
  const play = (id, on) => {
    const audio = $(id);
    if (!audio?.play) return;
    if (on) audio.play().catch(() => {});
    else audio.pause();
  };

  const functions = {
    onRegister() {
      if (!client.status.loggedIn) {
        unsupported(
          "onRegister",
          "CTI Bridge registers the agent the CRM logged in: call CTIBridge.init({token, domain}) (or csInit) with the token your server minted; the SIP settings come from the bridge.",
        );
        return;
      }
      // Registering in this tab means: this tab holds voice and calls ring in the browser.
      const steps = client.status.voice ? Promise.resolve() : client.enableVoice();
      steps.then(() => (client.status.deviceType === 1 ? null : client.setDevice(1))).catch(warn("onRegister"));
    },
    onCall() {
      const number = $("txtPhoneNumber")?.value ?? "";
      setNumber(number);
      show("calling");
      client.call(number).catch(warn("onCall"));
    },
    onAnswer: () => client.answer().catch(warn("onAnswer")),
    onHangUp() {
      play("ringtone", false);
      play("ringbacktone", false);
      if (client.currentCall) client.hangup().catch(warn("onHangUp"));
      show("dial");
    },
    onTogglePhone: () => $("alohub_login_form")?.classList.toggle("is_open"),
    startRingTone: () => play("ringtone", true),
    stopRingTone: () => play("ringtone", false),
    startRingbackTone: () => play("ringbacktone", true),
    stopRingbackTone: () => play("ringbacktone", false),
    saveCredentials: () =>
      unsupported("saveCredentials", "SIP credentials are never stored in the browser; the bridge delivers them at login."),
    loadCredentials: () =>
      unsupported("loadCredentials", "SIP credentials are never stored in the browser; the bridge delivers them at login."),
    alohubMakeCall: () =>
      unsupported(
        "alohubMakeCall",
        "an API key must not be in a browser page: start click-to-call from the CRM's server (POST /v1/calls/outbound), or call onCall() to dial from this tab.",
      ),
  };
  for (const [name, fn] of Object.entries(functions)) {
    if (typeof win[name] === "undefined") win[name] = fn;
  }

  client.on("ringing", (call) => {
    setNumber(call.phone);
    show("calling");
  });
  client.on("callout", (call) => {
    setNumber(call.phone);
    show("calling");
  });
  client.on("answered", (call) => {
    show("answer");
    clock(call.answeredAt ?? Date.now());
  });
  client.on("ended", () => {
    clock(null);
    show("dial");
  });
}
