// Iframe mode, as a CRM written for myCC (seed 003) does it; only the iframe's URL is CTI Bridge's.
// Differences from the seed's sample, both for safety: messages are accepted only from the webphone's
// origin and window, and sent to that origin, never to "*".

import { demoAgent, devToken, logLine } from "./dev-token.js";

const iframe = document.getElementById("iframeWebPhone");
const events = document.getElementById("events");
const state = document.getElementById("phone-state");
// The webphone this stack serves (on AWS: the WebphoneUrl output).
const webphone = new URL("../", location.href);
const webphoneOrigin = webphone.origin;

// Every event, for the page's log and for tests.
window.crmEvents = [];

window.addEventListener("message", (event) => {
  if (event.origin !== webphoneOrigin || event.source !== iframe.contentWindow) return;
  const message = event.data;
  if (!message || typeof message.type !== "string") return;
  window.crmEvents.push(message);
  logLine(events, `${message.type} ${message.data ? JSON.stringify(message.data) : ""}`);
  if (message.type === "OnRegistered") state.textContent = "ready";
  else if (message.type === "OnUnregistered") state.textContent = "off";
  else if (message.type === "OnCallRinging") state.textContent = `ringing: ${message.data.callerIdNumber ?? ""}`;
  else if (message.type === "OnCallAnswer") state.textContent = "in a call";
  else if (message.type === "OnCallEnd") state.textContent = "ready";
});

/** Auto-login: the CRM's agent is logged in, so the phone is too (a token the CRM's server minted). */
async function login() {
  try {
    const { token, domain } = await devToken(demoAgent());
    iframe.contentWindow.postMessage({ type: "ctibridge.login", token, domain }, webphoneOrigin);
  } catch (error) {
    state.textContent = `login failed: ${error.message}`;
  }
}

/** Click-to-call from the CRM (seed 003's OutboundCallRequest). */
function makeCall(target) {
  iframe.contentWindow.postMessage({ type: "OutboundCallRequest", data: { target } }, webphoneOrigin);
}

document.querySelectorAll("[data-call]").forEach((button) => {
  button.addEventListener("click", () => makeCall(button.dataset.call));
});
document.getElementById("dial-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = document.getElementById("dial-number").value.trim();
  if (number) makeCall(number);
});

// Auto-login once the webphone page is loaded (and again if it reloads).
iframe.addEventListener("load", login);
iframe.src = `${webphone.href}?origin=${encodeURIComponent(location.origin)}`;
