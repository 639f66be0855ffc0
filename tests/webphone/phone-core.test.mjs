// The phone core (webphone/js/phone.js) with fakes of the bridge, the SIP phone and the session: the
// call-out rule and its errors, the bridge's click-to-call, the SIP phone following voice and device,
// transfers (seed 002) and their outcomes, a revoked session.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FakeSip, loggedInCore, replyTo, settle } from "./fakes.mjs";

const NUMBER = "0987654321";

describe("the call-out rule", () => {
  test("this tab holds voice on device 1: the browser phone dials, the bridge is not asked", async () => {
    const { core, bridge, sip, named } = await loggedInCore();
    const call = await core.call("090 123-4567");
    assert.deepEqual(sip.dialed, [{ number: "0901234567", callId: null }]);
    assert.equal(bridge.actions("callout").length, 0);
    assert.equal(call.state, "dialing");
    assert.equal(call.inThisTab, true);
    assert.equal(named("callout").length, 1);
  });

  test("an IP-phone agent (device 2): the bridge's click-to-call places it on the agent's device", async () => {
    const { core, bridge, sip, named } = await loggedInCore({ deviceType: 2 });
    assert.equal(sip, null); // no SIP phone in this tab
    const placing = core.call(NUMBER);
    await replyTo(bridge, "callout", { type: "callout.accepted", request_id: "req-9", phone: NUMBER, route: "softphone", status: "accepted" });
    assert.deepEqual(await placing, { phone: NUMBER, requestId: "req-9", route: "softphone" });
    assert.deepEqual(bridge.actions("callout"), [{ action: "callout", phone: NUMBER }]);
    assert.equal(FakeSip.instances.filter((s) => s.dialed.length).length, 0);
    assert.equal(named("callout").at(-1)[0].requestId, "req-9");
    assert.equal(named("calloutError").length, 0);
  });

  test("voice held by another tab of the agent: the bridge has that tab dial", async () => {
    const { core, bridge } = await loggedInCore({ voice: false });
    const placing = core.call(NUMBER);
    await replyTo(bridge, "callout", { type: "callout.accepted", request_id: "req-10", phone: NUMBER, route: "browser", status: "accepted" });
    assert.equal((await placing).route, "browser");
  });

  test("call-out errors reject with the seeds' codes, after a calloutError event", async () => {
    const { core, bridge, sip, named } = await loggedInCore();
    await assert.rejects(core.call("12ab"), { code: "ERROR_CALLOUT_CONNECT", errorCode: "ERROR_CALLOUT_CONNECT" });
    // Busy: a call rings already
    sip.ring();
    await assert.rejects(core.call(NUMBER), { code: "CALLOUT_AGENT_BUSY" });
    sip.finish(sip.call, "failed", { cause: "Canceled" });
    // The browser phone lost its SIP server
    sip.connected = false;
    await assert.rejects(core.call(NUMBER), { code: "IPCC_NOT_CONNECT_AGENT_ID" });
    sip.connected = true;
    // JsSIP could not even start the call
    sip.failNextDial = Object.assign(new Error("You are already on a call."), { errorCode: "CALLOUT_AGENT_BUSY", sipCode: null });
    await assert.rejects(core.call(NUMBER), { code: "CALLOUT_AGENT_BUSY" });
    assert.equal(core.currentCall, null);
    assert.deepEqual(
      named("calloutError").map(([e]) => e.errorCode),
      ["ERROR_CALLOUT_CONNECT", "CALLOUT_AGENT_BUSY", "IPCC_NOT_CONNECT_AGENT_ID", "CALLOUT_AGENT_BUSY"],
    );
    assert.equal(bridge.actions("callout").length, 0);
  });

  test("the bridge refuses a click-to-call, or is down: the seeds' code", async () => {
    const { core, bridge } = await loggedInCore({ deviceType: 2 });
    const refused = core.call(NUMBER);
    await replyTo(bridge, "callout", { type: "error", action: "callout", code: "IPCC_NOT_CONNECT_AGENT_ID", message: "The IP phone is not registered." });
    await assert.rejects(refused, { code: "IPCC_NOT_CONNECT_AGENT_ID", message: "The IP phone is not registered." });
    bridge.state = "reconnecting";
    await assert.rejects(core.call(NUMBER), { code: "IPCC_NOT_CONNECT_AGENT_ID" });
  });

  test("not logged in: IPCC_NOT_CONNECT_AGENT_ID", async () => {
    const { core } = await loggedInCore();
    await core.stop({ logout: true });
    await assert.rejects(core.call(NUMBER), { code: "IPCC_NOT_CONNECT_AGENT_ID" });
  });
});

