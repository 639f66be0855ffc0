// The CRM's custom.js, as the VCC/3C demos write it: every event of the phone is a global function.
// Written only against the vendors' names; it works unchanged with ctibridge.js. This CRM does not
// care which device calls ring on, so it leaves csShowDeviceType out: a missing callback is skipped.

var csEvents = [];

function crmLog(name, args) {
  csEvents.push({ name: name, args: Array.prototype.slice.call(args) });
  var log = document.getElementById("log");
  if (!log) return; // csInit runs in <head>: early events come before the body exists
  var item = document.createElement("li");
  item.textContent = new Date().toLocaleTimeString() + "  " + name + "(" + Array.prototype.map.call(args, function (a) { return JSON.stringify(a); }).join(", ") + ")";
  log.insertBefore(item, log.firstChild);
}

function setText(id, text) {
  var element = document.getElementById(id);
  if (element) element.textContent = text;
}

function setTransferButtons(enabled) {
  ["btn-transfer", "btn-transfer-queue"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) button.disabled = !enabled;
  });
}

function csInitComplete() {
  crmLog("csInitComplete", arguments);
  // As the seeds' demo: take voice in this tab if another one does not have it.
  if (!csVoice.enableVoice) csEnableCall();
}
function csInitError(errorCode) { crmLog("csInitError", arguments); }
function csCallRinging(phone) { crmLog("csCallRinging", arguments); setText("voice-state", "ringing: " + phone); }
function csCurrentCallId(callId) { crmLog("csCurrentCallId", arguments); }
function csAcceptCall() { crmLog("csAcceptCall", arguments); setTransferButtons(true); }
function csEndCall() { crmLog("csEndCall", arguments); setTransferButtons(false); }
function csMuteCall() { crmLog("csMuteCall", arguments); }
function csUnMuteCall() { crmLog("csUnMuteCall", arguments); }
function csHoldCall() { crmLog("csHoldCall", arguments); }
function csUnHoldCall() { crmLog("csUnHoldCall", arguments); }
function showCalloutInfo(number) { crmLog("showCalloutInfo", arguments); }
function showCalloutError(errorCode, sipCode) { crmLog("showCalloutError", arguments); }
function csCustomerAccept() { crmLog("csCustomerAccept", arguments); setTransferButtons(true); }
function csShowEnableVoice(isEnable) { crmLog("csShowEnableVoice", arguments); setText("voice-state", isEnable ? "yes" : "no"); }
function csShowCallStatus(status) { crmLog("csShowCallStatus", arguments); setText("call-status", status); }
function csListTransferAgent(listTransferAgent) {
  crmLog("csListTransferAgent", arguments);
  var select = document.getElementById("transfer-agent");
  if (!select) return;
  select.innerHTML = "";
  listTransferAgent.forEach(function (agent) {
    select.appendChild(new Option(agent.display_name + " (" + agent.ipphone + ")", agent.ipphone));
  });
}
function csTransferCallError(error, tranferedAgentInfo) { crmLog("csTransferCallError", arguments); }
function csTransferCallSuccess(tranferedAgentInfo) { crmLog("csTransferCallSuccess", arguments); }
function csNewCallTransferRequest(transferCall) {
  crmLog("csNewCallTransferRequest", arguments);
  setText("transfer-offer-text", "Agent " + transferCall.dropAgentId + " transfers a call to you.");
  var offer = document.getElementById("transfer-offer");
  if (offer) offer.hidden = false;
}
// Both sides: the requester hears the answer; the target, that its request is closed (answered here
// or in another tab, or unanswered for 10 s): the offer goes away, as the vendors' demo does.
function csTransferCallResponse(status) {
  crmLog("csTransferCallResponse", arguments);
  var offer = document.getElementById("transfer-offer");
  if (offer) offer.hidden = true;
}
function csNotifyReconnecting(retryNo, totalRetry) { crmLog("csNotifyReconnecting", arguments); }
function csOndisconnected() { crmLog("csOndisconnected", arguments); }

// The seeds' unload rule: unregister, and give the device back if this tab held voice.
window.addEventListener("pagehide", function () {
  csUnregister();
  if (csVoice.enableVoice) reConfigDeviceType();
});
