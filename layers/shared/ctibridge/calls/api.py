"""The calls API for the CRM (``GET /v1/calls``, ``GET /v1/calls/{callid}``): views and use cases.

Every read is scoped by the tenant that owns the request's API key: the tenant id is part of every key
and index partition read, so one tenant's key cannot name another tenant's call, and cursors are bound
to the tenant (``calls.query``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ctibridge.calls.models import CallRecord, RecordingState
from ctibridge.calls.query import CallQuery, parse_time_bound
from ctibridge.calls.repository import CallRepository
from ctibridge.calls.repository import repository as call_repository
from ctibridge.click2call import repository as click2call_requests
from ctibridge.click2call.models import request_id_from_userfield
from ctibridge.errors import NotFound
from ctibridge.model import Model
from ctibridge.recordings import store
from ctibridge.settings import get_settings
from ctibridge.tenants.models import Tenant


class CallNotFound(NotFound):
    code = "CALL_NOT_FOUND"
    message = "No such call."


class RecordingView(Model):
    state: RecordingState
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    stored_at: str | None = None
    error: str | None = None
    url: str | None = None  # presigned, short-lived; only on GET /v1/calls/{callid}
    url_expires_at: str | None = None


class CallView(Model):
    callid: str
    direction: str | None
    phone: str | None
    phone_e164: str | None
    extension: str | None
    rang_extensions: list[str]
    status: str | None
    status_raw: str | None
    started_at: str | None
    calldate: str | None
    calldate_local: str | None
    duration: int | None
    billsec: int | None
    # The CRM's own userfield for a call it placed by click-to-call (the PBX's for any other call).
    userfield: str | None
    # The click-to-call request the call answers (ours; the PBX carried it as its userfield).
    outbound_request_id: str | None = None
    # The same as userfield for a click-to-call (kept: earlier clients read the CRM's value here).
    crm_userfield: str | None = None
    recording: RecordingView
    updated_at: str | None


class CallList(Model):
    items: list[CallView]
    next_cursor: str | None


def to_view(call: CallRecord) -> CallView:
    state = call.recording_state
    recording = RecordingView(state=state)
    if state is RecordingState.STORED:
        recording = RecordingView(
            state=state,
            size=call.recording_size,
            sha256=call.recording_sha256,
            content_type=call.recording_content_type,
            stored_at=call.recording_stored_at,
        )
    elif state is RecordingState.FAILED:
        recording = RecordingView(state=state, error=call.recording_error)
    return CallView(
        callid=call.callid,
        direction=call.direction.value if call.direction else None,
        phone=call.phone,
        phone_e164=call.phone_e164,
        extension=call.extension,
        rang_extensions=call.rang_extensions,
        status=call.status,
        status_raw=call.status_raw,
        started_at=call.started_at,
        calldate=call.calldate,
        calldate_local=call.calldate_local,
        duration=call.duration,
        billsec=call.billsec,
        userfield=call.userfield,
        outbound_request_id=call.outbound_request_id,
        crm_userfield=call.userfield if call.outbound_request_id else None,
        recording=recording,
        updated_at=call.updated_at,
    )


def list_calls(
    tenant: Tenant,
    *,
    phone: str | None = None,
    extension: str | None = None,
    start: str | None = None,
    end: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    calls: CallRepository | None = None,
) -> CallList:
    """One page of the tenant's calls, newest first; ``start``/``end`` as given in ``from``/``to``."""
    query = CallQuery(
        phone=phone or None,
        extension=extension or None,
        start=parse_time_bound(start, tenant.zone, field="from", end=False) if start else None,
        end=parse_time_bound(end, tenant.zone, field="to", end=True) if end else None,
        status=status or None,
        limit=limit,
        cursor=cursor or None,
    )
    page = (calls or call_repository()).list_calls(tenant.tenant_id, query)
    return CallList(items=[to_view(call) for call in page.items], next_cursor=page.next_cursor)


def get_call(tenant: Tenant, callid: str, *, calls: CallRepository | None = None) -> CallView:
    """One call of the tenant, with a presigned recording URL when the recording is stored."""
    call = (calls or call_repository()).get(tenant.tenant_id, callid)
    if call is None:
        raise CallNotFound()
    view = to_view(call)
    if view.outbound_request_id is None and (request_id := request_id_from_userfield(call.userfield)):
        # Stored before call logs were resolved at arrival: our token is in userfield; resolve it here.
        outbound = click2call_requests.get(tenant.tenant_id, request_id)
        if outbound is not None:
            view.outbound_request_id = request_id
            view.userfield = view.crm_userfield = outbound.userfield
    settings = get_settings()
    if view.recording.state is RecordingState.STORED and call.recording_s3_key and settings.recordings_bucket:
        ttl = settings.recording_url_ttl_seconds
        extension = call.recording_s3_key.rsplit(".", 1)[-1]
        view.recording.url = store.presign_get(
            settings.recordings_bucket,
            call.recording_s3_key,
            expires_in=ttl,
            filename=f"{tenant.tenant_id}-{_filename_safe(callid)}.{extension}",
        )
        expires = datetime.now(UTC) + timedelta(seconds=ttl)
        view.recording.url_expires_at = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return view


def _filename_safe(value: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in value)