describe("the bridge's click-to-call (call.dial) in the voice tab", () => {
  test("dials with the CRM's Call-ID and reports ringing, then answered", async () => {
    const { bridge, sip, named } = await loggedInCore();
    bridge.receive({ type: "call.dial", request_id: "req-1", phone: NUMBER, call_id: "crm-123" });
    await settle();
    assert.deepEqual(sip.dialed, [{ number: NUMBER, callId: "crm-123" }]);
    assert.deepEqual(named("clickToCall"), [[{ phone: NUMBER, requestId: "req-1" }]]);
    sip.emit("progress", sip.call, { sipCode: 180 });
    sip.accept();
    assert.deepEqual(
      bridge.actions("callout.result").map((r) => [r.request_id, r.status, r.sip_code]),
      [["req-1", "ringing", 180], ["req-1", "answered", 200]],
    );
  });

  test("a dial that cannot be placed is reported failed, never bounced back to the bridge", async () => {
    const { core, bridge, named } = await loggedInCore({ deviceType: 2 });
    bridge.receive({ type: "call.dial", request_id: "req-2", phone: NUMBER, call_id: "crm-456" });
    await settle();
    assert.equal(bridge.actions("callout").length, 0);
    assert.deepEqual(bridge.actions("callout.result"), [
      { action: "callout.result", request_id: "req-2", status: "failed", error_code: "IPCC_NOT_CONNECT_AGENT_ID", sip_code: null },
    ]);
    assert.equal(named("clickToCallFailed")[0][0].errorCode, "IPCC_NOT_CONNECT_AGENT_ID");
    assert.equal(core.currentCall, null);
  });
});

describe("calls through the core", () => {
  test("answer() and hangup() settle with the call; a call not in this tab cannot be answered here", async () => {
    const { core, bridge, sip, tones } = await loggedInCore();
    bridge.receive({ type: "call.ringing", callid: "pbx-1", phone: "0901234567", direction: "inbound", contact: null });
    assert.equal(tones.last, "ring");
    await assert.rejects(core.answer(), { code: "NOT_SUPPORTED" }); // only the popup so far
    const leg = sip.ring({ phone: "0901234567" });
    const answering = core.answer();
    assert.equal(tones.last, "stop");
    sip.accept(leg);
    assert.equal((await answering).state, "in_call");
    assert.deepEqual(bridge.actions("callState"), [{ action: "callState", callid: "pbx-1", state: "in_call" }]);
    assert.equal((await core.hangup()).state, "ended");
    await assert.rejects(core.answer(), { code: "NO_CALL" });
    await assert.rejects(core.hangup(), { code: "NO_CALL" });
  });

  test("the SIP phone runs only while this tab holds voice on device 1", async () => {
    const { bridge, sip } = await loggedInCore();
    assert.equal(sip.registered, true);
    bridge.receive({ type: "device", device_type: 3, mobile: "0912345678" });
    assert.equal(sip.stopped, true);
    bridge.receive({ type: "device", device_type: 1, mobile: null });
    const again = FakeSip.last;
    assert.notEqual(again, sip);
    bridge.receive({ type: "voice", enabled: false, holder_tab: "tab-2" });
    assert.equal(again.stopped, true);
  });

  test("status events: voice, ready and device once at the first state, then on changes only", async () => {
    const { bridge, named } = await loggedInCore();
    assert.deepEqual(named("status"), [[true]]);
    bridge.receive({ type: "status", ready: true });
    bridge.receive({ type: "status", ready: false });
    assert.deepEqual(named("status"), [[true], [false]]);
    assert.equal(named("agentStatus").at(-1)[0].ready, false);
  });

  test("a revoked session stops everything; late messages of the old bridge are ignored", async () => {
    const { core, bridge, sip, named } = await loggedInCore();
    bridge.receive({ type: "session.revoked", reason: "logout" });
    await settle();
    assert.deepEqual(named("revoked"), [["logout"]]);
    assert.equal(sip.stopped, true);
    assert.equal(bridge.closed, true);
    assert.equal(core.status.loggedIn, false);
    bridge.receive({ type: "call.ringing", callid: "late", phone: "0901234567" });
    assert.equal(core.currentCall, null);
    assert.equal(named("ringing").length, 0);
  });

  test("logout gives the device back when this tab held voice (seed reConfigDeviceType)", async () => {
    const { core, bridge } = await loggedInCore();
    const session = core.session;
    await core.stop({ logout: true });
    assert.equal(bridge.actions("resetDevice").length, 1);
    assert.equal(session.loggedOut, true);
  });
});

