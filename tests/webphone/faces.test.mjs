// The faces over the phone core translate only: each one's call-out goes by the core's rule. Seed 003's
// iframe CRM posting OutboundCallRequest for an agent on an IP phone gets the bridge's click-to-call on
// that phone (it used to get OnCallFailed IPCC_NOT_CONNECT_AGENT_ID), as the SDK, the VCC/3C and the
// Alohub names do.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { startEmbed } from "../../webphone/js/embed.js";
import { installAlohubCompat } from "../../webphone/sdk/alohub.js";
import { CTIBridgeClient } from "../../webphone/sdk/client.js";
import { installVccCompat } from "../../webphone/sdk/vcc.js";
import { FakeSip, loggedInCore, replyTo, settle } from "./fakes.mjs";

const CRM = "https://crm.shop.vn";
const NUMBER = "0987654321";

/** The webphone's window inside the CRM's iframe: what it posts to the CRM, and how the CRM posts to it. */
function framedWindow(origin = CRM) {
  const listeners = [];
  const posted = [];
  const parent = { postMessage: (message, targetOrigin) => posted.push({ ...message, targetOrigin }) };
  const win = {
    location: { search: `?origin=${encodeURIComponent(origin)}`, ancestorOrigins: [origin] },
    document: { referrer: "" },
    parent,
    addEventListener: (type, listener) => type === "message" && listeners.push(listener),
  };
  const fromCrm = (data) => listeners.forEach((listener) => listener({ source: parent, origin, data }));
  return { win, posted, fromCrm, types: () => posted.map((m) => m.type) };
}

async function acceptCallout(bridge, requestId = "req-ip-1") {
  await replyTo(bridge, "callout", { type: "callout.accepted", request_id: requestId, phone: NUMBER, route: "softphone", status: "accepted" });
  await settle();
}

