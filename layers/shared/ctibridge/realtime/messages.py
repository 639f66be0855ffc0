"""Every WebSocket message, in and out, as a pydantic model: the contract with the webphone.

Client → server messages are selected by ``action`` (API Gateway's route selection expression is
``$request.body.action``, so each action is also a route of the WebSocket API in template.yaml).
Server → client messages are selected by ``type``. Every message carries ``v`` (the contract
version, 1) and server messages an ISO-8601 UTC timestamp ``ts``.

Compatibility rules: clients and server ignore fields they do not know (new optional fields are not a
new version); a new ``v`` is only for a change an old client would misread. The JSON Schemas in
``docs/websocket-schemas/`` are generated from these models (``python -m ctibridge.realtime.schemas``).
"""

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, TypeAdapter, field_validator, model_validator

from ctibridge.model import Model
from ctibridge.tenants.models import IPPHONE_PATTERN, MOBILE_PATTERN, DeviceType

VERSION = 1

CallState = Literal["idle", "ringing", "in_call"]
VoiceReason = Literal["connected", "enabled", "taken", "released"]
# Why a tab's session ended: its own logout, an operator revoking the agent's sessions, the agent
# removed, or the tenant no longer active (expired or suspended).
RevokedReason = Literal["logout", "revoked", "agent_removed", "tenant_inactive"]

# Bounds keep a hostile or broken client from making us store or fan out large values.
CallId = Annotated[str, Field(min_length=1, max_length=128)]
ShortText = Annotated[str, Field(max_length=128)]


def _now() -> datetime:
    return datetime.now(UTC)


# ============================================================================ client -> server


class ClientMessage(Model):
    """Base of what a webphone tab sends; unknown fields are ignored (forward compatibility)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: str
    v: Literal[1] = 1


class PingRequest(ClientMessage):
    """Keep-alive (API Gateway closes a connection idle for 10 minutes); answered by ``pong``."""

    action: Literal["ping"]
    id: ShortText | None = Field(default=None, description="Echoed in the pong, to match answers.")


class SyncRequest(ClientMessage):
    """Ask for a ``state`` snapshot: sent by a tab right after it connects or reconnects."""

    action: Literal["sync"]


class EnableVoiceRequest(ClientMessage):
    """Seed ``csEnableCall()``: this tab takes voice; every other tab of the agent loses it."""

    action: Literal["enableVoice"]


class StatusRequest(ClientMessage):
    """Seed ``changeCallStatus()``: the agent is ready for calls (On) or not (Off)."""

    action: Literal["status"]
    ready: bool


class DeviceRequest(ClientMessage):
    """Seed ``changeDevice(type[, mobile])``: where the agent's calls ring.

    1 the browser (this webphone), 2 a softphone or IP phone, 3 the mobile number ``mobile``.
    """

    action: Literal["device"]
    device_type: DeviceType
    mobile: str | None = Field(default=None, pattern=MOBILE_PATTERN)

    @model_validator(mode="after")
    def _mobile_for_type_3(self) -> "DeviceRequest":
        if self.device_type is DeviceType.MOBILE and not self.mobile:
            raise ValueError("device_type 3 (mobile) needs a mobile number")
        return self


class ResetDeviceRequest(ClientMessage):
    """Seed ``reConfigDeviceType()``: back to the agent's configured device (on logout or unload)."""

    action: Literal["resetDevice"]


class CallStateRequest(ClientMessage):
    """The webphone reports what only it knows: the agent answered (``in_call``) or hung up (``idle``).

    The PBX's webhooks say when a call rings and when it ended, not when the browser answered.
    """

    action: Literal["callState"]
    callid: CallId
    state: Literal["in_call", "idle"]


class CalloutResultRequest(ClientMessage):
    """How a click-to-call sent to this tab as ``call.dial`` went (seed ``showCalloutError``)."""

    action: Literal["callout.result"]
    request_id: Annotated[str, Field(min_length=1, max_length=64)]
    status: Literal["ringing", "answered", "failed"]
    error_code: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="The seeds' call-out error code, e.g. IPCC_NOT_CONNECT_CUSTOMER."
    )
    sip_code: Annotated[int, Field(ge=100, le=699)] | None = None


