"""What a webphone tab can ask over the WebSocket, one function per ``action``.

:func:`dispatch` parses the frame, picks the handler by the request model's ``action`` literal (the
same key API Gateway selected the route by), validates the frame against that model, runs it and
answers errors to the sender as ``{"type": "error", "code": ...}``. Handlers get the sender's
recorded connection (tenant, ipphone, tab), never anything the frame claims about who it is.
"""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from ctibridge.connections import Connection
from ctibridge.errors import CtiError
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import (
    CalloutAccepted,
    CalloutRequest,
    CalloutResultRequest,
    CallStateChanged,
    CallStateRequest,
    ClientMessage,
    Device,
    DeviceRequest,
    EnableVoiceRequest,
    Error,
    PingRequest,
    Pong,
    ResetDeviceRequest,
    State,
    Status,
    StatusRequest,
    SyncRequest,
    Voice,
    action_of,
)

MAX_FRAME_BYTES = 8 * 1024  # nothing a tab sends legitimately comes near this
MAX_ECHOED_ACTION = 64  # an unknown action is named back in the error, up to this many characters

_Request = TypeVar("_Request", bound=ClientMessage)
Handler = Callable[[str, Any], None]

# action -> (request model, handler(connection_id, request))
_ROUTES: dict[str, tuple[type[ClientMessage], Handler]] = {}


def route(
    model: type[_Request],
) -> Callable[[Callable[[str, _Request], None]], Callable[[str, _Request], None]]:
    """Register the handler of ``model``'s action."""

    def register(handler: Callable[[str, _Request], None]) -> Callable[[str, _Request], None]:
        _ROUTES[action_of(model)] = (model, handler)
        return handler

    return register


def routes() -> frozenset[str]:
    """The actions served (each must be a route of the WebSocket API in template.yaml)."""
    return frozenset(_ROUTES)


def _reply(connection_id: str, message: Any) -> None:
    fanout.send_to_connection(connection_id, message)


def _error(connection_id: str, code: str, message: str, action: str | None = None) -> None:
    _reply(connection_id, Error(code=code, message=message, action=action))


def _named(action: str) -> str:
    """The client's action, fit to be named back: cut short, and text JSON can carry (no lone surrogate)."""
    return action[:MAX_ECHOED_ACTION].encode("utf-8", "replace").decode("utf-8")