describe("iframe mode (seed 003)", () => {
  test("OutboundCallRequest on an IP-phone agent goes through the bridge's click-to-call", async () => {
    // Given seed 003's CRM page framing the webphone of an agent whose calls ring on an IP phone
    const frame = framedWindow();
    const { bridge } = await loggedInCore({
      deviceType: 2,
      allowedOrigins: [CRM],
      attach: (core) => startEmbed({ core, login: () => {}, logout: () => {} }, { win: frame.win }),
    });
    // Then the phone is ready for the CRM with the bridge (no SIP registration in the browser)
    assert.deepEqual(frame.types(), ["OnStatusChanged", "OnRegistered"]);
    assert.equal(frame.posted[1].data.deviceType, 2);
    assert.ok(frame.posted.every((m) => m.targetOrigin === CRM));
    // When the CRM asks for a call out, exactly as the seed's sample does
    frame.fromCrm({ type: "OutboundCallRequest", data: { target: NUMBER } });
    await acceptCallout(bridge);
    // Then the bridge's click-to-call places it on the agent's IP phone, and nothing failed
    assert.deepEqual(bridge.actions("callout"), [{ action: "callout", phone: NUMBER }]);
    assert.ok(!frame.types().includes("OnCallFailed"), frame.types());
    // And when the PBX reports the call (outgoing, answered, its log), the CRM hears its answer and end
    bridge.receive({ type: "call.outgoing", callid: "pbx-out-1", phone: NUMBER });
    bridge.receive({ type: "call.state", state: "in_call", callid: "pbx-out-1" });
    bridge.receive({ type: "call.ended", callid: "pbx-out-1", phone: NUMBER, status: "ANSWERED", billsec: 12 });
    const calls = frame.posted.filter((m) => m.type.startsWith("OnCall"));
    assert.deepEqual(calls.map((m) => m.type), ["OnCallAnswer", "OnCallEnd"]);
    assert.ok(calls.every((m) => m.data.interactionID === "pbx-out-1"));
    assert.equal(calls[0].data.calleeIdNumber, NUMBER);
  });

  test("the bridge refuses (the IP phone is not registered): OnCallFailed with the seed's code", async () => {
    const frame = framedWindow();
    const { bridge } = await loggedInCore({
      deviceType: 2,
      allowedOrigins: [CRM],
      attach: (core) => startEmbed({ core, login: () => {}, logout: () => {} }, { win: frame.win }),
    });
    frame.fromCrm({ type: "OutboundCallRequest", data: { target: NUMBER } });
    for (let i = 0; i < 50 && !bridge.actions("callout").length; i += 1) await settle();
    bridge.receive({ type: "error", action: "callout", code: "IPCC_NOT_CONNECT_AGENT_ID", message: "Your IP phone is not registered." });
    await settle();
    const failed = frame.posted.find((m) => m.type === "OnCallFailed");
    assert.deepEqual(
      { target: failed.data.target, errorCode: failed.data.errorCode, sipCode: failed.data.sipCode },
      { target: NUMBER, errorCode: "IPCC_NOT_CONNECT_AGENT_ID", sipCode: null },
    );
  });

  test("a browser agent's call-out: OnCallRinging when the customer rings, then answer and end, once each", async () => {
    const frame = framedWindow();
    const { bridge, sip } = await loggedInCore({
      allowedOrigins: [CRM],
      attach: (core) => startEmbed({ core, login: () => {}, logout: () => {} }, { win: frame.win }),
    });
    frame.fromCrm({ type: "OutboundCallRequest", data: { target: NUMBER } });
    await settle();
    assert.equal(bridge.actions("callout").length, 0);
    sip.emit("progress", sip.call, { sipCode: 183 });
    sip.emit("progress", sip.call, { sipCode: 180 });
    sip.accept();
    sip.hangup();
    const calls = frame.posted.filter((m) => m.type.startsWith("OnCall"));
    assert.deepEqual(calls.map((m) => m.type), ["OnCallRinging", "OnCallAnswer", "OnCallEnd"]);
    assert.equal(calls[0].data.callerIdNumber, "101");
  });

  test("the SIP INVITE before the PBX's popup: one interactionID in every event of the call", async () => {
    // Given seed 003's CRM framing a browser agent's webphone
    const frame = framedWindow();
    const { core, bridge, sip } = await loggedInCore({
      allowedOrigins: [CRM],
      attach: (core) => startEmbed({ core, login: () => {}, logout: () => {} }, { win: frame.win }),
    });
    // When a customer's INVITE reaches the phone first, and the PBX's popup (its callid) comes after it
    sip.ring({ phone: "0901234567", callId: "sip-leg-1" });
    bridge.receive({ type: "call.ringing", callid: "pbx-in-1", phone: "0901234567", direction: "inbound" });
    // and the agent answers, then hangs up
    const answering = core.answer();
    sip.accept();
    await answering;
    sip.hangup();
    // Then the CRM can key the whole interaction by one id, as the seed's events are
    const calls = frame.posted.filter((m) => m.type.startsWith("OnCall"));
    assert.deepEqual(calls.map((m) => m.type), ["OnCallRinging", "OnCallAnswer", "OnCallEnd"]);
    assert.deepEqual(calls.map((m) => m.data.interactionID), ["sip-leg-1", "sip-leg-1", "sip-leg-1"]);
    // and the customer's call is the PBX's once known
    assert.equal(calls[1].data.callId, "pbx-in-1");
  });

  test("nothing is posted to a CRM the tenant did not allow, and its requests are ignored", async () => {
    const frame = framedWindow("https://evil.example");
    const { bridge } = await loggedInCore({
      deviceType: 2,
      allowedOrigins: [CRM],
      attach: (core) => startEmbed({ core, login: () => {}, logout: () => {} }, { win: frame.win }),
    });
    frame.fromCrm({ type: "OutboundCallRequest", data: { target: NUMBER } });
    await settle();
    assert.deepEqual(frame.posted, []);
    assert.equal(bridge.actions("callout").length, 0);
  });
});

