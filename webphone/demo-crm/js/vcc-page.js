// The demo's buttons call the seed's global functions directly, as the vendors' demo pages do.
(function () {
  function on(id, handler) {
    document.getElementById(id).addEventListener("click", handler);
  }
  document.getElementById("agent").textContent = window.demoIpphone || "";
  on("btn-enable", function () { csEnableCall(); });
  on("btn-status", function () { changeCallStatus(); });
  on("btn-device", function () { changeDevice(Number(document.getElementById("device").value)); });
  on("btn-callout", function () { csCallout(document.getElementById("phoneNumber").value); });
  on("btn-answer", function () { onAcceptCall(); });
  on("btn-end", function () { endCall(); });
  on("btn-hold", function () { holdCall(); });
  on("btn-mute", function () { muteCall(); });
  on("btn-agents", function () { getTransferAgent(); });
  on("btn-transfer", function () { csTransferCallAgent(document.getElementById("transfer-agent").value); });
  on("btn-transfer-queue", function () { csTransferCallAcd(document.getElementById("queue-id").value); });
  on("btn-transfer-accept", function () { document.getElementById("transfer-offer").hidden = true; responseTransferAgent(1); });
  on("btn-transfer-reject", function () { document.getElementById("transfer-offer").hidden = true; responseTransferAgent(0); });
})();