def frame_text(body: str | None, base64_encoded: bool) -> str:
    """The frame's text; a base64 body (a binary frame) decoded, or "" when it is not UTF-8 text."""
    if not body or not base64_encoded:
        return body or ""
    try:
        return base64.b64decode(body).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def dispatch(connection_id: str, body: str | None, route_key: str | None = None) -> None:
    """Serve one frame from ``connection_id``; every problem is answered to the sender as an error.

    ``route_key``: the route API Gateway selected (the frame's action), named in the error of a frame
    too large to read.
    """
    if body is not None and len(body.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        named = _named(route_key) if route_key in _ROUTES else None
        _error(connection_id, "MESSAGE_TOO_LARGE", f"Frames are limited to {MAX_FRAME_BYTES} bytes.", named)
        return
    try:
        frame = json.loads(body or "")
    except ValueError:
        _error(connection_id, "INVALID_MESSAGE", "The frame is not JSON.")
        return
    action = frame.get("action") if isinstance(frame, dict) else None
    if not isinstance(action, str):
        _error(connection_id, "INVALID_MESSAGE", "The frame must be a JSON object with an action.")
        return
    if action not in _ROUTES:
        # Named back to the sender (cut short: it is the client's own text, up to a frame's size), so a
        # client that sent several frames knows which one was refused.
        _error(
            connection_id,
            "UNKNOWN_ACTION",
            f"Unknown action; known: {', '.join(sorted(_ROUTES))}.",
            _named(action),
        )
        return
    model, handler = _ROUTES[action]
    try:
        request = model.model_validate(frame)
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        _error(
            connection_id, "VALIDATION_ERROR", f"{field}: {first['msg']}" if field else first["msg"], action
        )
        return
    try:
        handler(connection_id, request)
    except presence.TabSessionEnded as error:
        _error(connection_id, error.code, error.message, action)
        # Imported here: only a tab whose login ended needs it.
        from ctibridge.realtime import revocation

        revocation.end_tabs([error.connection], "revoked")
    except CtiError as error:
        _error(connection_id, error.code, error.message, action)
    except (ClientError, BotoCoreError):
        logger.exception("action failed", extra={"action": action})
        _error(connection_id, "INTERNAL_ERROR", "System error; try again later.", action)
    except Exception:
        # A bug must still answer the frame with a code naming its action: unanswered, the tab's request
        # waits for its timeout, and API Gateway tells it only {"message": "Internal server error"}.
        logger.exception("action failed", extra={"action": action})
        _error(connection_id, "INTERNAL_ERROR", "System error; try again later.", action)


# ---------------------------------------------------------------- handlers


def _state_message(connection: Connection) -> State:
    state = presence.get_state(connection.tenant_id, connection.ipphone)
    return State(
        tenant_id=state.tenant_id,
        ipphone=state.ipphone,
        tab=connection.tab,
        ready=state.ready,
        device_type=state.device_type,
        mobile=state.mobile,
        voice=state.voice_connection == connection.connection_id,
        voice_tab=state.voice_tab,
        tabs=len(state.connections),
        call=state.call,
    )


@route(PingRequest)
def _ping(connection_id: str, request: PingRequest) -> None:
    # No table read: a keep-alive must stay cheap.
    _reply(connection_id, Pong(id=request.id))


@route(SyncRequest)
def _sync(connection_id: str, request: SyncRequest) -> None:
    connection = presence.require_connection(connection_id)
    _reply(connection_id, _state_message(connection))


@route(EnableVoiceRequest)
def _enable_voice(connection_id: str, request: EnableVoiceRequest) -> None:
    connection = presence.require_connection(connection_id)
    presence.enable_voice(connection)
    # The new holder first (it may start registering SIP), then every other tab (they stop).
    _reply(connection_id, Voice(enabled=True, holder_tab=connection.tab, reason="enabled"))
    fanout.send_to_agent(
        connection.tenant_id,
        connection.ipphone,
        Voice(enabled=False, holder_tab=connection.tab, reason="taken"),
        exclude={connection_id},
    )


@route(StatusRequest)
def _status(connection_id: str, request: StatusRequest) -> None:
    connection = presence.require_connection(connection_id)
    presence.set_ready(connection.tenant_id, connection.ipphone, request.ready)
    fanout.send_to_agent(connection.tenant_id, connection.ipphone, Status(ready=request.ready))


@route(DeviceRequest)
def _device(connection_id: str, request: DeviceRequest) -> None:
    connection = presence.require_connection(connection_id)
    mobile = request.mobile if request.device_type == 3 else None
    presence.set_device(connection.tenant_id, connection.ipphone, request.device_type, mobile)
    fanout.send_to_agent(
        connection.tenant_id, connection.ipphone, Device(device_type=request.device_type, mobile=mobile)
    )


@route(ResetDeviceRequest)
def _reset_device(connection_id: str, request: ResetDeviceRequest) -> None:
    connection = presence.require_connection(connection_id)
    presence.reset_device(connection.tenant_id, connection.ipphone)
    state = presence.get_state(connection.tenant_id, connection.ipphone)
    fanout.send_to_agent(
        connection.tenant_id, connection.ipphone, Device(device_type=state.device_type, mobile=state.mobile)
    )


@route(CallStateRequest)
def _call_state(connection_id: str, request: CallStateRequest) -> None:
    connection = presence.require_connection(connection_id)
    changed = presence.set_call_state(connection.tenant_id, connection.ipphone, request.callid, request.state)
    if changed:
        fanout.send_to_agent(
            connection.tenant_id,
            connection.ipphone,
            CallStateChanged(
                callid=request.callid if request.state == "in_call" else None, state=request.state
            ),
        )
    else:
        # The call already ended (or another one is current): tell the sender the truth.
        _reply(connection_id, _state_message(connection))


@route(CalloutRequest)
def _callout(connection_id: str, request: CalloutRequest) -> None:
    # Seed csCallout(number): the same path as the CRM's click-to-call, for the sender's own agent.
    from ctibridge.click2call import service
    from ctibridge.click2call.models import OutboundCallRequest, Source
    from ctibridge.tenants.repository import get_by_customer

    connection = presence.require_connection(connection_id)
    tenant = get_by_customer(connection.tenant_id)
    if tenant is None:
        raise presence.NotConnected()
    outbound = service.start(
        tenant,
        OutboundCallRequest(extension=connection.ipphone, phone=request.phone, userfield=request.userfield),
        Source.WEBPHONE,
    )
    _reply(
        connection_id,
        CalloutAccepted(
            request_id=outbound.request_id,
            phone=outbound.phone,
            route=outbound.route.value,
            status=outbound.status.value,
        ),
    )


@route(CalloutResultRequest)
def _callout_result(connection_id: str, request: CalloutResultRequest) -> None:
    # Imported here: click-to-call is a feature of its own, and only this action needs it.
    from ctibridge.click2call import service
    from ctibridge.click2call.models import Status as CalloutStatus

    connection = presence.require_connection(connection_id)
    # The agent is the one of the connection: a tab can only report its own agent's requests.
    service.report(
        connection.tenant_id,
        connection.ipphone,
        request.request_id,
        CalloutStatus(request.status),
        request.error_code,
        request.sip_code,
    )


# Feature modules that register more actions with @route (imported last: they import `route` from here).
from ctibridge.realtime import transfers  # noqa: E402, F401
