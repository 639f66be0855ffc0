// FACE (iframe mode, with embed.js): the events an embedded webphone posts to its CRM, in the shapes of
// seed 003 (myCC's iframe API), so a CRM written for myCC only changes the iframe's URL.
//
// Seed 003 shows three kinds of call, each with its own shape:
// - queue:    a customer's call from a queue rings the agent (direction "outbound": the PBX's leg to
//             the agent), queueAgentInteraction true, state ".QueueAgentConnecting" → ".QueueAgentConnected";
// - direct:   a customer's call rings the agent directly (direction "inbound", "offnet-origination"),
//             state ".CreateOtherLeg" → ".AnsweringWithOtherLeg";
// - outbound: the agent calls a customer (direction "inbound": the webphone's leg into the PBX, the
//             other leg "offnet-termination"), callerIdNumber the agent, calleeIdNumber the customer once
//             answered.
// What the seed knows and we do not (the hotline number the customer dialed) is null; what we know and
// the seed lacks (the call's end, the agent's status) comes as OnCallEnd / OnStatusChanged /
// OnUnregistered in the same style.
//
// `call` is the phone core's public call (call-state.js): {callid (the PBX's), sipCallId, phone,
// direction, state, queueId, requestId, ...};
// `ctx` is {agent: {user_id, ipphone, customer}, sipDomain, now (ms)}.

const STATES = Object.freeze({
  queue: { OnCallRinging: ".QueueAgentConnecting", OnCallAnswer: ".QueueAgentConnected", OnCallEnd: ".QueueAgentEnded" },
  direct: { OnCallRinging: ".CreateOtherLeg", OnCallAnswer: ".AnsweringWithOtherLeg", OnCallEnd: ".Ended" },
  outbound: { OnCallRinging: ".CreateOtherLeg", OnCallAnswer: ".AnsweringWithOtherLeg", OnCallEnd: ".Ended" },
});

/** The kind of a call in seed 003's terms: "queue", "direct" or "outbound". */
export function callKind(call) {
  if (call.direction === "outbound") return "outbound";
  return call.queueId ? "queue" : "direct";
}

/** `{type, data}` for OnCallRinging, OnCallAnswer or OnCallEnd (`extra` goes into data.state). */
export function callEvent(type, call, ctx, extra = {}) {
  const kind = callKind(call);
  const ownerId = ctx.agent?.user_id != null ? String(ctx.agent.user_id) : null;
  const extension = ctx.agent?.ipphone ?? null;
  const agentLeg = extension && ctx.sipDomain ? `${extension}@${ctx.sipDomain}` : extension;
  const customerLeg = call.phone && ctx.sipDomain ? `${call.phone}@${ctx.sipDomain}` : call.phone || null;
  const base = {
    // One id for the whole interaction, the same in every event of the call (the core keeps it).
    interactionID: call.interactionId || call.callid || call.sipCallId || call.requestId || null,
    callId: null,
    accountId: ctx.agent?.customer ?? null,
    ownerId: null,
    callerIdNumber: null,
    direction: null,
    request: null,
    calleeIdNumber: null,
    resourceType: null,
    queueAgentInteraction: kind === "queue",
    state: { "@c": STATES[kind][type], timestamp: ctx.now ?? Date.now() },
  };
  if (kind === "queue") {
    Object.assign(base, {
      callId: call.sipCallId || call.callid || null, // the leg ringing the agent
      ownerId,
      callerIdNumber: call.phone || null,
      direction: "outbound",
      request: type === "OnCallRinging" ? agentLeg : null,
    });
    Object.assign(base.state, { agentId: ownerId, queueId: call.queueId, memberCallId: call.callid || null });
  } else if (kind === "direct") {
    Object.assign(base, {
      callId: call.callid || call.sipCallId || null, // the customer's call
      callerIdNumber: call.phone || null,
      direction: "inbound",
      resourceType: "offnet-origination",
    });
    Object.assign(base.state, {
      callId: call.sipCallId || null, // the leg ringing the webphone
      request: agentLeg,
      ownerId,
      direction: "outbound",
      resourceType: null,
    });
  } else {
    Object.assign(base, {
      callId: call.sipCallId || call.callid || null, // the webphone's call out
      ownerId,
      callerIdNumber: extension,
      direction: "inbound",
      request: customerLeg,
      calleeIdNumber: type === "OnCallRinging" ? null : call.phone || null,
    });
    Object.assign(base.state, {
      callId: call.callid || null, // the PBX's leg to the customer, once the PBX reported it
      request: customerLeg,
      ownerId: null,
      direction: "outbound",
      resourceType: "offnet-termination",
    });
  }
  Object.assign(base.state, extra);
  return { type, data: base };
}

/** OnRegistered / OnUnregistered: the phone is (no longer) ready to take and make calls. */
export function registrationEvent(type, ctx, deviceType) {
  return {
    type,
    data: {
      ownerId: ctx.agent?.user_id != null ? String(ctx.agent.user_id) : null,
      accountId: ctx.agent?.customer ?? null,
      extension: ctx.agent?.ipphone ?? null,
      sipUri: ctx.sipUri ?? null,
      deviceType,
      timestamp: ctx.now ?? Date.now(),
    },
  };
}

/** OnStatusChanged: Ready/Not ready and where calls ring (seed csShowCallStatus/csShowDeviceType). */
export function statusEvent(ctx, { ready, deviceType, mobile, voice }) {
  return {
    type: "OnStatusChanged",
    data: {
      ownerId: ctx.agent?.user_id != null ? String(ctx.agent.user_id) : null,
      accountId: ctx.agent?.customer ?? null,
      extension: ctx.agent?.ipphone ?? null,
      status: ready ? "AVAILABLE" : "NOT_AVAILABLE",
      ready: Boolean(ready),
      deviceType,
      mobile: mobile ?? null,
      voice: Boolean(voice),
      timestamp: ctx.now ?? Date.now(),
    },
  };
}
