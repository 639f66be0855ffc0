// Iframe mode (issue 9, seed 003): the webphone inside a CRM page talks to it with postMessage.
//
//   <iframe src="https://<webphone>/?origin=https://crm.example.com" allow="microphone; camera"></iframe>
//
// Who may talk to us. The CRM declares its origin in the iframe's URL (`?origin=`). The browser tells
// us who really frames us (`location.ancestorOrigins`, else the referrer's origin); when both are known
// they must agree, or the page refuses every message. Before login only `ctibridge.login` is accepted
// (from the parent window, from that origin); after login the origin must also be one of the tenant's
// allowed origins (GET /v1/agent/me → embed.allowed_origins), or the page logs out and says why.
// Events go to that exact origin only (postMessage's targetOrigin), never to "*", and nothing at all is
// posted before the tenant allowed it. The CRM posts its login when the iframe fires "load": this
// module listens from the page's first script on and keeps a login that arrives before the page can
// serve it.
//
// From the CRM: {type: "ctibridge.login", token, domain}, {type: "ctibridge.logout"},
//               {type: "OutboundCallRequest", data: {target}} (seed 003).
// To the CRM:   OnRegistered, OnUnregistered, OnCallRinging, OnCallAnswer, OnCallEnd, OnCallFailed,
//               OnStatusChanged (shapes in mycc-events.js).

import { callEvent, registrationEvent, statusEvent } from "./mycc-events.js";

/** The origin of the page framing us: {origin} or {origin: null, problem}. */
export function embeddingOrigin(win = window) {
  const param = new URLSearchParams(win.location.search).get("origin");
  const declared = param ? normalizeOrigin(param) : null;
  if (param && !declared) return { origin: null, problem: `"${param}" is not an origin` };
  const ancestors = win.location.ancestorOrigins;
  let seen = ancestors && ancestors.length ? normalizeOrigin(ancestors[0]) : null;
  if (!seen && win.document.referrer) seen = normalizeOrigin(win.document.referrer);
  if (declared && seen && declared !== seen) {
    return { origin: null, problem: `the page framing this phone is ${seen}, not ${declared}` };
  }
  const origin = declared ?? seen;
  return origin ? { origin } : { origin: null, problem: "the page framing this phone did not say who it is" };
}

/** "https://crm.example.com" from any URL of that origin; null for opaque or malformed ones. */
export function normalizeOrigin(value) {
  try {
    const origin = new URL(String(value)).origin;
    return origin && origin !== "null" ? origin : null;
  } catch {
    return null;
  }
}

/**
 * Start iframe mode. `webphone` is app.js's live view: {events, login(domain, token),
 * logout(message), dial(number)}. Answers {ready()}: call it when a login can be served.
 */
