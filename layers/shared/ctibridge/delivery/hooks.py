"""The calls other features make to forward their events to the tenant's CRM endpoints.

Each builds the event and queues it (``enqueue.enqueue_event``); nothing here calls a CRM. They raise
if SQS refuses, on purpose: the caller's own retry (the PBX re-sending its webhook, SQS redelivering a
recording job) then queues the event again, and the stable event id makes the second one harmless.
A tenant without CRM endpoints costs one cached tenant lookup, no AWS call.
"""

from __future__ import annotations

from ctibridge.calls.models import DIALING, RINGING, CallEvent, CallRecord
from ctibridge.click2call.models import OutboundRequest
from ctibridge.delivery import events
from ctibridge.delivery.enqueue import enqueue_event
from ctibridge.observability import logger
from ctibridge.tenants import repository
from ctibridge.tenants.models import Tenant


def call_event_stored(tenant: Tenant, event: CallEvent, call: CallRecord | None = None) -> int:
    """A PBX event was stored (new, or a duplicate whose first enqueue may have been lost).

    A ring the PBX sends after its call's log (a late retry) is not forwarded: queued after call.ended,
    it would reach the CRM after it and reopen a call that ended (a popup, a "ringing" status), and it
    carries nothing call.ended does not (phone, extension, direction).
    """
    if not tenant.crm_endpoints:
        return 0
    if event.kind.is_ring and call is not None and call.status not in (None, RINGING, DIALING):
        logger.info("ring after the call log; not forwarded to the CRM", extra={"callid": event.callid})
        return 0
    return enqueue_event(tenant, events.from_call_event(tenant, event, call))


def recording_stored(
    tenant_id: str,
    callid: str,
    *,
    s3_key: str,
    size: int | None,
    sha256: str | None,
    content_type: str | None,
) -> int:
    """A call's recording is in S3: recording.ready (the worker adds a presigned URL at each attempt)."""
    tenant = repository.get_by_customer(tenant_id)
    if tenant is None or not tenant.crm_endpoints:
        return 0
    event = events.recording_ready(
        tenant_id, callid, s3_key=s3_key, size=size, sha256=sha256, content_type=content_type
    )
    return enqueue_event(tenant, event)


def click_to_call_changed(request: OutboundRequest | None) -> None:
    """A click-to-call request moved on (what ``click2call.repository.advance`` answers; None: it did
    not). Never raises: the call goes on whatever happens to the CRM's copy, and the CRM can still
    read the request with ``GET /v1/calls/outbound/{id}``.
    """
    if request is None:
        return
    try:
        tenant = repository.get_by_customer(request.tenant_id)
        if tenant is None or not tenant.crm_endpoints:
            return
        # One event per status: a repeat for the same request and status is harmless (same id).
        event = events.click_to_call_result(
            request.tenant_id,
            request.request_id,
            extension=request.extension,
            phone=request.phone,
            status=request.status.value,
            userfield=request.userfield,
            callid=request.callid,
            error=request.error_code,
            sip_code=request.sip_code,
        )
        enqueue_event(tenant, event)
    except Exception:
        logger.exception("click-to-call result not queued for the CRM")
