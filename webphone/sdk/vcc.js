// FACE: the VCC/3C globals (seeds 001/002), over the SDK client (client.js) and so over the phone core.
// Compatibility with the VCC and 3C browser script (seeds 001/002, cs_voice.js): the global functions a
// CRM calls and the global callbacks it defines in its custom.js, on top of the SDK client.
//
// A CRM switches by replacing the vendor's <script> tags with ctibridge.js; its custom.js stays as is:
//
//   <script src="https://<webphone>/ctibridge.js"></script>
//   <script src="custom.js"></script>
//   <script>csInit(token, domain);</script>
//
// Callbacks are looked up on `window` when an event happens (custom.js loads after us and may define
// them late); one the CRM did not define is skipped quietly, one that throws is reported without
// stopping the SDK. A function we cannot honour says so with console.error, never silently.

import { ERROR_CODES } from "../js/callout-errors.js";

// cs_voice.js's rule for csCallout: 8-13 digits outside, 1-7 digits not starting with 0 inside.
const EXTERNAL = /^[0-9]{8,13}$/;
const INTERNAL = /^[1-9][0-9]{0,6}$/;
const SEED_LOGIN_STATUSES = new Set([400, 401, 404, 405, 500]);

/** Install csVoice, the seed's functions and its callbacks' wiring on `win`. */
export function installVccCompat(client, win = window) {
  const callback = (name, ...args) => {
    const fn = win[name];
    if (typeof fn !== "function") return; // the seed calls every callback; a CRM may define only some
    try {
      fn.apply(win, args);
    } catch (error) {
      // The CRM's bug: report it (console, window.onerror) without breaking the phone.
      setTimeout(() => {
        throw error;
      });
    }
  };
  const unsupported = (name, why) => console.error(`CTIBridge: ${name} is not supported: ${why}`);
  // Errors already reported through a callback are not repeated on the console.
  const settle = (name, promise) =>
    promise.catch((error) => {
      if (!error?.reported) console.warn(`CTIBridge: ${name}: ${error?.message ?? error}`);
    });
  const reported = (promise) =>
    promise.catch((error) => {
      if (error && typeof error === "object") error.reported = true;
      throw error;
    });

  // ------------------------------------------------------------------ csVoice (read by CRM code)
  const csVoice = {
    callInfo: null,
    callStatus: "Offline",
    enableVoice: false,
    hasCall: false,
    isRinging: false,
    isAnswering: false,
    isMute: false,
    isHold: false,
    deviceType: 1,
    isCallout: false,
    // cs_voice.js's current call id outlives the call (csEndCall may still ask it), callInfo does not.
    getCurrentCallId: () => csVoice.callInfo?.callId ?? lastCallId,
    isCsHasCall: () => csVoice.hasCall,
    makeStatusOnline: () => settle("makeStatusOnline", client.setReady(true)),
    makeStatusOffline: () => settle("makeStatusOffline", client.setReady(false)),
    getCurrentCallStatus: () => csVoice.callStatus,
  };
  win.csVoice = csVoice;
  let lastCallId = null;
  let placing = 0; // call-outs this tab's csCallout is placing
  // cs_voice.js runs the call callbacks in the tab holding voice only ("one tab calls and takes calls"):
  // a CRM open in several tabs must not pop the customer up, or log the call, in each of them. A call
  // this tab announced (csCallRinging, showCalloutInfo) is followed to its end, and a tab's own
  // call-out is announced there.
  const ours = () => csVoice.enableVoice || csVoice.hasCall || placing > 0;

  const callInfo = (call) => ({
    callId: call.callId,
    caller: call.phone,
    agentId: client.agent?.ipphone ?? null,
    line: null,
    callDirection: call.direction === "outbound" ? 2 : 1, // 1 inbound, 2 outbound (3 internal)
    callerName: call.contact?.name ?? null,
    startTime: call.startedAt,
    endTime: call.endedAt,
  });

  // ------------------------------------------------------------------ functions the CRM calls
  const functions = {
    csInit(token, domain) {
      client
        .init({ token, domain })
        .then(() => callback("csInitComplete"))
        .catch((error) => {
          // The seed's login codes are HTTP statuses (404 domain, 405 expired, 401 token, 400 ipphone,
          // 500); other failures (network, config) keep our code. The message follows, for humans.
          const code = SEED_LOGIN_STATUSES.has(error.status) ? error.status : error.code ?? "INIT_FAILED";
          console.warn(`CTIBridge: csInit failed: ${error.message}`);
          callback("csInitError", code, error.message);
        });
    },
    csEnableCall: () => settle("csEnableCall", client.enableVoice()),
    changeCallStatus: () => settle("changeCallStatus", client.setReady(!client.status.ready)),
    csCallout(number) {
      const digits = String(number ?? "").trim();
      if (!EXTERNAL.test(digits) && !INTERNAL.test(digits)) {
        console.warn(`CTIBridge: csCallout: wrong phone number "${digits}".`);
        callback("showCalloutError", ERROR_CODES.CONNECT, null);
        return;
      }
      if (client.currentCall) {
        // cs_voice.js ignores a call-out during a call (a second click on the CRM's button). Its
        // CALLOUT_AGENT_BUSY is the PBX's 786, whose text tells the agent to log out and in again.
        console.warn("CTIBridge: csCallout: there is a call already.");
        return;
      }
      // From this tab's phone when it holds voice; otherwise the bridge places it on the agent's device.
      placing += 1;
      settle("csCallout", reported(client.call(digits))).finally(() => {
        placing -= 1;
      });
    },
    onAcceptCall: () => settle("onAcceptCall", client.answer()),
    endCall: () => settle("endCall", client.hangup()),
    holdCall() {
      if (!client.toggleHold()) console.warn("CTIBridge: holdCall: there is no call in this tab's phone.");
    },
    muteCall() {
      if (!client.toggleMute()) console.warn("CTIBridge: muteCall: there is no call in this tab's phone.");
    },
    changeDevice(type, mobile) {
      const device = Number(type);
      if (device === 4 || device === 6) {
        unsupported(
          `changeDevice(${device})`,
          "CTI Bridge knows devices 1 (browser), 2 (IP phone or softphone, registered to the PBX) and 3 (mobile); an IP phone without login or the vendor's softphone is device 2.",
        );
        return;
      }
      settle("changeDevice", client.setDevice(device, mobile ?? null));
    },
    reConfigDeviceType: () => settle("reConfigDeviceType", client.resetDevice()),
    csUnregister: () => client.unregister(),
    getTransferAgent: () => settle("getTransferAgent", client.listAgents()),
    csTransferCallAgent: (ipphone) => settle("csTransferCallAgent", reported(client.transferToAgent(ipphone))),
    csTransferCallAcd: (queueId) => settle("csTransferCallAcd", reported(client.transferToQueue(queueId))),
    responseTransferAgent: (action) => settle("responseTransferAgent", client.respondTransfer(Number(action) === 1)),
    // cs_voice.js's helpers, as globals too.
    getCurrentCallId: csVoice.getCurrentCallId,
    isCsHasCall: csVoice.isCsHasCall,
    makeStatusOnline: csVoice.makeStatusOnline,
    makeStatusOffline: csVoice.makeStatusOffline,
    getCurrentCallStatus: csVoice.getCurrentCallStatus,
    getCurrentCsVoiceCallStatus: csVoice.getCurrentCallStatus,
    isCsCallout: () => csVoice.hasCall && csVoice.isCallout,
  };
  Object.assign(win, functions);
  // The vendors' init-3.0.7.js also has sendDTMF(digit) (a CRM's dial pad during a call); the name is
  // generic, so a page's own function of that name wins.
  if (typeof win.sendDTMF === "undefined") {
    win.sendDTMF = (digit) => {
      if (!client.sendDTMF(String(digit ?? ""))) console.warn("CTIBridge: sendDTMF: there is no call in this tab's phone.");
    };
  }

  // ------------------------------------------------------------------ events → the CRM's callbacks
  client.on("ringing", (call) => {
    if (!ours()) return;
    Object.assign(csVoice, { callInfo: callInfo(call), hasCall: true, isRinging: true, isAnswering: false, isCallout: false, isMute: false, isHold: false });
    callback("csCallRinging", call.phone);
    if (call.callId) callback("csCurrentCallId", call.callId);
  });
  client.on("callId", (call) => {
    if (!ours()) return;
    if (csVoice.callInfo) csVoice.callInfo.callId = call.callId;
    callback("csCurrentCallId", call.callId);
  });
  client.on("callout", (call) => {
    if (!ours()) return;
    // cs_voice.js: a call-out is "ringing" until the customer answers.
    Object.assign(csVoice, { callInfo: callInfo(call), hasCall: true, isRinging: true, isAnswering: false, isCallout: true, isMute: false, isHold: false });
    callback("showCalloutInfo", call.phone);
    if (call.callId) callback("csCurrentCallId", call.callId);
  });
  client.on("answered", (call) => {
    if (!ours()) return;
    Object.assign(csVoice, { callInfo: callInfo(call), isRinging: false, isAnswering: true });
    // The agent accepted an inbound call; the customer picked up an outbound one.
    callback(call.direction === "outbound" ? "csCustomerAccept" : "csAcceptCall");
  });
  client.on("ended", (call) => {
    if (!ours()) return;
    lastCallId = call.callId ?? lastCallId;
    // As cs_voice.js: no callInfo once the call is over (CRMs test `csVoice.callInfo` for a live call).
    Object.assign(csVoice, { callInfo: null, hasCall: false, isRinging: false, isAnswering: false, isCallout: false, isMute: false, isHold: false });
    callback("csEndCall");
  });
  client.on("calloutError", ({ errorCode, sipCode }) => callback("showCalloutError", errorCode, sipCode ?? null));
  client.on("mute", () => {
    csVoice.isMute = true;
    callback("csMuteCall");
  });
  client.on("unmute", () => {
    csVoice.isMute = false;
    callback("csUnMuteCall");
  });
  client.on("hold", () => {
    csVoice.isHold = true;
    callback("csHoldCall");
  });
  client.on("unhold", () => {
    csVoice.isHold = false;
    callback("csUnHoldCall");
  });
  client.on("voice", (enabled) => {
    csVoice.enableVoice = enabled;
    callback("csShowEnableVoice", enabled);
  });
  client.on("status", (ready) => {
    csVoice.callStatus = ready ? "Online" : "Offline";
    callback("csShowCallStatus", csVoice.callStatus);
  });
  client.on("device", (deviceType) => {
    csVoice.deviceType = deviceType;
    callback("csShowDeviceType", deviceType);
  });
  client.on("agents", (agents) => callback("csListTransferAgent", agents));
  client.on("transferRequest", (transferCall) => callback("csNewCallTransferRequest", transferCall));
  client.on("transferResponse", (status) => callback("csTransferCallResponse", status));
  // The target's side: its answer (or the 10 s auto-reject, or the requester giving up) closes the
  // request; the vendors' demo disables its Accept/Reject buttons in csTransferCallResponse.
  client.on("transferClosed", ({ status, offered }) => {
    if (offered) callback("csTransferCallResponse", status === "accepted" ? "OK" : "NOK");
  });
  client.on("transferSuccess", (info) => callback("csTransferCallSuccess", info));
  client.on("transferError", (code, info) => callback("csTransferCallError", code, info ?? null));
  client.on("reconnecting", (attempt, total) => callback("csNotifyReconnecting", attempt, total));
  // cs_voice.js logs in again after every reconnection and calls csInitComplete again: the vendors' demo
  // takes voice back there when the reconnection lost it.
  client.on("reconnected", () => callback("csInitComplete"));
  client.on("disconnected", () => callback("csOndisconnected"));
  // A session the bridge revoked (a logout elsewhere, an operator) or that expired reconnects no more:
  // the seed's word for that is csOndisconnected, and the state the CRM reads goes offline.
  client.on("sessionEnded", () => {
    Object.assign(csVoice, { enableVoice: false, callStatus: "Offline", hasCall: false, isRinging: false, isAnswering: false, isCallout: false, isMute: false, isHold: false });
    callback("csOndisconnected");
  });
  return csVoice;
}