export function startEmbed(webphone, { win = window } = {}) {
  const { origin, problem } = embeddingOrigin(win);
  let verified = false; // the tenant allows `origin`
  let loginByParent = false;
  let pendingLogin = null;
  let canLogin = false;
  let context = {};
  let lastStatus = null;
  let registered = false;
  const sent = new Set(); // "type:interactionID": each call event once
  const failures = new Map(); // interactionID -> {errorCode, sipCode}

  if (!origin) console.warn(`CTI Bridge: embedded, but the CRM's messages are ignored: ${problem}.`);

  const post = (message) => {
    if (verified) win.parent.postMessage(message, origin);
  };

  win.addEventListener("message", (event) => {
    // Only the window that frames us, only from its declared (and, after login, allowed) origin.
    if (!origin || event.source !== win.parent || event.origin !== origin) return;
    const message = event.data;
    if (!message || typeof message !== "object" || typeof message.type !== "string") return;
    if (message.type === "ctibridge.login") {
      if (typeof message.token !== "string" || typeof message.domain !== "string") return;
      loginByParent = true;
      if (canLogin) webphone.login(message.domain, message.token);
      else pendingLogin = message;
      return;
    }
    if (!verified) return;
    if (message.type === "ctibridge.logout") {
      webphone.logout("You are logged out.");
    } else if (message.type === "OutboundCallRequest") {
      const target = message.data?.target;
      if ((typeof target !== "string" && typeof target !== "number") || String(target).length > 32) return;
      const failure = webphone.dial(String(target));
      if (failure) post({ type: "OnCallFailed", data: { target: String(target), ...failure, timestamp: Date.now() } });
    }
  });

  const events = webphone.events;
  events.on("profile", (profile) => {
    context = { agent: profile.agent, sipUri: profile.sipUri, sipDomain: profile.sipDomain };
    const allowed = (profile.allowedOrigins ?? []).map(normalizeOrigin);
    verified = Boolean(origin) && allowed.includes(origin);
    registered = false;
    lastStatus = null;
    if (!verified && origin) {
      // Not a CRM of this call center: say nothing to it, and do not stay logged in on its behalf.
      console.warn(`CTI Bridge: ${origin} is not one of this call center's allowed origins.`);
      if (loginByParent) {
        webphone.logout(`This phone can't run inside ${origin}: your call center has not allowed that site. Ask your admin.`);
      }
    }
  });
  events.on("logout", () => {
    if (registered) post(registrationEvent("OnUnregistered", ctx(), 1));
    verified = false;
    registered = false;
  });
  events.on("bridge", (bridge) => {
    const status = { ready: false, deviceType: 1, mobile: null, voice: false };
    const changed = () => {
      const text = JSON.stringify(status);
      if (text !== lastStatus) {
        lastStatus = text;
        post(statusEvent(ctx(), status));
      }
      // An IP phone or a mobile needs no SIP registration here: the phone is ready with the bridge.
      if (status.deviceType !== 1 && !registered) {
        registered = true;
        post(registrationEvent("OnRegistered", ctx(), status.deviceType));
      }
    };
    bridge.on("state", (msg) => {
      Object.assign(status, { ready: Boolean(msg.ready), deviceType: Number(msg.device_type) || 1, mobile: msg.mobile ?? null, voice: Boolean(msg.voice) });
      changed();
    });
    bridge.on("status", (msg) => {
      status.ready = Boolean(msg.ready);
      changed();
    });
    bridge.on("device", (msg) => {
      Object.assign(status, { deviceType: Number(msg.device_type) || 1, mobile: msg.mobile ?? null });
      changed();
    });
    bridge.on("voice", (msg) => {
      status.voice = Boolean(msg.enabled);
      changed();
    });
  });
  events.on("registered", () => {
    registered = true;
    post(registrationEvent("OnRegistered", ctx(), 1));
  });
  events.on("unregistered", () => {
    if (!registered) return;
    registered = false;
    post(registrationEvent("OnUnregistered", ctx(), 1));
  });
  events.on("ringing", (call) => once("OnCallRinging", call));
  events.on("answered", (call) => once("OnCallAnswer", call));
  events.on("calloutError", (call) => {
    failures.set(idOf(call), { errorCode: call.errorCode, sipCode: call.sipCode ?? null });
  });
  events.on("ended", (call) => {
    const failure = failures.get(idOf(call));
    failures.delete(idOf(call));
    once("OnCallEnd", call, failure ?? {});
  });

  function once(type, call, extra = {}) {
    const key = `${type}:${idOf(call)}`;
    if (sent.has(key)) return;
    sent.add(key);
    if (sent.size > 200) sent.delete(sent.values().next().value);
    post(callEvent(type, call, ctx(), extra));
  }

  function ctx() {
    return { ...context, now: Date.now() };
  }

  return {
    origin,
    /** The page can serve a login now: serve one that arrived early. */
    ready() {
      canLogin = true;
      if (pendingLogin) {
        const { domain, token } = pendingLogin;
        pendingLogin = null;
        webphone.login(domain, token);
      }
    },
  };
}

function idOf(call) {
  return call.callid || call.sipCallId || call.requestId || "";
}