class CalloutRequest(ClientMessage):
    """Seed ``csCallout(number)``: this agent calls ``phone`` on its current device.

    Answered by ``callout.accepted``, or by an ``error`` whose code is the seeds' call-out code
    (the SDK turns it into ``showCalloutError(errorCode, sipCode)``).
    """

    action: Literal["callout"]
    phone: Annotated[str, Field(min_length=1, max_length=32)]
    userfield: Annotated[str, Field(max_length=256)] | None = None


# ---------------------------------------------------------------- transfers (issue 9, seed 002)
TransferId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class TransferAgentsRequest(ClientMessage):
    """Seed ``getTransferAgent()``: the tenant's agents a call can be transferred to now."""

    action: Literal["transfer.agents"]


class TransferAgentRequest(ClientMessage):
    """Seed ``csTransferCallAgent(ipphone)``: ask agent ``ipphone`` to take this tab's call.

    The target's tabs get ``transfer.request``; its answer (or 10 s of silence) comes back to this tab
    as ``transfer.response``. ``callid``/``phone`` describe the call for the target's prompt.
    """

    action: Literal["transfer.agent"]
    ipphone: Annotated[str, Field(pattern=IPPHONE_PATTERN)]
    callid: CallId | None = None
    phone: ShortText | None = None


class TransferQueueRequest(ClientMessage):
    """Seed ``csTransferCallAcd(queueId)``: where to send this tab's call for queue ``queue_id``."""

    action: Literal["transfer.queue"]
    queue_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class TransferRespondRequest(ClientMessage):
    """Seed ``responseTransferAgent(action)``: the target accepts (1) or rejects (0) a transfer."""

    action: Literal["transfer.respond"]
    transfer_id: TransferId
    accept: bool


class TransferCancelRequest(ClientMessage):
    """The requester gives up on a transfer (its own 10 s timer ran out, or the call ended)."""

    action: Literal["transfer.cancel"]
    transfer_id: TransferId


ClientRequest = Annotated[
    PingRequest
    | SyncRequest
    | EnableVoiceRequest
    | StatusRequest
    | DeviceRequest
    | ResetDeviceRequest
    | CallStateRequest
    | CalloutRequest
    | CalloutResultRequest
    | TransferAgentsRequest
    | TransferAgentRequest
    | TransferQueueRequest
    | TransferRespondRequest
    | TransferCancelRequest,
    Field(discriminator="action"),
]


@cache
def client_request() -> TypeAdapter[ClientRequest]:
    """Validator of any client frame (built on first use: cold starts pay only for what they use)."""
    return TypeAdapter(ClientRequest)


CLIENT_MODELS: tuple[type[ClientMessage], ...] = (
    PingRequest,
    SyncRequest,
    EnableVoiceRequest,
    StatusRequest,
    DeviceRequest,
    ResetDeviceRequest,
    CallStateRequest,
    CalloutRequest,
    CalloutResultRequest,
    TransferAgentsRequest,
    TransferAgentRequest,
    TransferQueueRequest,
    TransferRespondRequest,
    TransferCancelRequest,
)


def action_of(model: type[ClientMessage]) -> str:
    """The ``action`` literal a client model is selected by (its route key in template.yaml)."""
    return str(get_args(model.model_fields["action"].annotation)[0])


ACTIONS: frozenset[str] = frozenset(action_of(m) for m in CLIENT_MODELS)


# ============================================================================ server -> client


class ServerMessage(Model):
    """Base of what the server pushes: ``type``, ``v`` and the time it was built (``ts``)."""

    # "ignore", not "forbid": the published schemas must let a newer server add fields (see above).
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Declared here so every frame starts with "type"; each subclass narrows it to its literal.
    type: str
    v: Literal[1] = 1
    ts: datetime = Field(default_factory=_now)

    def to_bytes(self) -> bytes:
        """The JSON frame; serialized once per fan-out, however many tabs receive it."""
        return self.model_dump_json().encode()


