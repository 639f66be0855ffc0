// CORE: the call state machine, the one place where a call's state lives (no DOM, no network, no timers).
//
// The phone core (phone.js) feeds it what the bridge and the SIP phone say; every face (the page's UI,
// the iframe's postMessage, the SDK, the VCC/3C and Alohub globals) hears the outcome as the events below.
//
//   popup ─┐                                  ┌─ answered ─┐
//          ├─▶ ringing (inbound) ──────────────┤            ├─▶ held/muted ⇄ ─▶ ended
//   INVITE ┘   (popup and INVITE merge,        └────────────┘
//               whichever comes first)
//   dial ──▶ dialing ──▶ progress (180/183) ──▶ answered ──▶ ended   (outbound, this tab's phone)
//   call.outgoing ──▶ dialing ──▶ answered ──▶ ended                  (outbound, the agent's other device)
//
// One call at a time. A ring of a call that ended here (the PBX re-sends rings, or sends them late) is
// ignored. A call with a SIP leg in this tab reports itself (SIP events); one without (it rings on the
// IP phone or the mobile) follows the bridge's call.state / call.ended.
//
// Events (each with the public call, see `publicCall`): "ringing", "callId", "contact", "callout",
// "progress", "answered", "ended", "mute", "unmute", "hold", "unhold", "calloutError" ({errorCode,
// sipCode, message, phone, call}), "change" (the call to show, or null: also a call that ended and got
// its call log), "tone" ("ring" | "ringback" | "stop"), "report" ({action: "callout.result"|"callState",
// fields}): what the core tells the bridge.

import { EndedCalls } from "./ended-calls.js";
import { Emitter } from "./emitter.js";
import { ERROR_CODES } from "./callout-errors.js";
import { numberKey } from "./phone-numbers.js";

// A call-out placed through the bridge is announced at once ("callout"); the PBX's outgoing_call for it
// within this time is the same call, not a new one.
const BRIDGED_CALLOUT_MS = 120_000;

export class CallState extends Emitter {
  #call = null; // the live call (not ended), or null
  #last = null; // the last call that ended: a late call log still completes it
  #ended = new EndedCalls();
  #bridged = new Map(); // number key -> when: call-outs the bridge places on another device
  #now;
  #nextId = 1;

  /** @param {{now?: () => number}} options  the clock (tests pass their own) */
  constructor({ now = Date.now } = {}) {
    super();
    this.#now = now;
  }

  /** The live call as faces see it, or null. */
  get current() {
    return this.#call ? publicCall(this.#call) : null;
  }

  /** The live call's record (the core's use only: it holds the SIP leg). */
  get record() {
    return this.#call;
  }

