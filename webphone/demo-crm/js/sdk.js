// The modern API of ctibridge.js: one object, events with on(), a promise for every command.

import { demoAgent, devToken, logLine } from "./dev-token.js";

const $ = (id) => document.getElementById(id);
const phone = window.CTIBridge;
const log = (text) => logLine($("events"), text);
window.crmEvents = [];

for (const name of ["ready", "ringing", "callout", "progress", "answered", "ended", "calloutError", "voice", "status", "device", "registered", "unregistered", "reconnecting", "disconnected", "transferRequest", "transferResponse", "transferSuccess", "transferError", "error"]) {
  phone.on(name, (...args) => {
    window.crmEvents.push({ name, args });
    log(`${name} ${args.map((a) => JSON.stringify(a)).join(" ")}`);
  });
}

phone.on("registered", () => ($("phone-state").textContent = "ready"));
phone.on("unregistered", () => ($("phone-state").textContent = "off"));
phone.on("status", (ready) => ($("ready").textContent = ready ? "Ready ✓" : "Not ready"));
phone.on("voice", (enabled) => ($("voice").hidden = enabled));
phone.on("ringing", (call) => {
  $("phone-state").textContent = `ringing: ${call.phone}${call.contact?.name ? ` (${call.contact.name})` : ""}`;
  controls({ answer: true, hangup: true });
});
phone.on("callout", (call) => {
  $("phone-state").textContent = `calling ${call.phone}…`;
  controls({ hangup: true });
});
phone.on("answered", () => {
  $("phone-state").textContent = "in a call";
  controls({ hangup: true, hold: true, mute: true, transfer: true });
});
phone.on("ended", () => {
  $("phone-state").textContent = "ready";
  controls({});
});
phone.on("transferRequest", (offer) => {
  $("offer-text").textContent = `Agent ${offer.dropAgentId} wants to hand you a call from ${offer.phone ?? "a customer"}.`;
  $("offer").hidden = false;
});
phone.on("transferClosed", () => ($("offer").hidden = true));

function controls(enabled) {
  for (const id of ["answer", "hangup", "hold", "mute", "transfer"]) $(id).disabled = !enabled[id];
}

// Errors of commands are shown, never swallowed.
const run = (promise) => promise.catch((error) => log(`✗ ${error.code ?? ""} ${error.message}`));

$("ready").addEventListener("click", () => run(phone.setReady(!phone.status.ready)));
$("voice").addEventListener("click", () => run(phone.enableVoice()));
$("dial-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(phone.call($("dial-number").value));
});
$("answer").addEventListener("click", () => run(phone.answer()));
$("hangup").addEventListener("click", () => run(phone.hangup()));
$("hold").addEventListener("click", () => phone.toggleHold());
$("mute").addEventListener("click", () => phone.toggleMute());
$("agents").addEventListener("click", () =>
  run(
    phone.listAgents().then((agents) => {
      $("agent-list").replaceChildren(...agents.map((a) => new Option(`${a.display_name} (${a.ipphone})`, a.ipphone)));
    }),
  ),
);
$("transfer").addEventListener("click", () =>
  run(phone.transferToAgent($("agent-list").value).then((result) => log(`transfer: ${result.status}`))),
);
$("offer-accept").addEventListener("click", () => run(phone.respondTransfer(true)));
$("offer-reject").addEventListener("click", () => run(phone.respondTransfer(false)));

const ipphone = demoAgent();
$("agent").textContent = ipphone;
try {
  const { token, domain } = await devToken(ipphone);
  await phone.init({ token, domain });
  $("phone-state").textContent = phone.status.voice ? "registering…" : "voice is in another tab";
} catch (error) {
  $("phone-state").textContent = `login failed: ${error.code ?? ""} ${error.message}`;
}
