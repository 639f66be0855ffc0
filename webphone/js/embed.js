// FACE: iframe mode (issue 9, seed 003): the webphone inside a CRM page talks to it with postMessage.
// It translates the phone core's events (phone.js) into seed 003's messages and the CRM's requests into
// the core's commands; it holds no call state of its own.
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

import { msg } from "./i18n.js";
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
 * Start iframe mode: a face of the phone core (phone.js) toward the CRM. `core` is the PhoneCore;
 * `login(domain, token)` and `logout(message)` are the page's (they also draw the page). Answers
 * {ready()}: call it when a login can be served.
 */
export function startEmbed({ core, login, logout }, { win = window } = {}) {
  const { origin, problem } = embeddingOrigin(win);
  let verified = false; // the tenant allows `origin`
  let loginByParent = false;
  let pendingLogin = null;
  let canLogin = false;
  let context = {};
  let lastStatus = null;
  let registered = false;
  const sent = new Set(); // "type:interactionID": each call event once

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
      if (canLogin) login(message.domain, message.token);
      else pendingLogin = message;
      return;
    }
    if (!verified) return;
    if (message.type === "ctibridge.logout") {
      logout(msg("session.loggedOut"));
    } else if (message.type === "OutboundCallRequest") {
      const target = message.data?.target;
      if ((typeof target !== "string" && typeof target !== "number") || String(target).length > 32) return;
      // The core's call-out rule: this tab's phone, or the bridge's click-to-call on the agent's device.
      core.call(String(target)).catch((error) => {
        const failure = { errorCode: error.errorCode ?? error.code, sipCode: error.sipCode ?? null, message: error.message };
        post({ type: "OnCallFailed", data: { target: String(target), ...failure, timestamp: Date.now() } });
      });
    }
  });

  core.on("profile", (me) => {
    const sipUri = me.webphone?.sip_uri ?? null;
    const sipDomain = (sipUri ?? "").replace(/^sips?:/, "").split("@").pop() || null;
    context = { agent: me.agent, sipUri, sipDomain };
    const allowed = (me.embed?.allowed_origins ?? []).map(normalizeOrigin);
    verified = Boolean(origin) && allowed.includes(origin);
    registered = false;
    lastStatus = null;
    if (!verified && origin) {
      // Not a CRM of this call center: say nothing to it, and do not stay logged in on its behalf.
      console.warn(`CTI Bridge: ${origin} is not one of this call center's allowed origins.`);
      if (loginByParent) {
        logout(msg("embed.originRefused", { origin }));
      }
    }
  });
  core.on("loggingOut", () => {
    if (registered) post(registrationEvent("OnUnregistered", ctx(), 1));
    verified = false;
    registered = false;
  });
  core.on("agentStatus", ({ ready, deviceType, mobile, voice }) => {
    const status = { ready, deviceType, mobile, voice };
    const text = JSON.stringify(status);
    if (text !== lastStatus) {
      lastStatus = text;
      post(statusEvent(ctx(), status));
    }
    // An IP phone or a mobile needs no SIP registration here: the phone is ready with the bridge.
    if (deviceType !== 1 && !registered) {
      registered = true;
      post(registrationEvent("OnRegistered", ctx(), deviceType));
    }
  });
  core.on("registered", () => {
    registered = true;
    post(registrationEvent("OnRegistered", ctx(), 1));
  });
  core.on("unregistered", () => {
    if (!registered) return;
    registered = false;
    post(registrationEvent("OnUnregistered", ctx(), 1));
  });
  // A call rings the agent, or a call-out rings the customer.
  core.on("ringing", (call) => once("OnCallRinging", call));
  core.on("progress", (call) => once("OnCallRinging", call));
  core.on("answered", (call) => once("OnCallAnswer", call));
  core.on("ended", (call) => once("OnCallEnd", call, call.error ? { errorCode: call.error.errorCode, sipCode: call.error.sipCode ?? null } : {}));

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
        login(domain, token);
      }
    },
  };
}

function idOf(call) {
  return call.interactionId || call.callid || call.sipCallId || call.requestId || "";
}
