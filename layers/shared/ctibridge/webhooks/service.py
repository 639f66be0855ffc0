"""Handling one PBX webhook: tenant, secret, validation, one merge write, then the slow work queued.

Order of checks, each answering before anything is stored:

1. unknown customer → 404 ``CUSTOMER_NOT_FOUND`` (the tenant lookup is cached in-process);
2. missing/wrong secret → 401 ``SECRET_INVALID`` (constant-time comparison);
3. inactive tenant → 403 ``TENANT_EXPIRED`` (after the secret, so strangers learn nothing);
4. unreadable body or invalid field → 400 ``VALIDATION_ERROR`` with ``field`` (413 for oversized
   bodies is answered even earlier, by ``http_errors.resolve``).

Then the popup to the agent's tabs (``realtime.call_events``: one Query for the tabs, concurrent posts;
a ring before the write, the end of a call after it and only when new) and exactly one DynamoDB write
(``CallRepository.record_event``). That is the whole synchronous cost: two DynamoDB calls (three for
the call log of a click-to-call: its request is read to give the CRM its own userfield back). The rest is
queued on SQS:

* the recording download (``recordings.jobs``), for a call log whose recording is still pending;
* the agent's call state and the click-to-call request the call log closes (``realtime.call_state_jobs``);
* the CRM's copy (``delivery.hooks``).

Each is queued for a PBX retry (a duplicate) too: the first send may have been lost to a failure between
the write and SQS, and every consumer is idempotent, so nothing is lost and nothing happens twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ctibridge.auth.api_keys import TenantExpired
from ctibridge.calls.models import CallEvent, CallRecord, EventKind, RecordingState
from ctibridge.calls.repository import repository as call_repository
from ctibridge.click2call import service as click2call
from ctibridge.delivery import hooks as crm_delivery
from ctibridge.errors import CtiError, NotFound
from ctibridge.observability import count, logger
from ctibridge.realtime import call_state_jobs
from ctibridge.realtime.call_events import CallEventKind, SentPopup, send_popup
from ctibridge.recordings import jobs
from ctibridge.tenants.repository import get_by_customer
from ctibridge.tenants.secrets import get_secrets, reread_secrets
from ctibridge.webhooks import auth
from ctibridge.webhooks.models import collect_params, parse_event

_PUBLISH_KIND: dict[EventKind, CallEventKind] = {
    EventKind.INCOMING: "ringing",
    EventKind.OUTGOING: "outgoing",
    EventKind.ANSWERED: "ended",
}


class CustomerNotFound(NotFound):
    code = "CUSTOMER_NOT_FOUND"
    message = "Unknown customer."


@dataclass(frozen=True)
class WebhookResult:
    callid: str
    duplicate: bool
    call: CallRecord

    def body(self) -> dict[str, Any]:
        return {
            "code": "OK",
            "message": "Duplicate event, already stored." if self.duplicate else "Stored.",
            "callid": self.callid,
            "duplicate": self.duplicate,
        }


def _received_at(event: Mapping[str, Any]) -> datetime:
    """When API Gateway received the request (requestContext.timeEpoch), else now."""
    epoch_ms = (event.get("requestContext") or {}).get("timeEpoch")
    if isinstance(epoch_ms, int | float) and epoch_ms > 0:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return datetime.now(UTC)


def handle(kind: EventKind, customer: str, event: Mapping[str, Any]) -> WebhookResult:
    """Process one webhook request (an API Gateway payload 2.0 event) for ``customer``."""
    try:
        result = _handle(kind, customer, event)
    except CtiError as error:
        if error.http_status < 500:
            count("WebhooksRejected")
        raise
    count("WebhooksReceived")
    if result.duplicate:
        count("WebhooksDuplicate")
    return result


def _handle(kind: EventKind, customer: str, event: Mapping[str, Any]) -> WebhookResult:
    tenant = get_by_customer(customer)
    if tenant is None:
        raise CustomerNotFound()
    logger.append_keys(tenant=tenant.tenant_id, pbx_event=kind.value)

    request = collect_params(event)
    presented = auth.presented_secret(request.params, event.get("headers") or {})
    try:
        auth.verify(presented, get_secrets(tenant.tenant_id).pbx_secret)
    except auth.WebhookSecretInvalid:
        if not presented:
            raise
        # A rotated PBX secret works at its first webhook: re-read once (at most once a second).
        auth.verify(presented, reread_secrets(tenant.tenant_id).pbx_secret)
    if not tenant.is_active():
        raise TenantExpired()
    if request.body_error is not None:
        raise request.body_error

    fields = {k: v for k, v in request.params.items() if k != auth.SECRET_PARAM}
    call_event = parse_event(kind, fields, zone=tenant.zone, received_at=_received_at(event))
    if kind is EventKind.ANSWERED:
        # Our click-to-call token back in userfield: the CRM's own userfield from here on.
        call_event = click2call.resolve_call_log(tenant.tenant_id, call_event)
    logger.append_keys(callid=call_event.callid)

    # A ring pops up before the write: the agent's phone is ringing now, and the write (the slowest
    # step) must not stand between the PBX and the agent's screen. A PBX retry pops the same callid
    # again, which the webphone merges into the call it shows.
    popup = _publish(tenant.tenant_id, call_event, None) if kind.is_ring else None
    result = call_repository().record_event(tenant.tenant_id, call_event)
    call = result.call
    if kind is EventKind.ANSWERED and call.recording_state is RecordingState.PENDING:
        jobs.enqueue(jobs.RecordingJob(tenant_id=tenant.tenant_id, callid=call_event.callid))
    if kind is EventKind.ANSWERED and result.new:
        # The end goes after the write: it shows the merged call (calldate, direction) and only once.
        popup = _publish(tenant.tenant_id, call_event, call)
    call_state_jobs.enqueue(_call_state_job(tenant.tenant_id, call_event, call))
    # The CRM's copy (issue 10), queued for a duplicate too: after a crash between the write and this
    # send, the PBX's re-send is the only chance; the stable event id makes the CRM receive it once.
    crm_delivery.call_event_stored(tenant, call_event, call)
    if popup is not None:
        popup.follow_up()  # the CRM's contact, if it was slower than the popup
    logger.info(
        "pbx event stored" if result.new else "pbx event duplicate", extra={"duplicate": not result.new}
    )
    return WebhookResult(callid=call_event.callid, duplicate=not result.new, call=call)


def _call_state_job(tenant_id: str, event: CallEvent, call: CallRecord) -> call_state_jobs.CallStateJob:
    ended = event.kind is EventKind.ANSWERED
    return call_state_jobs.CallStateJob(
        tenant_id=tenant_id,
        extension=event.extension,
        kind=_PUBLISH_KIND[event.kind],
        callid=event.callid,
        phone=event.phone,
        direction=event.direction_of(call),
        outbound_request_id=event.outbound_request_id if ended else None,
        status=event.status if ended else None,
    )


def _publish(tenant_id: str, event: CallEvent, call: CallRecord | None) -> SentPopup | None:
    """The popup for ``event`` (``call``: the stored call, for the end of a call)."""
    data: dict[str, Any] = {
        "callid": event.callid,
        "customer": tenant_id,
        "phone": event.phone,
        "phone_e164": event.phone_e164,
        "extension": event.extension,
        "direction": direction.value if (direction := event.direction_of(call)) else None,
        "status": call.status if call else event.kind.ring_status,
    }
    if event.kind is EventKind.ANSWERED:
        data.update(
            {
                "calldate": call.calldate if call else None,
                "duration": event.duration,
                "billsec": event.billsec,
                "recording": event.public_recording,
                "userfield": event.userfield,
            }
        )
    try:
        return send_popup(tenant_id, event.extension, _PUBLISH_KIND[event.kind], data)
    except Exception:
        # A failed popup must not fail the webhook: the PBX would retry for nothing.
        logger.exception("publishing the call event failed")
        return None