describe("transfers (seed 002)", () => {
  async function inCall() {
    const setup = await loggedInCore();
    const { bridge, sip } = setup;
    bridge.receive({ type: "call.ringing", callid: "pbx-t", phone: "0901234567", direction: "inbound" });
    sip.ring();
    sip.accept();
    return setup;
  }

  test("accepted: REFER to the agent, then OK and transferSuccess", async () => {
    const { core, bridge, sip, named } = await inCall();
    const transfer = core.transferToAgent("102");
    await replyTo(bridge, "transfer.agent", { type: "transfer.pending", transfer_id: "tr-000001" });
    assert.deepEqual(bridge.actions("transfer.agent"), [{ action: "transfer.agent", ipphone: "102", callid: "pbx-t", phone: "0901234567" }]);
    bridge.receive({ type: "transfer.response", transfer_id: "tr-000001", status: "OK", target: "102" });
    for (let i = 0; i < 10 && !sip.transfers.length; i += 1) await settle();
    assert.deepEqual(sip.transfers, ["102"]);
    sip.emit("transferRequested", sip.call);
    assert.deepEqual(await transfer, { status: "OK", reason: "accepted" });
    assert.deepEqual(named("transferResponse")[0][0], "OK");
    assert.equal(named("transferSuccess").length, 1);
  });

  test("rejected: NOK, and the call stays", async () => {
    const { core, bridge, sip } = await inCall();
    const transfer = core.transferToAgent("102");
    await replyTo(bridge, "transfer.agent", { type: "transfer.pending", transfer_id: "tr-000002" });
    bridge.receive({ type: "transfer.response", transfer_id: "tr-000002", status: "NOK", reason: "rejected" });
    assert.deepEqual(await transfer, { status: "NOK", reason: "rejected" });
    assert.deepEqual(sip.transfers, []);
    assert.equal(core.currentCall.state, "in_call");
  });

  test("the REFER is refused: TRANSFER_CALL_FAILED", async () => {
    const { core, bridge, sip, named } = await inCall();
    const transfer = core.transferToAgent("102");
    await replyTo(bridge, "transfer.agent", { type: "transfer.pending", transfer_id: "tr-000003" });
    bridge.receive({ type: "transfer.response", transfer_id: "tr-000003", status: "OK", target: "102" });
    for (let i = 0; i < 10 && !sip.transfers.length; i += 1) await settle();
    sip.emit("transferFailed", sip.call, { sipCode: 603 });
    await assert.rejects(transfer, { code: "TRANSFER_CALL_FAILED" });
    assert.equal(named("transferError")[0][0], "TRANSFER_CALL_FAILED");
  });

  test("no agent, no call, a call answered elsewhere: the seed's codes", async () => {
    const { core, bridge } = await loggedInCore();
    await assert.rejects(core.transferToAgent(" "), { code: "NOT_CHOOSE_TYPE_TRANSFER" });
    await assert.rejects(core.transferToAgent("102"), { code: "NOT_IN_A_CALL" });
    await assert.rejects(core.transferToQueue(""), { code: "NOT_CHOOSE_TYPE_TRANSFER" });
    bridge.receive({ type: "call.ringing", callid: "pbx-x", phone: "0901234567" });
    bridge.receive({ type: "call.state", state: "in_call", callid: "pbx-x" });
    await assert.rejects(core.transferToAgent("102"), { code: "COULD_NOT_GET_CALL_INFO" });
  });

  test("to a queue: the bridge names the target, the call is REFERred there", async () => {
    const { core, bridge, sip } = await inCall();
    const transfer = core.transferToQueue("sales");
    await replyTo(bridge, "transfer.queue", { type: "transfer.target", queue_id: "sales", target: "8001" });
    for (let i = 0; i < 10 && !sip.transfers.length; i += 1) await settle();
    sip.emit("transferRequested", sip.call);
    assert.deepEqual(await transfer, { status: "OK", target: "8001" });
    assert.deepEqual(sip.transfers, ["8001"]);
  });

  test("no word from the bridge in time: NOK expired, and the target's prompt is cancelled", async (t) => {
    const { core, bridge } = await inCall();
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const transfer = core.transferToAgent("102");
    bridge.receive({ type: "transfer.pending", transfer_id: "tr-000004" });
    await settle();
    t.mock.timers.tick(13_000);
    assert.deepEqual(await transfer, { status: "NOK", reason: "expired" });
    assert.deepEqual(bridge.actions("transfer.cancel"), [{ action: "transfer.cancel", transfer_id: "tr-000004" }]);
  });

  test("an offer to this agent: a second one is declined at once, the first after 10 s without an answer", async (t) => {
    const { bridge, named } = await loggedInCore();
    t.mock.timers.enable({ apis: ["setTimeout"] });
    bridge.receive({ type: "transfer.request", transfer_id: "tr-000005", from_ipphone: "101", from_name: "An", callid: "pbx-o", phone: "0901234567", deadline: 0 });
    bridge.receive({ type: "transfer.request", transfer_id: "tr-000006", from_ipphone: "103", from_name: "Bình", deadline: 0 });
    assert.deepEqual(named("transferRequest").map(([offer]) => offer.dropAgentId), ["101"]);
    assert.deepEqual(bridge.actions("transfer.respond"), [{ action: "transfer.respond", transfer_id: "tr-000006", accept: false }]);
    t.mock.timers.tick(10_000);
    assert.deepEqual(bridge.actions("transfer.respond").at(-1), { action: "transfer.respond", transfer_id: "tr-000005", accept: false });
  });
});