class Contact(Model):
    """What the tenant's CRM knows about a phone number (screen pop)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2048, description="Link to the CRM record.")
    id: str | None = Field(default=None, max_length=128, description="The CRM's id of the record.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("url")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        # The webphone turns it into a link: never let a CRM answer inject javascript: URLs.
        if value is not None and not value.lower().startswith(("https://", "http://")):
            return None
        return value


class _CallBase(ServerMessage):
    callid: CallId
    phone: str = Field(description="The other party's number as the PBX sent it.")
    phone_e164: str | None = Field(default=None, description="The same number in E.164, when it is one.")
    extension: str = Field(description="The agent's extension (ipphone).")
    direction: str = Field(description="inbound or outbound, as the PBX event says.")
    customer: str = Field(description="The tenant's customer code (seed 004's {customer}).")


class CallRinging(_CallBase):
    """Seed ``csCallRinging(phone)`` + ``csCurrentCallId(callId)``: a call rings this agent."""

    type: Literal["call.ringing"] = "call.ringing"
    contact: Contact | None = Field(default=None, description="CRM lookup result, if it was already known.")


class CallOutgoing(_CallBase):
    """Seed ``showCalloutInfo(number)``: the agent dials out (from any device)."""

    type: Literal["call.outgoing"] = "call.outgoing"
    contact: Contact | None = None


class CallEnded(_CallBase):
    """Seed ``csEndCall()``: the PBX's call log for the call (seed 004 ``call_answered``)."""

    type: Literal["call.ended"] = "call.ended"
    status: str | None = Field(default=None, description="ANSWERED, NO ANSWER, BUSY, ...")
    duration: int | None = Field(default=None, description="Seconds, ringing included.")
    billsec: int | None = Field(default=None, description="Seconds of conversation.")
    recording: str | None = None
    userfield: str | None = None

    @field_validator("userfield", mode="before")
    @classmethod
    def _userfield_as_text(cls, value: Any) -> Any:
        # The PBX passes the CRM's userfield through untyped; the popup shows it as text.
        return None if value is None else value if isinstance(value, str) else str(value)


class CallContact(ServerMessage):
    """The CRM lookup answered after the popup went out: enrich the popup of ``callid``."""

    type: Literal["call.contact"] = "call.contact"
    callid: CallId
    phone: str
    contact: Contact


class CallStateChanged(ServerMessage):
    """The agent's call state changed (seed ``csAcceptCall()`` on ``in_call``); sent to every tab."""

    type: Literal["call.state"] = "call.state"
    callid: str | None
    state: CallState


class Voice(ServerMessage):
    """Seed ``csShowEnableVoice(isEnable)``: whether *this* tab holds voice, and which tab does."""

    type: Literal["voice"] = "voice"
    enabled: bool
    holder_tab: str | None = Field(description="Tab id of the voice holder; null when nobody holds it.")
    reason: VoiceReason


class Status(ServerMessage):
    """Seed ``csShowCallStatus(status)``: the agent's On/Off, echoed to every tab."""

    type: Literal["status"] = "status"
    ready: bool


class Device(ServerMessage):
    """Seed ``csShowDeviceType(type)``: where the agent's calls ring, echoed to every tab."""

    type: Literal["device"] = "device"
    device_type: DeviceType
    mobile: str | None = None


class CallInfo(Model):
    model_config = ConfigDict(frozen=True)

    state: CallState
    callid: str | None = None
    phone: str | None = None
    direction: str | None = None
    since: datetime | None = None


class State(ServerMessage):
    """Answer to ``sync``: everything a (re)connected tab needs to draw itself."""

    type: Literal["state"] = "state"
    tenant_id: str
    ipphone: str
    tab: str
    ready: bool
    device_type: DeviceType
    mobile: str | None = None
    voice: bool = Field(description="This tab holds voice.")
    voice_tab: str | None = Field(description="Tab id of the voice holder, if any.")
    tabs: int = Field(description="Open tabs of this agent, this one included.")
    call: CallInfo


class CallDial(ServerMessage):
    """Click-to-call for the browser device: the voice tab dials ``phone`` (answered by ``callout.result``).

    ``call_id`` is the SIP Call-ID to use, so the PBX's call log can be tied back to the request.
    """

    type: Literal["call.dial"] = "call.dial"
    request_id: str
    phone: str
    call_id: str