describe("the SDK, VCC/3C and Alohub faces", () => {
  test("CTIBridge.call on an IP-phone agent: the bridge's click-to-call", async () => {
    const { core, bridge } = await loggedInCore({ deviceType: 2 });
    const client = new CTIBridgeClient({ phone: core });
    const placing = client.call(NUMBER);
    await acceptCallout(bridge, "req-sdk");
    assert.deepEqual(await placing, { phone: NUMBER, requestId: "req-sdk", route: "softphone" });
  });

  test("csCallout on an IP-phone agent: showCalloutInfo, through the bridge's click-to-call", async () => {
    const { core, bridge } = await loggedInCore({ deviceType: 2 });
    const client = new CTIBridgeClient({ phone: core });
    const seen = [];
    const win = { showCalloutInfo: (phone) => seen.push(["showCalloutInfo", phone]), showCalloutError: (...args) => seen.push(["showCalloutError", ...args]) };
    installVccCompat(client, win);
    win.csCallout(NUMBER);
    await acceptCallout(bridge, "req-vcc");
    assert.deepEqual(bridge.actions("callout"), [{ action: "callout", phone: NUMBER }]);
    assert.deepEqual(seen, [["showCalloutInfo", NUMBER]]);
    assert.equal(win.csVoice.isCallout, true);
    // A wrong number is refused as cs_voice.js refuses it, without asking the bridge
    win.csCallout("12ab");
    assert.deepEqual(seen.at(-1), ["showCalloutError", "ERROR_CALLOUT_CONNECT", null]);
    assert.equal(bridge.actions("callout").length, 1);
  });

  test("Alohub's onCall on an IP-phone agent: the bridge's click-to-call", async () => {
    const { core, bridge } = await loggedInCore({ deviceType: 2 });
    const client = new CTIBridgeClient({ phone: core });
    const elements = { txtPhoneNumber: { value: NUMBER } };
    const win = { document: { getElementById: (id) => elements[id] ?? null } };
    installAlohubCompat(client, win);
    win.onCall();
    await acceptCallout(bridge, "req-alohub");
    assert.deepEqual(bridge.actions("callout"), [{ action: "callout", phone: NUMBER }]);
  });
});

/**
 * A CRM page's custom.js as the VCC / 3C demos write it: callbacks that record themselves, and the
 * demo's csInitComplete (`if (!csVoice.enableVoice) csEnableCall();`), over a logged-in core.
 */
async function vendorCrm(options = {}) {
  const seen = [];
  const win = {};
  const names = ["csShowEnableVoice", "csShowCallStatus", "csShowDeviceType", "csNotifyReconnecting", "csNewCallTransferRequest", "csTransferCallResponse", "csTransferCallError", "csTransferCallSuccess", "csOndisconnected", "showCalloutInfo", "showCalloutError", "csCallRinging", "csAcceptCall", "csCustomerAccept"];
  for (const name of names) win[name] = (...args) => seen.push([name, ...args]);
  // What a CRM reads when the call ends: the live call's info, the id to file its notes under
  win.csEndCall = () => seen.push(["csEndCall", win.csVoice.callInfo, win.getCurrentCallId()]);
  win.csInitComplete = () => {
    seen.push(["csInitComplete"]);
    if (!win.csVoice.enableVoice) win.csEnableCall();
  };
  const setup = await loggedInCore({ ...options, attach: (core) => installVccCompat(new CTIBridgeClient({ phone: core }), win) });
  return { ...setup, win, named: (name) => seen.filter(([n]) => n === name).map(([, ...args]) => args) };
}