describe("a reconnection keeps the voice this tab held", () => {
  const drop = (bridge) => {
    bridge.state = "reconnecting";
    bridge.emit("close", { code: 1006, reason: "", willReconnect: true });
    bridge.emit("reconnecting", 1, 20, 1000);
    bridge.connect();
  };
  const state = (voiceTab) => ({ type: "state", ready: true, voice: false, voice_tab: voiceTab, device_type: 1, mobile: null, call: { state: "idle" } });

  for (const [how, holder] of [
    ["the bridge still counts the dead socket as the holder", "tab-1"],
    ["the bridge let go of the dead socket's voice", null],
  ]) {
    test(`${how}: the tab asks for voice again, once, and its phone rings again`, async () => {
      // Given this tab holding voice, its browser phone registered
      const { core, bridge, named } = await loggedInCore();
      assert.equal(core.status.voice, true);
      // When the socket drops and comes back
      drop(bridge);
      bridge.receive(state(holder));
      // Then it asks for voice at once
      assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }]);
      assert.equal(named("reconnected").length, 1);
      // and a face asking too (the vendors' demo does in csInitComplete) sends nothing more
      const alsoAsked = core.enableVoice();
      assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }]);
      // And once the bridge gives it, calls ring in this browser again
      bridge.receive({ type: "voice", enabled: true, holder_tab: "tab-1" });
      assert.equal(await alsoAsked, true);
      assert.equal(core.status.voice, true);
      assert.equal(FakeSip.last.registered, true);
    });
  }

  for (const [how, holder] of [
    ["the bridge still counts the dead socket as the holder", "tab-1"],
    ["the bridge let go of the dead socket's voice", null],
  ]) {
    test(`${how}: the call in progress goes on (the phone is not stopped while voice is taken back)`, async () => {
      // Given this tab holding voice and in a call through its browser phone
      const { core, bridge, sip } = await loggedInCore();
      const leg = sip.ring({ phone: "0901234567" });
      const answering = core.answer();
      sip.accept(leg);
      assert.equal((await answering).state, "in_call");
      // When the socket drops (a network blip, API Gateway's 2-hour limit) and comes back
      drop(bridge);
      bridge.receive(state(holder));
      // Then the browser phone keeps running, the call with it, while voice is asked back
      assert.equal(sip.stopped, undefined);
      assert.equal(FakeSip.last, sip);
      assert.equal(core.currentCall?.state, "in_call");
      assert.equal(core.status.voice, true);
      assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }]);
      bridge.receive({ type: "voice", enabled: true, holder_tab: "tab-1" });
      assert.equal(sip.stopped, undefined);
      assert.equal(core.currentCall?.state, "in_call");
    });
  }

  test("the dead socket's late $disconnect releases voice: the tab takes it back without stopping its phone", async () => {
    // Given this tab holding voice, in a call, reconnected while the bridge still counted its dead socket
    const { core, bridge, sip } = await loggedInCore();
    const leg = sip.ring({ phone: "0901234567" });
    const answering = core.answer();
    sip.accept(leg);
    await answering;
    drop(bridge);
    bridge.receive(state("tab-1"));
    bridge.receive({ type: "voice", enabled: true, holder_tab: "tab-1" });
    await settle();
    // When the dead socket's $disconnect comes late and the bridge tells every tab that voice is free
    bridge.receive({ type: "voice", enabled: false, holder_tab: null, reason: "released" });
    // Then this tab (the one that held it) asks for it again and its phone and call go on
    assert.equal(sip.stopped, undefined);
    assert.equal(core.currentCall?.state, "in_call");
    assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }, { action: "enableVoice" }]);
  });

  test("voice taken back is refused: the tab stops ringing here", async () => {
    const { core, bridge, sip } = await loggedInCore();
    drop(bridge);
    bridge.receive(state(null));
    bridge.receive({ type: "error", code: "NOT_CONNECTED", message: "reconnect", action: "enableVoice" });
    await settle();
    assert.equal(core.status.voice, false);
    assert.equal(sip.stopped, true);
  });

  test("a connection replaced before API Gateway's 2-hour limit: voice moves to it quietly, the phone runs on", async () => {
    // Given this tab holding voice, in a call
    const { core, bridge, sip, named } = await loggedInCore();
    const leg = sip.ring({ phone: "0901234567" });
    const answering = core.answer();
    sip.accept(leg);
    await answering;
    // When the bridge opened its next connection (the old one, still open, holds voice on the server)
    bridge.emit("open", { rotated: true });
    bridge.receive(state("tab-1"));
    // Then the core asks voice for the new connection, the phone and the call go on, and nothing is told
    assert.deepEqual(bridge.actions("enableVoice"), [{ action: "enableVoice" }]);
    assert.equal(sip.stopped, undefined);
    assert.equal(core.currentCall?.state, "in_call");
    assert.deepEqual([named("connected").length, named("reconnected").length, named("voice").length], [1, 0, 1]);
  });

  test("a session that ended while the tab was away: the reconnection asks the HTTP API and stops at its 401", async () => {
    // Given a tab whose session was revoked while its socket was down (the notice never reached it)
    const { core, bridge, named } = await loggedInCore();
    core.session.me = async () => {
      core.session.token = null;
      core.session.emit("expired", { code: "SESSION_REVOKED", status: 401 });
      throw Object.assign(new Error("revoked"), { status: 401 });
    };
    bridge.state = "reconnecting";
    bridge.emit("close", { code: 1006, reason: "", willReconnect: true });
    // When the handshakes keep failing
    bridge.emit("reconnecting", 1, 20, 1000);
    bridge.emit("reconnecting", 2, 20, 2000);
    await settle();
    // Then the core learns the session ended and stops, instead of retrying for minutes
    assert.equal(named("expired").length, 1);
    assert.equal(bridge.closed, true);
  });

  test("voice moved to another tab meanwhile, or never held here: nothing is taken", async () => {
    // Given this tab holding voice, and the agent moving it to another tab while this one was away
    const { bridge } = await loggedInCore();
    drop(bridge);
    bridge.receive(state("tab-2"));
    assert.deepEqual(bridge.actions("enableVoice"), []);
    // Given a tab that never held voice (seed rule: a tab takes voice by asking for it)
    const other = await loggedInCore({ voice: false });
    drop(other.bridge);
    other.bridge.receive(state(null));
    assert.deepEqual(other.bridge.actions("enableVoice"), []);
  });
});
