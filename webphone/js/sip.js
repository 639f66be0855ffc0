// CORE: a part of the phone core (js/phone.js is its only owner; faces never use it directly).
// SIP over WebSocket with JsSIP: the agent's browser phone (seed 000's JSPhone, done with the settings
// the bridge delivers for the logged-in agent instead of typed ones).
//
// config = GET /v1/agent/me's `webphone`: {websocket_server_url, ice_servers, display_name,
// private_identity, public_identity, sip_uri, password, realm}. The password is given to JsSIP and kept
// nowhere else.
//
// One call at a time: a second incoming call while one is up is answered 486 Busy Here.
// ICE gathering is bounded (JsSIP waits for *all* candidates before sending an offer/answer, which takes
// ~40 s when a STUN server is unreachable, JsSIP #804): after `iceGatheringTimeoutMs` from the first
// candidate the SDP goes with what was gathered.
//
// Events: "status" ({connected, registered}), "registered", "unregistered", "registrationFailed"
// ({cause, sipCode}), "incoming" (call), "outgoing" (call), "progress" (call, {sipCode}),
// "accepted" (call), "ended" (call, {cause, originator}), "failed" (call, {cause, sipCode,
// originator, error}), "hold"/"unhold"/"muted"/"unmuted" (call).
// A call is {id, direction: "inbound"|"outbound", phone, displayName, callId (SIP Call-ID), queueId
// (an inbound INVITE's X-Queue-Id), session}. "transferRequested"/"transferFailed" follow transfer().

import { calloutErrorFromJsSIP, ERROR_CODES, describeCalloutError } from "./callout-errors.js";
import { Emitter } from "./emitter.js";

export { ERROR_CODES, describeCalloutError, calloutErrorFromJsSIP };

export const DEFAULT_ICE_SERVERS = Object.freeze([{ urls: "stun:stun.l.google.com:19302" }]);

export class SipPhone extends Emitter {
  #JsSIP;
  #config;
  #ua = null;
  #call = null;
  #remoteAudio;
  #options;
  #status = { connected: false, registered: false };

  /**
   * @param {object} o
   * @param {object} o.JsSIP  the JsSIP module (webphone/vendor/jssip.js)
   * @param {object} o.config  the bridge-delivered webphone settings
   * @param {HTMLAudioElement} [o.remoteAudio]  where the other party is heard
   */
  constructor({ JsSIP, config, remoteAudio = null, iceGatheringTimeoutMs = 1500, userAgent = "CTI Bridge webphone" }) {
    super();
    if (!config?.websocket_server_url || !(config.sip_uri || config.public_identity)) {
      throw new Error("The bridge sent no SIP settings for this agent.");
    }
    this.#JsSIP = JsSIP;
    this.#config = config;
    this.#remoteAudio = remoteAudio;
    this.#options = { iceGatheringTimeoutMs, userAgent };
  }

  get registered() {
    return this.#status.registered;
  }

  get connected() {
    return this.#status.connected;
  }

  /** The current call, or null. */
  get call() {
    return this.#call;
  }

  get uri() {
    return this.#config.sip_uri || this.#config.public_identity;
  }

  /** The SIP domain (host[:port]) of the agent's URI: where numbers are dialed. */
  get domain() {
    return this.uri.replace(/^sips?:/, "").split("@").pop().split(";")[0];
  }