  /** Is there a live call (ringing, dialing, up)? */
  get busy() {
    return Boolean(this.#call);
  }

  // ------------------------------------------------------------------ the bridge
  /**
   * An inbound call rings: the bridge's popup (call.ringing, or a `state` with a ringing call) or the
   * SIP INVITE (`sip`). `ringsHere`: this tab holds voice on device 1 (the INVITE will come here).
   */
  ring({ callid = null, phone = "", contact = null, sip = null, ringsHere = false }) {
    if (!sip && this.#ended.has(callid)) return; // a re-sent or late ring of a call that ended here
    const call = this.#call;
    if (call) {
      // The bridge's popup and the SIP INVITE are one call: merge whichever comes second.
      if (matches(call, { callid, phone }) || (call.sip && !call.callid && call.state === "ringing")) {
        this.#setCallid(call, callid);
        if (contact) this.#setContact(call, contact);
      }
      return; // one call at a time
    }
    const fresh = this.#newCall({ direction: "inbound", phone, callid, contact, state: "ringing" });
    if (sip) this.#attach(fresh, sip);
    this.#call = fresh;
    if (sip || ringsHere) this.emit("tone", "ring");
    this.#emit("ringing", fresh);
  }

  /** The CRM's customer for the call (call.contact, after the popup). */
  contact(msg) {
    if (matches(this.#call, msg)) this.#setContact(this.#call, msg.contact);
  }

  /** The PBX dialed out for the agent (call.outgoing): from the IP phone, the mobile, or this tab. */
  outgoing(msg) {
    const call = this.#call;
    if (call) {
      if (call.direction === "outbound" && matches(call, msg)) {
        this.#setCallid(call, msg.callid);
        if (msg.contact) this.#setContact(call, msg.contact);
      }
      return;
    }
    // Dialed on the agent's other device: the faces still hear of it (once: a call-out this tab asked
    // the bridge for was announced already).
    const fresh = this.#newCall({ direction: "outbound", phone: msg.phone ?? "", callid: msg.callid ?? null, contact: msg.contact ?? null, state: "dialing" });
    this.#call = fresh;
    const key = numberKey(fresh.phone);
    const asked = this.#bridged.get(key);
    this.#bridged.delete(key);
    if (!asked || this.#now() - asked > BRIDGED_CALLOUT_MS) this.#emit("callout", fresh);
    else this.#emit("change", fresh);
  }

  /** The bridge's call.state: "in_call" (answered on the agent's device) or "idle". */
  bridgeState(msg) {
    const call = this.#call;
    if (!call || call.sip) return; // a call in this tab's phone reports itself
    if (msg.state === "in_call" && call.state !== "in_call" && (!msg.callid || matches(call, msg))) {
      this.#answer(call);
    } else if (msg.state === "idle") {
      this.#end(call);
    }
  }

  /** The PBX's call log (call.ended {callid, phone, status, billsec}): ends a call not in this tab's phone. */
  callLog(msg) {
    const log = { status: msg.status ?? null, billsec: msg.billsec ?? null };
    const call = this.#call;
    if (call && matches(call, msg)) {
      call.log = log;
      if (!call.sip) this.#end(call);
    } else if (this.#last && matches(this.#last, msg)) {
      this.#last.log = log;
      this.#emit("change", this.#last);
    }
  }

  // ------------------------------------------------------------------ call-outs
  /** This tab's phone dials `phone` (before the INVITE goes out: JsSIP reports it synchronously). */
  dialing({ phone, requestId = null }) {
    const call = this.#newCall({ direction: "outbound", phone, state: "dialing", requestId, inThisTab: true });
    this.#call = call;
    return call;
  }

  /** The dial did not even start ({errorCode, sipCode, message}). */
  dialFailed(call, error) {
    if (this.#call !== call) return;
    call.error = error;
    this.emit("calloutError", { ...error, phone: call.phone, call: publicCall(call) });
    this.#end(call);
  }

  /** The dial started: the faces hear of the call. */
  dialed(call) {
    if (this.#call === call) this.#emit("callout", call);
  }

  /** A call-out the bridge places on the agent's device (callout.accepted). */
  bridgedCallout(placed) {
    this.#bridged.set(numberKey(placed.phone), this.#now());
    this.emit("callout", { ...placed, direction: "outbound", state: "dialing", callId: null });
  }

  // ------------------------------------------------------------------ the SIP phone
  /** An INVITE reached this tab's phone. */
  sipIncoming(sipCall, { ringsHere = true } = {}) {
    const call = this.#call;
    if (call && call.direction === "inbound" && call.state === "ringing" && !call.sip) {
      this.#attach(call, sipCall);
      if (!call.phone) call.phone = sipCall.phone;
      if (!call.contact && sipCall.displayName) call.contact = { name: sipCall.displayName };
      this.emit("tone", "ring");
      this.#emit("change", call);
    } else {
      this.ring({ phone: sipCall.phone, sip: sipCall, contact: sipCall.displayName ? { name: sipCall.displayName } : null, ringsHere });
    }
  }

  /** JsSIP created the session of a dial (synchronously, inside dial()). */
  sipOutgoing(sipCall) {
    const call = this.#call;
    if (call && call.direction === "outbound" && !call.sip) this.#attach(call, sipCall);
  }

  sipProgress(sipCall, sipCode) {
    const call = this.#of(sipCall);
    if (!call || call.direction !== "outbound" || call.state === "in_call") return;
    const first = call.state !== "progress";
    call.state = "progress";
    if (sipCode === 180) this.emit("tone", "ringback");
    if (call.requestId && !call.reported.ringing) {
      call.reported.ringing = true;
      this.#report("callout.result", { request_id: call.requestId, status: "ringing", error_code: null, sip_code: sipCode });
    }
    if (first) this.#emit("progress", call);
  }

  sipAccepted(sipCall) {
    const call = this.#of(sipCall);
    if (!call) return;
    if (call.callid) this.#report("callState", { callid: call.callid, state: "in_call" });
    if (call.requestId && !call.reported.answered) {
      call.reported.answered = true;
      this.#report("callout.result", { request_id: call.requestId, status: "answered", error_code: null, sip_code: 200 });
    }
    this.#answer(call);
  }

  /** The SIP call ended or failed ({sipCode, error?: {errorCode, sipCode, message}}). */
  sipFinished(sipCall, info = {}) {
    const call = this.#of(sipCall);
    if (!call) return;
    if (info.error) {
      call.error = info.error;
      this.emit("calloutError", { ...info.error, phone: call.phone, call: publicCall(call) });
      if (call.requestId) {
        this.#report("callout.result", { request_id: call.requestId, status: "failed", error_code: info.error.errorCode, sip_code: info.error.sipCode });
      }
    } else if (call.requestId && call.state !== "in_call") {
      this.#report("callout.result", { request_id: call.requestId, status: "failed", error_code: ERROR_CODES.NOT_CONNECT_CUSTOMER, sip_code: info.sipCode ?? 487 });
    }
    if (call.state === "in_call" && call.callid) this.#report("callState", { callid: call.callid, state: "idle" });
    this.#end(call);
  }

  /** hold / unhold / muted / unmuted of the SIP call. */
  sipFlag(sipCall, name) {
    const call = this.#of(sipCall);
    const change = { hold: ["held", true], unhold: ["held", false], muted: ["muted", true], unmuted: ["muted", false] }[name];
    if (!call || !change) return;
    call[change[0]] = change[1];
    this.#emit({ muted: "mute", unmuted: "unmute" }[name] ?? name, call);
  }

  /** The agent answered in this tab (the tones stop at once; SIP's accepted follows). */
  answering() {
    if (this.#call) {
      this.#call.answering = true;
      this.emit("tone", "stop");
      this.#emit("change", this.#call);
    }
  }

  /** Forget the call without events (logout): the session is gone. */
  clear() {
    this.#call = null;
    this.#last = null;
    this.#bridged.clear();
    this.emit("tone", "stop");
    this.emit("change", null);
  }

  // ------------------------------------------------------------------ internals
  #newCall(fields) {
    return {
      id: `call-${this.#nextId++}`,
      callid: null,
      sipCallId: null,
      interactionId: null, // the first id faces saw, kept for the whole call (see #emit)
      queueId: null,
      phone: "",
      direction: "inbound",
      contact: null,
      state: "ringing",
      sip: null,
      inThisTab: false,
      answering: false,
      requestId: null,
      startedAt: this.#now(),
      answeredAt: null,
      endedAt: null,
      muted: false,
      held: false,
      error: null,
      log: null,
      reported: {},
      ...fields,
    };
  }

  #attach(call, sipCall) {
    call.sip = sipCall;
    call.inThisTab = true;
    call.sipCallId = sipCall.callId ?? call.sipCallId;
    call.queueId = sipCall.queueId ?? call.queueId;
  }

  #of(sipCall) {
    return this.#call && this.#call.sip === sipCall ? this.#call : null;
  }

  #setCallid(call, callid) {
    if (!callid || call.callid) return;
    call.callid = callid;
    this.#emit("callId", call);
  }

  #setContact(call, contact) {
    call.contact = contact;
    this.#emit("contact", call);
  }

  #answer(call) {
    call.state = "in_call";
    call.answeredAt = this.#now();
    call.answering = false;
    this.emit("tone", "stop");
    this.#emit("answered", call);
  }

  #end(call) {
    if (call.state === "ended") return;
    this.#ended.add(call.callid);
    call.state = "ended";
    call.endedAt = this.#now();
    call.sip = null;
    call.answering = false;
    if (this.#call === call) this.#call = null;
    this.#last = call;
    this.emit("tone", "stop");
    this.#emit("ended", call);
  }

  #report(action, fields) {
    this.emit("report", { action, fields });
  }

