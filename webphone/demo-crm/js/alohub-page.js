// An Alohub JSPhone page on CTI Bridge: the buttons call JSPhone's functions (defined by ctibridge.js);
// what JSPhone typed into a login form (SIP server, identity, password) now comes with the CRM's token.

import { demoAgent, devToken } from "./dev-token.js";

const $ = (id) => document.getElementById(id);
$("btnClickCall").addEventListener("click", () => onCall());
$("btnRegister").addEventListener("click", () => onRegister());
$("btnAnswer").addEventListener("click", () => onAnswer());
$("btnHangUpCalling").addEventListener("click", () => onHangUp());
$("btnHangUp").addEventListener("click", () => onHangUp());

CTIBridge.on("registered", () => ($("phone-state").textContent = "ready"));
CTIBridge.on("unregistered", () => ($("phone-state").textContent = "off"));
try {
  const { token, domain } = await devToken(demoAgent());
  await CTIBridge.init({ token, domain });
  onRegister(); // JSPhone's "connect to the PBX": here, take voice in this tab
} catch (error) {
  $("phone-state").textContent = `login failed: ${error.message}`;
}