  /** The RTCPeerConnection configuration: the bridge's ICE servers, seed 000's STUN default. */
  get pcConfig() {
    const servers = Array.isArray(this.#config.ice_servers) ? this.#config.ice_servers : DEFAULT_ICE_SERVERS;
    return {
      // Seed 000 writes {url: ...}; browsers want {urls: ...}.
      iceServers: servers.map(({ url, urls, username, credential }) => ({
        urls: urls ?? url,
        ...(username ? { username } : {}),
        ...(credential ? { credential } : {}),
      })),
      rtcpMuxPolicy: "require",
      // "balanced", not "max-bundle": a one-audio-line offer from a PBX or media relay (Asterisk,
      // rtpengine) often has no BUNDLE group, which max-bundle rejects (setRemoteDescription fails, 488).
      bundlePolicy: "balanced",
    };
  }

  /** Connect to the SIP WebSocket server and register. */
  start() {
    if (this.#ua) return;
    const JsSIP = this.#JsSIP;
    const config = this.#config;
    const socket = new JsSIP.WebSocketInterface(config.websocket_server_url);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: this.uri,
      password: config.password ?? undefined,
      authorization_user: config.private_identity || undefined,
      display_name: config.display_name || undefined,
      realm: config.realm || undefined,
      register: true,
      register_expires: 300,
      session_timers: false,
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
      user_agent: `${this.#options.userAgent} (JsSIP ${JsSIP.version})`,
    });
    this.#ua = ua;
    ua.on("connected", () => this.#setStatus({ connected: true }));
    ua.on("disconnected", () => this.#setStatus({ connected: false, registered: false }));
    ua.on("registered", () => {
      this.#setStatus({ registered: true });
      this.emit("registered");
    });
    ua.on("unregistered", () => {
      this.#setStatus({ registered: false });
      this.emit("unregistered");
    });
    ua.on("registrationFailed", (e) => {
      this.#setStatus({ registered: false });
      this.emit("registrationFailed", { cause: e.cause, sipCode: e.response?.status_code ?? null });
    });
    ua.on("newRTCSession", (e) => this.#onNewSession(e));
    ua.start();
  }

  /** Unregister and disconnect (logout, voice moved to another tab, device changed). */
  stop() {
    const ua = this.#ua;
    if (!ua) return;
    this.#ua = null;
    if (this.#call) this.hangup();
    ua.stop(); // JsSIP sends the un-REGISTER before closing the socket
    this.#setStatus({ connected: false, registered: false });
  }

  /**
   * Call `number` (digits, or a SIP URI). `callId` sets the INVITE's Call-ID (seed 004 §2.2: the PBX
   * returns it to the CRM as the call log's userfield). Returns the call, or throws
   * {errorCode, sipCode, message} when the call can't even start.
   */
  dial(number, { callId = null, extraHeaders = [] } = {}) {
    if (!this.#ua || !this.#status.connected) {
      throw callError(ERROR_CODES.NOT_CONNECT_AGENT, null);
    }
    if (this.#call) throw callError(ERROR_CODES.AGENT_BUSY, null, "You are already on a call.");
    const target = /^sips?:/.test(number) ? number : `sip:${number}@${this.domain}`;
    const call = { id: null, direction: "outbound", phone: String(number), displayName: null, callId, session: null };
    this.#call = call;
    let session;
    try {
      session = this.#ua.call(target, {
        mediaConstraints: { audio: true, video: false },
        pcConfig: this.pcConfig,
        rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
        extraHeaders,
        eventHandlers: callId ? { sending: (e) => setCallId(e.request, callId) } : {},
      });
    } catch (error) {
      this.#call = null;
      throw callError(ERROR_CODES.CONNECT, null);
    }
    return call;
  }

  /** Answer the ringing incoming call. */
  answer() {
    const call = this.#call;
    if (!call || call.direction !== "inbound" || !call.session?.isInProgress()) return false;
    call.session.answer({
      mediaConstraints: { audio: true, video: false },
      pcConfig: this.pcConfig,
    });
    return true;
  }

  /** Hang up, cancel a call-out, or decline a ringing call (486 Busy Here when declined). */
  hangup() {
    const session = this.#call?.session;
    if (!session || session.isEnded()) return false;
    if (this.#call.direction === "inbound" && session.isInProgress()) {
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
    } else {
      session.terminate();
    }
    return true;
  }

  toggleHold() {
    const session = this.#liveSession();
    if (!session) return false;
    if (session.isOnHold().local) session.unhold();
    else session.hold();
    return true;
  }

  toggleMute() {
    const session = this.#liveSession();
    if (!session) return false;
    if (session.isMuted().audio) session.unmute({ audio: true });
    else session.mute({ audio: true });
    return true;
  }

  get onHold() {
    return Boolean(this.#call?.session?.isOnHold?.().local);
  }

  get muted() {
    return Boolean(this.#call?.session?.isMuted?.().audio);
  }

  /**
   * Send DTMF tones (0-9, *, #, A-D): as RFC 4733 telephone-events in the media (WebRTC's own way)
   * when the audio sender can, else as SIP INFO (JsSIP's default, which PBXs set up for it accept).
   */
  sendDTMF(tones) {
    const session = this.#liveSession();
    if (!session) return false;
    const inMedia = (session.connection?.getSenders?.() ?? []).some(
      (sender) => sender.track?.kind === "audio" && sender.dtmf?.canInsertDTMF,
    );
    try {
      session.sendDTMF(String(tones), { duration: 100, interToneGap: 70, transportType: inMedia ? "RFC2833" : "INFO" });
    } catch (error) {
      this.emit("dtmfFailed", this.#call, error);
      return false;
    }
    return true;
  }

  /**
   * Blind transfer (REFER) of the current call to a number or SIP URI. Emits "transferRequested" when
   * the other side accepts the REFER (202) and "transferFailed" ({sipCode}) when it refuses it or the
   * transfer target cannot be reached (NOTIFY with a failure).
   */
  transfer(number) {
    const session = this.#liveSession();
    if (!session) return false;
    const call = this.#call;
    const target = /^sips?:/.test(number) ? number : `sip:${number}@${this.domain}`;
    session.refer(target, {
      eventHandlers: {
        requestSucceeded: () => this.emit("transferRequested", call),
        requestFailed: (e) => this.emit("transferFailed", call, { sipCode: e?.response?.status_code ?? null }),
        accepted: () => session.terminate(),
        failed: (e) => this.emit("transferFailed", call, { sipCode: e?.response?.status_code ?? null }),
      },
    });
    return true;
  }

  // ------------------------------------------------------------------ sessions
  #liveSession() {
    const session = this.#call?.session;
    return session && session.isEstablished() ? session : null;
  }

  #onNewSession({ session, originator, request }) {
    if (originator === "remote") {
      if (this.#call) {
        session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
        return;
      }
      const identity = session.remote_identity;
      this.#call = {
        id: session.id,
        direction: "inbound",
        phone: identity?.uri?.user ?? "",
        displayName: identity?.display_name || null,
        callId: request?.call_id ?? null,
        // A PBX that rings agents from a queue may name it (issue 9: the myCC queue event shape).
        queueId: request?.getHeader?.("X-Queue-Id") || null,
        session,
      };
      this.#watch(session);
      this.emit("incoming", this.#call);
      return;
    }
    // Outgoing: dial() put the call in place before JsSIP created the session.
    const call = this.#call ?? { id: null, direction: "outbound", phone: "", displayName: null, callId: null };
    call.id = session.id;
    call.session = session;
    call.callId = call.callId ?? request?.call_id ?? null;
    this.#call = call;
    this.#watch(session);
    this.emit("outgoing", call);
  }

  #watch(session) {
    const call = () => (this.#call?.session === session ? this.#call : null);
    this.#boundIce(session);
    session.on("peerconnection", (e) => this.#attachAudio(e.peerconnection));
    if (session.connection) this.#attachAudio(session.connection);
    session.on("progress", (e) => {
      if (call()) this.emit("progress", call(), { sipCode: e.response?.status_code ?? null });
    });
    session.on("accepted", () => {
      if (call()) this.emit("accepted", call());
    });
    session.on("confirmed", () => {
      if (session.connection) this.#attachAudio(session.connection);
    });
    session.on("ended", (e) => this.#finish(session, "ended", { cause: e.cause, originator: e.originator }));
    session.on("failed", (e) => {
      const sipCode = e.message?.status_code ?? null;
      const info = { cause: e.cause, sipCode, originator: e.originator };
      if (session.direction === "outgoing" && !(e.originator === "local" && e.cause === "Canceled")) {
        info.error = calloutErrorFromJsSIP(e.cause, sipCode);
      }
      this.#finish(session, "failed", info);
    });
    for (const name of ["hold", "unhold", "muted", "unmuted"]) {
      session.on(name, () => {
        if (call()) this.emit(name, call());
      });
    }
  }

  #finish(session, event, info) {
    const call = this.#call?.session === session ? this.#call : null;
    if (call) this.#call = null;
    if (this.#remoteAudio) this.#remoteAudio.srcObject = null;
    this.emit(event, call ?? { id: session.id, session }, info);
  }

  #boundIce(session) {
    let timer = null;
    session.on("icecandidate", (e) => {
      if (!timer) timer = setTimeout(e.ready, this.#options.iceGatheringTimeoutMs);
    });
    const clear = () => clearTimeout(timer);
    session.on("sdp", clear);
    session.on("ended", clear);
    session.on("failed", clear);
  }

  #attachAudio(connection) {
    const audio = this.#remoteAudio;
    if (!audio || !connection || connection.__ctibridgeAudio) return;
    connection.__ctibridgeAudio = true;
    connection.addEventListener("track", (e) => {
      const stream = e.streams?.[0] ?? new MediaStream([e.track]);
      audio.srcObject = stream;
      audio.play?.().catch(() => {});
    });
  }

  #setStatus(change) {
    const next = { ...this.#status, ...change };
    if (next.connected === this.#status.connected && next.registered === this.#status.registered) return;
    this.#status = next;
    this.emit("status", { ...next });
  }
}

/**
 * Seed 004 §2.2: rewrite the Call-ID of the INVITE as it is sent. The header is what goes on the wire;
 * `call_id` is what JsSIP builds the dialog and in-dialog requests from, so both change together.
 */
function setCallId(request, callId) {
  request.setHeader("Call-ID", callId);
  request.call_id = callId;
}

function callError(errorCode, sipCode, message) {
  const error = new Error(message ?? describeCalloutError(errorCode, sipCode));
  error.errorCode = errorCode;
  error.sipCode = sipCode;
  return error;
}
