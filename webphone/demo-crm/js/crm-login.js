// Stands for what the CRM's server prints into the page: csInit('<token it minted>', '<domain>').
// A static demo has no server to print it, so it asks the local stack's /dev/token route synchronously,
// keeping the seeds' order: csInit runs in <head>, before the body exists.
(function () {
  var ipphone = new URLSearchParams(location.search).get("ipphone") || "101";
  var request = new XMLHttpRequest();
  request.open("GET", "/dev/token?ipphone=" + encodeURIComponent(ipphone), false);
  request.send();
  var minted = JSON.parse(request.responseText);
  window.demoIpphone = ipphone;
  csInit(minted.token, minted.domain);
})();
