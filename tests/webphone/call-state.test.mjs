// The call state machine (webphone/js/call-state.js) without a browser: every transition, both orders
// of the bridge's popup and the SIP INVITE, duplicate and late events, what is reported to the bridge.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CallState } from "../../webphone/js/call-state.js";

const CUSTOMER = "0901234567";

function machine() {
  let clock = 1_000;
  const calls = new CallState({ now: () => clock });
  const events = [];
  calls.on("*", (type, arg) => events.push({ type, arg }));
  const names = () => events.filter((e) => !["change", "tone", "report"].includes(e.type)).map((e) => e.type);
  const tones = () => events.filter((e) => e.type === "tone").map((e) => e.arg);
  const reports = () => events.filter((e) => e.type === "report").map((e) => ({ action: e.arg.action, ...e.arg.fields }));
  return { calls, events, names, tones, reports, tick: (ms) => (clock += ms) };
}

const sipCall = (fields = {}) => ({ callId: "sip-leg-1", phone: CUSTOMER, displayName: null, queueId: null, ...fields });

describe("an inbound call", () => {
  test("popup first, then the INVITE: one call, merged, answered, ended", () => {
    // Given the bridge's popup for a call that rings in this tab
    const { calls, names, tones, reports } = machine();
    calls.ring({ callid: "pbx-1", phone: CUSTOMER, contact: { name: "An" }, ringsHere: true });
    assert.deepEqual(names(), ["ringing"]);
    assert.equal(calls.current.callId, "pbx-1");
    assert.equal(calls.current.canAnswer, false); // no SIP leg yet
    // When the INVITE arrives
    const leg = sipCall();
    calls.sipIncoming(leg);
    // Then it is the same call, now answerable, with both ids
    assert.deepEqual(names(), ["ringing"]);
    assert.equal(calls.current.sipCallId, "sip-leg-1");
    assert.equal(calls.current.callid, "pbx-1");
    assert.equal(calls.current.canAnswer, true);
    assert.equal(calls.current.contact.name, "An");
    // When the agent answers and SIP confirms
    calls.answering();
    assert.equal(calls.current.answering, true);
    calls.sipAccepted(leg);
    // Then it is up, the ring stopped, and the bridge hears the call state
    assert.equal(calls.current.state, "in_call");
    assert.deepEqual(reports(), [{ action: "callState", callid: "pbx-1", state: "in_call" }]);
    // When it ends
    calls.sipFinished(leg, { cause: "Terminated" });
    assert.deepEqual(names(), ["ringing", "answered", "ended"]);
    assert.equal(calls.current, null);
    assert.deepEqual(reports().at(-1), { action: "callState", callid: "pbx-1", state: "idle" });
    assert.deepEqual(tones(), ["ring", "ring", "stop", "stop", "stop"]);
  });

  test("the INVITE first, then the popup: the popup adds the PBX's callid and the customer", () => {
    const { calls, names, events } = machine();
    const leg = sipCall({ displayName: "Caller" });
    calls.sipIncoming(leg);
    assert.equal(calls.current.callid, null);
    assert.equal(calls.current.contact.name, "Caller");
    // When the popup of the same call comes
    calls.ring({ callid: "pbx-2", phone: "+84901234567", contact: { name: "Nguyễn Văn An" }, ringsHere: true });
    // Then no second call rings: the call gets its callid and contact
    assert.deepEqual(names(), ["ringing", "callId", "contact"]);
    assert.equal(calls.current.callid, "pbx-2");
    assert.equal(calls.current.contact.name, "Nguyễn Văn An");
    assert.equal(events.find((e) => e.type === "callId").arg.callId, "pbx-2");
  });

  test("a queue call keeps its queue and SIP Call-ID after it ended", () => {
    const { calls, events } = machine();
    const leg = sipCall({ queueId: "q-sales", callId: "leg-q" });
    calls.sipIncoming(leg);
    calls.sipAccepted(leg);
    calls.sipFinished(leg, {});
    const ended = events.find((e) => e.type === "ended").arg;
    assert.equal(ended.queueId, "q-sales");
    assert.equal(ended.sipCallId, "leg-q");
    assert.equal(ended.inThisTab, true);
  });

  test("a re-sent popup rings once; a late ring of an ended call is ignored", () => {
    const { calls, names } = machine();
    calls.ring({ callid: "pbx-3", phone: CUSTOMER, ringsHere: false });
    calls.ring({ callid: "pbx-3", phone: CUSTOMER, ringsHere: false });
    assert.deepEqual(names(), ["ringing"]);
    calls.bridgeState({ state: "idle" });
    calls.ring({ callid: "pbx-3", phone: CUSTOMER, ringsHere: false });
    assert.deepEqual(names(), ["ringing", "ended"]);
    assert.equal(calls.current, null);
  });

  test("a call ringing on the agent's IP phone follows the bridge: answered elsewhere, then its call log", () => {
    const { calls, names, tones, events } = machine();
    calls.ring({ callid: "pbx-4", phone: CUSTOMER, ringsHere: false });
    assert.deepEqual(tones(), []); // it does not ring in this tab
    // A state for another call is not this one
    calls.bridgeState({ state: "in_call", callid: "other" });
    assert.equal(calls.current.state, "ringing");
    calls.bridgeState({ state: "in_call", callid: "pbx-4" });
    assert.equal(calls.current.state, "in_call");
    assert.equal(calls.current.inThisTab, false);
    // The bridge says idle first, the call log comes after: the ended call gets it
    calls.bridgeState({ state: "idle" });
    calls.callLog({ callid: "pbx-4", status: "ANSWERED", billsec: 11 });
    assert.deepEqual(names(), ["ringing", "answered", "ended"]);
    const last = events.filter((e) => e.type === "change").at(-1).arg;
    assert.deepEqual([last.state, last.log], ["ended", { status: "ANSWERED", billsec: 11 }]);
  });

  test("the call log ends a call that is not in this tab's phone, once", () => {
    const { calls, names } = machine();
    calls.ring({ callid: "pbx-5", phone: CUSTOMER });
    calls.callLog({ callid: "pbx-5", status: "NO ANSWER", billsec: 0 });
    calls.callLog({ callid: "pbx-5", status: "NO ANSWER", billsec: 0 });
    calls.bridgeState({ state: "idle" });
    assert.deepEqual(names(), ["ringing", "ended"]);
  });

  test("a call in this tab's phone is ended by SIP, not by the bridge's idle or call log", () => {
    const { calls, names } = machine();
    const leg = sipCall();
    calls.ring({ callid: "pbx-6", phone: CUSTOMER, ringsHere: true });
    calls.sipIncoming(leg);
    calls.sipAccepted(leg);
    calls.bridgeState({ state: "idle" });
    calls.callLog({ callid: "pbx-6", status: "ANSWERED", billsec: 3 });
    assert.equal(calls.current.state, "in_call");
    assert.deepEqual(calls.current.log, { status: "ANSWERED", billsec: 3 });
    calls.sipFinished(leg, {});
    assert.deepEqual(names(), ["ringing", "answered", "ended"]);
  });

  test("one call at a time: another popup during a call is not a new call", () => {
    const { calls, names } = machine();
    calls.ring({ callid: "pbx-7", phone: CUSTOMER });
    calls.ring({ callid: "pbx-8", phone: "0911222333" });
    assert.deepEqual(names(), ["ringing"]);
    assert.equal(calls.current.callid, "pbx-7");
  });

  test("hold, mute and their reverse are flags of the call, each an event", () => {
    const { calls, names } = machine();
    const leg = sipCall();
    calls.sipIncoming(leg);
    calls.sipAccepted(leg);
    for (const flag of ["hold", "muted", "unmuted", "unhold"]) calls.sipFlag(leg, flag);
    assert.deepEqual(names(), ["ringing", "answered", "hold", "mute", "unmute", "unhold"]);
    calls.sipFlag(leg, "hold");
    assert.equal(calls.current.held, true);
    assert.equal(calls.current.muted, false);
  });

  test("late SIP events of a call that ended, or of another leg, change nothing", () => {
    const { calls, names } = machine();
    const leg = sipCall();
    calls.sipIncoming(leg);
    calls.sipFinished(leg, { cause: "Canceled" });
    calls.sipAccepted(leg);
    calls.sipFinished(leg, {});
    calls.sipFlag(sipCall({ callId: "stranger" }), "hold");
    assert.deepEqual(names(), ["ringing", "ended"]);
    assert.equal(calls.current, null);
  });

  test("a face that draws the call has it before the event about it (the page focuses Answer on ringing)", () => {
    const { calls, events } = machine();
    calls.ring({ callid: "pbx-10", phone: CUSTOMER, ringsHere: true });
    assert.deepEqual(events.map((e) => e.type), ["tone", "change", "ringing"]);
  });

  test("clear() (logout) drops the call without an ended event", () => {
    const { calls, names, events } = machine();
    calls.ring({ callid: "pbx-9", phone: CUSTOMER });
    calls.clear();
    assert.deepEqual(names(), ["ringing"]);
    assert.equal(events.at(-1).type, "change");
    assert.equal(events.at(-1).arg, null);
  });
});