  /** Every event is also a "change", first: faces that draw the call listen to that one only. */
  #emit(type, call) {
    // One id for the call from its first event on: the SIP INVITE may come before the PBX's popup
    // (the PBX's callid is then learnt later), and a CRM keys the call's events by it (seed 003's
    // interactionID).
    call.interactionId ??= call.callid || call.sipCallId || call.requestId || null;
    const view = publicCall(call);
    this.emit("change", view);
    if (type !== "change") this.emit(type, view);
  }
}

/** What faces see of a call (no live SIP objects). */
export function publicCall(call) {
  return {
    id: call.id,
    callId: call.callid || call.sipCallId || null, // the seeds' callId: the PBX's when known
    callid: call.callid,
    sipCallId: call.sipCallId || call.sip?.callId || null,
    interactionId: call.interactionId ?? null, // the same in every event of the call
    queueId: call.queueId ?? null,
    requestId: call.requestId ?? null,
    phone: call.phone,
    direction: call.direction,
    state: call.state,
    contact: call.contact,
    inThisTab: Boolean(call.inThisTab), // the call has (had) its SIP leg in this tab's phone
    canAnswer: Boolean(call.sip) && call.direction === "inbound" && call.state === "ringing",
    answering: Boolean(call.answering),
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt: call.endedAt,
    muted: call.muted,
    held: call.held,
    error: call.error,
    log: call.log, // the PBX's call log once it came: {status, billsec}
  };
}

/** The bridge's message is about `call`: the same PBX callid, or else the same number. */
export function matches(call, msg) {
  if (!call || !msg) return false;
  if (call.callid && msg.callid) return call.callid === msg.callid;
  return Boolean(msg.phone) && numberKey(call.phone) === numberKey(msg.phone);
}
