"""Starting a click-to-call and following it to its end.

Checks run before anything is stored (a refused request leaves no trace): tenant active, number
allowed, agent known, connected and not in a call. Then the request is stored and handed to the
agent's device, chosen by the device type the agent set (seed ``changeDevice``):

- browser (1): a ``call.dial`` command to the tab holding voice; the webphone dials through JsSIP with
  our token as SIP Call-ID, so the PBX returns it as the call log's ``userfield`` (seed 004 §2.2);
- softphone / IP phone (2): the tenant PBX's ``click2call.php`` rings the extension;
- mobile (3): the same, ringing the agent's mobile number.
"""

from __future__ import annotations

import dataclasses

from ctibridge.calls.models import CallEvent, normalize_status
from ctibridge.click2call import pbx_client, repository
from ctibridge.click2call.errors import (
    CUSTOMER_NOT_CONNECTED,
    AgentBusy,
    AgentNotConnected,
    CalloutError,
    PbxUnreachable,
    PermissionDenied,
    UnknownAgent,
)
from ctibridge.click2call.models import (
    OutboundCallRequest,
    OutboundRequest,
    Route,
    Source,
    Status,
    call_token,
    new_request_id,
    request_id_from_userfield,
)
from ctibridge.click2call.policy import check_number
from ctibridge.delivery import hooks as crm_delivery
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import CallDial
from ctibridge.tenants.models import DeviceType, Tenant
from ctibridge.tenants.repository import get_agent
from ctibridge.tenants.secrets import get_secrets

_ROUTES = {
    DeviceType.BROWSER: Route.BROWSER,
    DeviceType.SOFTPHONE: Route.SOFTPHONE,
    DeviceType.MOBILE: Route.MOBILE,
}

# How a PBX call-log status that is not ANSWERED reads in the seeds' call-out table (SIP code).
_SIP_CODE_OF_STATUS = {"BUSY": 486, "NO ANSWER": 408, "CANCEL": 487, "CONGESTION": 480, "CHANUNAVAIL": 480}


def start(tenant: Tenant, request: OutboundCallRequest, source: Source) -> OutboundRequest:
    """Place the call on the agent's device; raises a :class:`CalloutError` with the seed's code."""
    if not tenant.is_active():
        raise PermissionDenied("The tenant's service has expired.")
    number = check_number(tenant, request.phone)
    if get_agent(tenant.tenant_id, request.extension) is None:
        raise UnknownAgent()
    state = presence.get_state(tenant.tenant_id, request.extension)
    if state.busy:
        raise AgentBusy()
    route = _ROUTES[state.device_type]
    if route is Route.BROWSER and state.voice_connection is None:
        raise AgentNotConnected("The agent has no webphone tab holding voice.")
    if route is Route.MOBILE and not state.mobile:
        raise AgentNotConnected("The agent chose a mobile phone but gave no number.")
    if number.internal and route is not Route.BROWSER:
        raise PermissionDenied("Internal extensions can be called from the browser only.")

    request_id = new_request_id()
    outbound = OutboundRequest(
        request_id=request_id,
        tenant_id=tenant.tenant_id,
        extension=request.extension,
        phone=request.phone,
        phone_e164=number.e164,
        userfield=request.userfield,
        source=source,
        route=route,
        call_token=call_token(request_id),
    )
    repository.put(outbound)
    logger.append_keys(outbound_request=request_id)
    try:
        if route is Route.BROWSER:
            _dial_in_browser(outbound, state.voice_connection)
        else:
            ring_at = request.extension if route is Route.SOFTPHONE else str(state.mobile)
            secret = get_secrets(tenant.tenant_id).click2call_secret.get_secret_value()
            pbx_client.place_call(tenant, secret, ring_at, outbound.phone, outbound.call_token)
    except CalloutError as error:
        failed = repository.advance(tenant.tenant_id, request_id, Status.FAILED, error_code=error.code)
        crm_delivery.click_to_call_changed(failed)  # click_to_call.result for the CRM (issue 10)
        error.details["request_id"] = request_id
        raise
    logger.info("click-to-call placed", extra={"route": route.value, "source": source.value})
    dialing = repository.advance(tenant.tenant_id, request_id, Status.DIALING)
    crm_delivery.click_to_call_changed(dialing)
    return dialing or outbound


def _dial_in_browser(outbound: OutboundRequest, connection_id: str | None) -> None:
    command = CallDial(request_id=outbound.request_id, phone=outbound.phone, call_id=outbound.call_token)
    if connection_id is None or not fanout.send_to_connection(connection_id, command):
        raise AgentNotConnected("The agent's voice tab has just closed.")


def get(tenant: Tenant, request_id: str) -> OutboundRequest | None:
    return repository.get(tenant.tenant_id, request_id)


def report(
    tenant_id: str,
    extension: str,
    request_id: str,
    status: Status,
    error_code: str | None,
    sip_code: int | None,
) -> OutboundRequest | None:
    """The webphone's progress report for its own request; a request of another agent is ignored."""
    current = repository.get(tenant_id, request_id)
    if current is None or current.extension != extension:
        return None
    if status is Status.FAILED:
        error_code = error_code or CUSTOMER_NOT_CONNECTED
    changed = repository.advance(tenant_id, request_id, status, error_code=error_code, sip_code=sip_code)
    crm_delivery.click_to_call_changed(changed)
    return changed


def resolve_call_log(tenant_id: str, event: CallEvent) -> CallEvent:
    """A call log whose userfield is our click-to-call token, with the CRM's own userfield in its place.

    The token is how the PBX tells us which request a call log closes (seed 004 §2.2); the CRM gave its
    own userfield with the request and expects it back on every surface (seed004 and json forwards,
    ``GET /v1/calls``), so the token moves to ``outbound_request_id`` and never reaches a CRM. One
    GetItem, only for call logs carrying a token; a call without click-to-call keeps the PBX's
    userfield, and so does a token we don't know.
    """
    request_id = request_id_from_userfield(event.userfield)
    if request_id is None:
        return event
    request = repository.get(tenant_id, request_id)
    if request is None:
        return event
    return dataclasses.replace(event, userfield=request.userfield, outbound_request_id=request_id)


def link_call_log(tenant_id: str, callid: str, request_id: str | None, pbx_status: str | None) -> None:
    """The PBX's call log closed click-to-call ``request_id`` (see ``resolve_call_log``): close it.

    One conditional UpdateItem; a call log for a request we don't know changes nothing.
    """
    if request_id is None:
        return
    status = normalize_status(pbx_status or "")
    if status == "ANSWERED":
        changed = repository.advance(tenant_id, request_id, Status.ANSWERED, callid=callid)
    else:
        changed = repository.advance(
            tenant_id,
            request_id,
            Status.FAILED,
            error_code=CUSTOMER_NOT_CONNECTED,
            sip_code=_SIP_CODE_OF_STATUS.get(status),
            callid=callid,
        )
    crm_delivery.click_to_call_changed(changed)


__all__ = ["PbxUnreachable", "get", "link_call_log", "report", "resolve_call_log", "start"]