describe("an outbound call", () => {
  test("from this tab's phone: dialing, progress once, answered, ended; click-to-call outcomes reported once", () => {
    const { calls, names, tones, reports } = machine();
    const call = calls.dialing({ phone: "0987654321", requestId: "req-1" });
    const leg = sipCall({ callId: "crm-call-id", phone: "0987654321" });
    calls.sipOutgoing(leg);
    calls.dialed(call);
    assert.equal(calls.current.state, "dialing");
    assert.equal(calls.current.sipCallId, "crm-call-id");
    calls.sipProgress(leg, 183);
    calls.sipProgress(leg, 180);
    calls.sipProgress(leg, 180);
    assert.equal(calls.current.state, "progress");
    calls.sipAccepted(leg);
    calls.sipProgress(leg, 180); // late: the call is up
    calls.sipFinished(leg, {});
    assert.deepEqual(names(), ["callout", "progress", "answered", "ended"]);
    assert.deepEqual(reports(), [
      { action: "callout.result", request_id: "req-1", status: "ringing", error_code: null, sip_code: 183 },
      { action: "callout.result", request_id: "req-1", status: "answered", error_code: null, sip_code: 200 },
    ]);
    assert.deepEqual(tones(), ["ringback", "ringback", "stop", "stop"]);
  });

  test("refused by the network: calloutError with the seeds' code, reported failed, ended with the error", () => {
    const { calls, names, reports, events } = machine();
    const call = calls.dialing({ phone: "0486123456", requestId: "req-2" });
    const leg = sipCall({ phone: "0486123456" });
    calls.sipOutgoing(leg);
    calls.dialed(call);
    const error = { errorCode: "IPCC_NOT_CONNECT_CUSTOMER", sipCode: 486, message: "The customer is busy." };
    calls.sipFinished(leg, { sipCode: 486, error });
    assert.deepEqual(names(), ["callout", "calloutError", "ended"]);
    assert.deepEqual(reports(), [{ action: "callout.result", request_id: "req-2", status: "failed", error_code: "IPCC_NOT_CONNECT_CUSTOMER", sip_code: 486 }]);
    const ended = events.find((e) => e.type === "ended").arg;
    assert.deepEqual(ended.error, error);
    assert.equal(events.find((e) => e.type === "calloutError").arg.phone, "0486123456");
  });

  test("cancelled before the customer answered: a click-to-call is reported as not connected (487)", () => {
    const { calls, reports } = machine();
    const call = calls.dialing({ phone: "0987654321", requestId: "req-3" });
    const leg = sipCall();
    calls.sipOutgoing(leg);
    calls.dialed(call);
    calls.sipFinished(leg, { cause: "Canceled" });
    assert.deepEqual(reports(), [{ action: "callout.result", request_id: "req-3", status: "failed", error_code: "IPCC_NOT_CONNECT_CUSTOMER", sip_code: 487 }]);
  });

  test("a dial that cannot start ends at once with its error", () => {
    const { calls, names } = machine();
    const call = calls.dialing({ phone: "0987654321" });
    calls.dialFailed(call, { errorCode: "ERROR_CALLOUT_CONNECT", sipCode: null, message: "Something went wrong placing the call." });
    assert.deepEqual(names(), ["calloutError", "ended"]);
    assert.equal(calls.busy, false);
  });

  test("dialed on the agent's IP phone (call.outgoing): a call the bridge follows to its end", () => {
    const { calls, names } = machine();
    calls.outgoing({ callid: "pbx-out-1", phone: "0987654321" });
    assert.equal(calls.current.state, "dialing");
    assert.equal(calls.current.inThisTab, false);
    calls.bridgeState({ state: "in_call", callid: "pbx-out-1" });
    calls.callLog({ callid: "pbx-out-1", status: "ANSWERED", billsec: 20 });
    assert.deepEqual(names(), ["callout", "answered", "ended"]);
  });

  test("a call-out asked of the bridge is announced once, not again when the PBX reports it", () => {
    const { calls, names, tick } = machine();
    calls.bridgedCallout({ phone: "0987654321", requestId: "req-4", route: "softphone" });
    calls.outgoing({ callid: "pbx-out-2", phone: "+84987654321" });
    assert.deepEqual(names(), ["callout"]);
    assert.equal(calls.current.callid, "pbx-out-2");
    calls.bridgeState({ state: "idle" });
    // Much later the agent dials the same number on the IP phone: that one is new
    calls.bridgedCallout({ phone: "0987654321", requestId: "req-5", route: "softphone" });
    tick(121_000);
    calls.outgoing({ callid: "pbx-out-3", phone: "0987654321" });
    assert.deepEqual(names(), ["callout", "ended", "callout", "callout"]);
  });

  test("the PBX's report of this tab's own call-out adds its callid to the call", () => {
    const { calls, names } = machine();
    const call = calls.dialing({ phone: "0987654321" });
    calls.sipOutgoing(sipCall());
    calls.dialed(call);
    calls.outgoing({ callid: "pbx-out-4", phone: "0987654321", contact: { name: "Bình" } });
    assert.deepEqual(names(), ["callout", "callId", "contact"]);
    assert.equal(calls.current.callId, "pbx-out-4");
  });
});
