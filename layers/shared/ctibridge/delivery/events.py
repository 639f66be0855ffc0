"""The events forwarded to CRMs, built from what the rest of CTI Bridge knows.

Every event id is derived from its source (``models.event_id``), never random: a PBX re-sending a
webhook, a retried recording job or a replay produce the same id, and the CRM dedupes on it.

=====================  ==============================  ==============================================
type                   source                          data
=====================  ==============================  ==============================================
call.ringing           PBX incoming_call               callid, phone, phone_e164, extension, direction
call.outgoing          PBX outgoing_call               same
call.ended             PBX call_answered (call log)    + calldate (UTC), calldate_local (tenant's
                                                       "Y-m-d H:i:s"), duration, billsec, status,
                                                       status_raw, recording, userfield
recording.ready        recording stored in S3          callid, content_type, size, sha256,
                                                       recording_url (presigned), recording_url_expires_at
click_to_call.result   a click-to-call's progress      request_id, extension, phone, userfield, status,
                       (dialing ... answered/failed)   callid, error, sip_code
=====================  ==============================  ==============================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ctibridge.calls.models import CallEvent, CallRecord, EventKind
from ctibridge.delivery.models import EventType, OutboundEvent, event_id
from ctibridge.tenants.models import Tenant

_TYPES: dict[EventKind, EventType] = {
    EventKind.INCOMING: EventType.CALL_RINGING,
    EventKind.OUTGOING: EventType.CALL_OUTGOING,
    EventKind.ANSWERED: EventType.CALL_ENDED,
}
SEED_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # the seed's "Y-m-d H:i:s"


def from_call_event(tenant: Tenant, event: CallEvent, call: CallRecord | None = None) -> OutboundEvent:
    """The CRM event of a stored PBX event (``call`` is the call as stored, for its direction)."""
    event_type = _TYPES[event.kind]
    direction = event.direction_of(call)
    data: dict[str, Any] = {
        "callid": event.callid,
        "phone": event.phone,
        "phone_e164": event.phone_e164,
        "extension": event.extension,
        "direction": direction.value if direction else None,
    }
    if event.kind is EventKind.ANSWERED:
        calldate = event.calldate
        data.update(
            {
                "calldate": calldate.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if calldate else None,
                "calldate_local": calldate.astimezone(tenant.zone).strftime(SEED_DATE_FORMAT)
                if calldate
                else None,
                "duration": event.duration or 0,
                "billsec": event.billsec or 0,
                "status": event.status,
                "status_raw": event.status_raw,
                "recording": event.public_recording,
                "userfield": event.userfield,  # the CRM's own (click2call.resolve_call_log)
                "outbound_request_id": event.outbound_request_id,
            }
        )
    return OutboundEvent(
        # CallEvent.event_id is a hash of what the PBX sent: a PBX retry has the same one.
        id=event_id(tenant.tenant_id, event_type, event.event_id),
        type=event_type,
        tenant=tenant.tenant_id,
        callid=event.callid,
        occurred_at=event.received_at,
        data=data,
    )


def recording_ready(
    tenant_id: str,
    callid: str,
    *,
    s3_key: str,
    size: int | None,
    sha256: str | None,
    content_type: str | None,
    occurred_at: datetime | None = None,
) -> OutboundEvent:
    """recording.ready; the worker adds a fresh presigned ``recording_url`` at every attempt."""
    return OutboundEvent(
        id=event_id(tenant_id, EventType.RECORDING_READY, callid, sha256 or s3_key),
        type=EventType.RECORDING_READY,
        tenant=tenant_id,
        callid=callid,
        occurred_at=occurred_at or datetime.now(UTC),
        data={"callid": callid, "content_type": content_type, "size": size, "sha256": sha256},
        recording_key=s3_key,
    )


def click_to_call_result(
    tenant_id: str,
    request_id: str,
    *,
    extension: str,
    phone: str,
    status: str,
    userfield: str | None = None,
    callid: str | None = None,
    error: str | None = None,
    sip_code: int | None = None,
    occurred_at: datetime | None = None,
) -> OutboundEvent:
    """click_to_call.result: how a click-to-call went (``status``: dialing, ringing, answered, ended,
    failed); one event per status a request reaches, each with its own stable id."""
    return OutboundEvent(
        id=event_id(tenant_id, EventType.CLICK_TO_CALL_RESULT, request_id, status),
        type=EventType.CLICK_TO_CALL_RESULT,
        tenant=tenant_id,
        callid=callid,
        occurred_at=occurred_at or datetime.now(UTC),
        data={
            "request_id": request_id,
            "extension": extension,
            "phone": phone,
            "userfield": userfield,
            "status": status,
            "callid": callid,
            "error": error,
            "sip_code": sip_code,
        },
    )