describe("the VCC/3C callbacks at the vendors' moments (seeds 001/002)", () => {
  test("after a reconnection csInitComplete comes again, voice still in this tab: the phone is taken back once, not restarted", async () => {
    // Given the demo's page holding voice in the browser
    const { bridge, win, named } = await vendorCrm();
    assert.equal(win.csVoice.enableVoice, true);
    // When its socket drops and comes back, while the bridge still counts the dead socket as the holder
    bridge.state = "reconnecting";
    bridge.emit("close", { code: 1006, reason: "", willReconnect: true });
    bridge.emit("reconnecting", 1, 20, 1000);
    bridge.connect();
    bridge.receive({ type: "state", ready: true, voice: false, voice_tab: "tab-1", device_type: 1, mobile: null, call: { state: "idle" } });
    // Then the core asks for voice back and the page never hears it lost it (a call in progress goes
    // on): csInitComplete comes again, where the demo finds csVoice.enableVoice and asks nothing more
    assert.deepEqual(named("csNotifyReconnecting"), [[1, 20]]);
    assert.deepEqual(named("csShowEnableVoice"), [[true]]);
    assert.equal(named("csInitComplete").length, 1);
    assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }]);
    // And once the bridge gives it, calls ring in the same browser phone, never stopped
    bridge.receive({ type: "voice", enabled: true, holder_tab: "tab-1" });
    assert.equal(win.csVoice.enableVoice, true);
    assert.equal(FakeSip.instances.length, 1);
    assert.equal(FakeSip.last.registered, true);
  });

  for (const [how, end] of [
    ["the bridge revokes the session (a logout elsewhere)", ({ bridge }) => bridge.receive({ type: "session.revoked", reason: "logout" })],
    ["the session cannot be refreshed any more", ({ core }) => core.session.emit("expired", { code: "SESSION_EXPIRED", message: "expired" })],
  ]) {
    test(`${how}: csOndisconnected, and csVoice goes offline`, async () => {
      // Given the demo's page online with voice
      const setup = await vendorCrm();
      const { win, named } = setup;
      assert.deepEqual([win.csVoice.enableVoice, win.csVoice.callStatus], [true, "Online"]);
      // When the session ends for good
      end(setup);
      await settle();
      // Then the page hears that nothing will reconnect, and reads an offline phone
      assert.deepEqual(named("csOndisconnected"), [[]]);
      assert.deepEqual([win.csVoice.enableVoice, win.csVoice.callStatus, win.csVoice.hasCall], [false, "Offline", false]);
    });
  }

  test("the transfer's target hears csTransferCallResponse once it answered, and when its 10 s ran out", async (t) => {
    // Given a transfer offered to this agent (the demo enables its Accept/Reject buttons)
    const { bridge, win, named } = await vendorCrm();
    bridge.receive({ type: "transfer.request", transfer_id: "tr-1", from_ipphone: "101", from_name: "An", callid: "pbx-o", phone: NUMBER, deadline: 0 });
    assert.equal(named("csNewCallTransferRequest")[0][0].dropAgentId, "101");
    // When the agent accepts (the demo's responseTransferAgent(1)) and the bridge settles it
    win.responseTransferAgent(1);
    await replyTo(bridge, "transfer.respond", { type: "transfer.closed", transfer_id: "tr-1", status: "accepted" });
    // Then csTransferCallResponse("OK"): the demo disables its buttons there
    assert.deepEqual(named("csTransferCallResponse"), [["OK"]]);
    // When a second offer gets no answer for 10 s (the seed's auto-reject)
    t.mock.timers.enable({ apis: ["setTimeout"] });
    bridge.receive({ type: "transfer.request", transfer_id: "tr-2", from_ipphone: "103", from_name: "Bình", deadline: 0 });
    t.mock.timers.tick(10_000);
    assert.deepEqual(bridge.actions("transfer.respond").at(-1), { action: "transfer.respond", transfer_id: "tr-2", accept: false });
    bridge.receive({ type: "transfer.closed", transfer_id: "tr-2", status: "rejected" });
    // Then NOK; and a transfer this tab never showed says nothing
    bridge.receive({ type: "transfer.closed", transfer_id: "tr-other", status: "cancelled" });
    assert.deepEqual(named("csTransferCallResponse"), [["OK"], ["NOK"]]);
  });

  test("a call-out in csVoice, and the vendors' other helpers: isCsCallout(), getCurrentCsVoiceCallStatus(), sendDTMF()", async () => {
    // Given the demo's page calling a customer from this tab's browser phone, answered
    const { sip, win } = await vendorCrm();
    assert.equal(win.isCsCallout(), false);
    win.csCallout(NUMBER);
    assert.deepEqual([win.csVoice.isRinging, win.csVoice.callInfo.callDirection], [true, 2]);
    sip.accept();
    assert.deepEqual([win.csVoice.isRinging, win.csVoice.isAnswering], [false, true]);
    // Then cs_voice.js's helpers answer, and the dial pad's digits go into the call
    assert.deepEqual([win.isCsCallout(), win.getCurrentCsVoiceCallStatus()], [true, "Online"]);
    const tones = [];
    sip.sendDTMF = (digits) => tones.push(digits) > 0;
    win.sendDTMF(5);
    assert.deepEqual(tones, ["5"]);
  });

  test("in csEndCall the call is over (no csVoice.callInfo) and getCurrentCallId() still names it", async () => {
    // Given a customer's call answered in this tab's browser phone
    const { core, bridge, sip, win, named } = await vendorCrm();
    bridge.receive({ type: "call.ringing", callid: "pbx-e", phone: NUMBER, direction: "inbound" });
    sip.ring({ phone: NUMBER });
    assert.equal(win.csVoice.callInfo.callId, "pbx-e");
    const answering = core.answer();
    sip.accept();
    await answering;
    // When it ends
    sip.hangup();
    // Then, as cs_voice.js has it: callInfo is gone, the call's id is still there for the CRM's notes
    assert.deepEqual(named("csEndCall"), [[null, "pbx-e"]]);
    assert.equal(win.csVoice.hasCall, false);
  });

  test("a tab without voice hears no call but its own call-out: a CRM open in several tabs pops up once", async () => {
    // Given the demo's page in a tab of the agent that does not hold voice (another tab does)
    const { bridge, win, named } = await vendorCrm({ voice: false });
    // When a customer's call rings the agent, is answered (in the voice tab) and ends
    bridge.receive({ type: "call.ringing", callid: "pbx-m", phone: NUMBER, direction: "inbound" });
    bridge.receive({ type: "call.state", state: "in_call", callid: "pbx-m" });
    bridge.receive({ type: "call.ended", callid: "pbx-m", phone: NUMBER, status: "ANSWERED", billsec: 5 });
    // Then this tab says nothing of it, as cs_voice.js in a tab without voice (the voice tab does)
    assert.deepEqual([named("csCallRinging"), named("csAcceptCall"), named("csEndCall")], [[], [], []]);
    assert.equal(win.csVoice.hasCall, false);
    // When this tab calls a customer (the bridge places it on the agent's device)
    win.csCallout(NUMBER);
    await replyTo(bridge, "callout", { type: "callout.accepted", request_id: "req-m", phone: NUMBER, route: "browser", status: "accepted" });
    await settle();
    // Then it is announced here, and followed to its end
    assert.deepEqual(named("showCalloutInfo"), [[NUMBER]]);
    bridge.receive({ type: "call.outgoing", callid: "pbx-o2", phone: NUMBER });
    bridge.receive({ type: "call.state", state: "in_call", callid: "pbx-o2" });
    bridge.receive({ type: "call.ended", callid: "pbx-o2", phone: NUMBER, status: "ANSWERED", billsec: 3 });
    assert.deepEqual(named("csCustomerAccept"), [[]]);
    assert.equal(named("csEndCall").length, 1);
  });

  test("csCallout during a call is ignored, as cs_voice.js does, not answered CALLOUT_AGENT_BUSY", async () => {
    // Given the demo's page calling a customer from this tab's browser phone
    const { sip, win, named } = await vendorCrm();
    win.csCallout(NUMBER);
    assert.deepEqual(named("showCalloutInfo"), [[NUMBER]]);
    // When the agent clicks the call-out button again
    win.csCallout(NUMBER);
    await settle();
    // Then nothing is dialed and no error tells the agent to log out and in again (the seed's 786 text)
    assert.equal(sip.dialed.length, 1);
    assert.deepEqual(named("showCalloutError"), []);
  });

  test("a transfer to a queue (csTransferCallAcd) is answered by csTransferCallResponse", async () => {
    // Given a call answered in this tab's browser phone
    const { bridge, sip, win, named } = await vendorCrm();
    bridge.receive({ type: "call.ringing", callid: "pbx-q", phone: NUMBER, direction: "inbound" });
    sip.ring({ phone: NUMBER });
    sip.accept();
    // When the CRM sends it to a queue and the call is handed over
    win.csTransferCallAcd("sales");
    await replyTo(bridge, "transfer.queue", { type: "transfer.target", queue_id: "sales", target: "8001" });
    for (let i = 0; i < 10 && !sip.transfers.length; i += 1) await settle();
    sip.emit("transferRequested", sip.call);
    await settle();
    // Then csTransferCallResponse("OK"), as 3C's ACD transfer answers
    assert.deepEqual(sip.transfers, ["8001"]);
    assert.deepEqual(named("csTransferCallResponse"), [["OK"]]);
    assert.deepEqual(named("csTransferCallError"), []);
  });
});