class CalloutAccepted(ServerMessage):
    """A ``callout`` was accepted: follow it by ``request_id`` (seed ``showCalloutInfo(number)``)."""

    type: Literal["callout.accepted"] = "callout.accepted"
    request_id: str
    phone: str
    route: str = Field(description="browser, softphone or mobile: the device that places the call.")
    status: str


TransferStatus = Literal["accepted", "rejected", "expired", "cancelled"]


class TransferAgent(Model):
    """An agent a call can be transferred to (an entry of seed ``csListTransferAgent(list)``)."""

    model_config = ConfigDict(frozen=True)

    ipphone: str
    display_name: str
    device_type: DeviceType


class TransferAgents(ServerMessage):
    """Answer to ``transfer.agents``: the online agents that are ready, idle and reachable."""

    type: Literal["transfer.agents"] = "transfer.agents"
    agents: list[TransferAgent]


class TransferPending(ServerMessage):
    """Answer to ``transfer.agent``: the target was asked; its answer is due by ``deadline``."""

    type: Literal["transfer.pending"] = "transfer.pending"
    transfer_id: str
    ipphone: str = Field(description="The target agent.")
    deadline: datetime


class TransferRequestPush(ServerMessage):
    """Seed ``csNewCallTransferRequest(transferCall)``: to every tab of the target agent."""

    type: Literal["transfer.request"] = "transfer.request"
    transfer_id: str
    from_ipphone: str = Field(description="The agent handing the call over (the seed's dropAgentId).")
    from_name: str
    callid: str | None = None
    phone: str | None = Field(default=None, description="The customer's number, when known.")
    deadline: datetime = Field(description="Unanswered by then, the transfer is rejected.")


class TransferResponse(ServerMessage):
    """Seed ``csTransferCallResponse(status)``: the target's answer, to the requesting tab.

    On ``OK`` the requesting tab transfers the call (SIP REFER) to ``target``.
    """

    type: Literal["transfer.response"] = "transfer.response"
    transfer_id: str
    ipphone: str = Field(description="The target agent.")
    status: Literal["OK", "NOK"]
    reason: TransferStatus
    target: str = Field(description="The extension to transfer the call to.")


class TransferClosed(ServerMessage):
    """A transfer request was settled: the target's tabs hide their prompt."""

    type: Literal["transfer.closed"] = "transfer.closed"
    transfer_id: str
    status: TransferStatus


class TransferTarget(ServerMessage):
    """Answer to ``transfer.queue``: the number the requesting tab transfers the call to."""

    type: Literal["transfer.target"] = "transfer.target"
    queue_id: str
    target: str


class SessionRevokedPush(ServerMessage):
    """The session this tab connected with has ended; the server closes the connection right after.

    Do not reconnect with the same session token (``$connect`` would refuse it with 401): show the
    agent as signed out and log in again (from the CRM).
    """

    type: Literal["session.revoked"] = "session.revoked"
    reason: RevokedReason


class Pong(ServerMessage):
    type: Literal["pong"] = "pong"
    id: str | None = None


class Error(ServerMessage):
    """A request could not be served; ``code`` is stable, ``message`` is for humans."""

    type: Literal["error"] = "error"
    code: str
    message: str
    action: str | None = Field(default=None, description="The action of the request, when known.")


ServerPush = Annotated[
    CallRinging
    | CallOutgoing
    | CallEnded
    | CallContact
    | CallStateChanged
    | Voice
    | Status
    | Device
    | State
    | CallDial
    | CalloutAccepted
    | TransferAgents
    | TransferPending
    | TransferRequestPush
    | TransferResponse
    | TransferClosed
    | TransferTarget
    | SessionRevokedPush
    | Pong
    | Error,
    Field(discriminator="type"),
]


@cache
def server_push() -> TypeAdapter[ServerPush]:
    """Validator of any server frame (clients written in Python, tests)."""
    return TypeAdapter(ServerPush)


SERVER_MODELS: tuple[type[ServerMessage], ...] = (
    CallRinging,
    CallOutgoing,
    CallEnded,
    CallContact,
    CallStateChanged,
    Voice,
    Status,
    Device,
    State,
    CallDial,
    CalloutAccepted,
    TransferAgents,
    TransferPending,
    TransferRequestPush,
    TransferResponse,
    TransferClosed,
    TransferTarget,
    SessionRevokedPush,
    Pong,
    Error,
)
