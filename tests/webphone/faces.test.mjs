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
import { loggedInCore, settle } from "./fakes.mjs";

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
  for (let i = 0; i < 50 && !bridge.actions("callout").length; i += 1) await settle();
  bridge.receive({ type: "callout.accepted", request_id: requestId, phone: NUMBER, route: "softphone", status: "accepted" });
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
