// The SDK bundle: the faces of sdk/ (client.js, vcc.js, alohub.js) over the phone core (js/phone.js).
// ctibridge.js: the CTI Bridge SDK as one classic script (esbuild bundles this file, the webphone's
// modules and JsSIP into webphone/ctibridge.js; `npm run build:sdk`, run by `make install`).
//
//   <script src="https://<webphone host>/ctibridge.js"></script>
//
// - window.CTIBridge: the modern API (client.js): CTIBridge.init({token, domain}), on(...), promises.
// - the VCC/3C globals and callbacks (vcc.js): csInit(token, domain), csVoice, csCallRinging(phone)...
// - the Alohub JSPhone globals (alohub.js): onRegister(), onCall(), onAnswer(), onHangUp()...
//
// Where the bridge is: csInit(token, domain) takes no URL, so the script reads config.json
// ({httpApiUrl, websocketUrl}) from where it was loaded itself: https://<webphone host>/config.json, the
// file `make publish-webphone` writes (served with Access-Control-Allow-Origin: *). The URL is taken
// from document.currentScript while the script runs, so load it with a plain <script src> (not as a
// module, not injected later without `data-config`); <script src=... data-config="https://.../config.json">
// names another file, and CTIBridge.init({token, domain, httpApiUrl, websocketUrl}) needs none.
//
// Language of the SDK's messages (call-out errors, dial checks): <script ... data-language="vi"> or
// CTIBridge.setLanguage("vi"|"en"), else the browser's (navigator.language vi-* → Vietnamese), else English.

import { installAlohubCompat } from "./alohub.js";
import { CTIBridgeClient, TRANSFER_ERRORS } from "./client.js";
import { browserLanguages, getLanguage, pickLanguage, setLanguage } from "../js/i18n.js";
import { installVccCompat } from "./vcc.js";

// cs_voice.js (the same bundle at the vendors' path /js/embed/cs_voice.js) is built with
// __CTIBRIDGE_CONFIG_PATH__ = "/config.json": its config is at the host's root, not next to it.
const CONFIG_PATH = typeof __CTIBRIDGE_CONFIG_PATH__ === "string" ? __CTIBRIDGE_CONFIG_PATH__ : "config.json";

function configUrl() {
  const script = document.currentScript;
  if (!script?.src) return null;
  return script.dataset.config || new URL(CONFIG_PATH, script.src).href;
}

if (!window.CTIBridge) {
  setLanguage(pickLanguage({ chosen: document.currentScript?.dataset.language, browser: browserLanguages() }));
  const client = new CTIBridgeClient({ configUrl: configUrl() });
  client.TRANSFER_ERRORS = TRANSFER_ERRORS;
  client.setLanguage = (language) => setLanguage(language);
  Object.defineProperty(client, "language", { get: getLanguage, enumerable: true });
  window.CTIBridge = client;
  installVccCompat(client, window);
  installAlohubCompat(client, window);
} else {
  console.error("CTIBridge: ctibridge.js is loaded twice; the second copy does nothing.");
}
