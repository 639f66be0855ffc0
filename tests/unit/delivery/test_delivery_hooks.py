"""Where events come from: the PBX webhook queues the CRM's copy, the recording fetcher recording.ready."""

from __future__ import annotations

from typing import Any

import boto3
import httpx
import pytest

from ctibridge.click2call.models import OutboundRequest, Route, Source, Status
from ctibridge.delivery import hooks
from ctibridge.delivery.models import CrmEndpoint, DeliveryMessage, EndpointFormat
from ctibridge.recordings import jobs, service
from ctibridge.recordings.fetch import RecordingFetcher
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge.webhooks import service as webhook_service
from ctibridge_local.pbx_simulator import make_wav
from tests.support.aws import http_event
from tests.support.delivery import DeliveryQueues, add_endpoint
from tests.support.handlers import load_handler
from tests.unit.delivery.conftest import CUSTOMER, PBX_SECRET, SIGNING_SECRET

WAV = make_wav("hooks-test", 1.0)


@pytest.fixture
def endpoint(admin: TenantAdmin, monkeypatch: pytest.MonkeyPatch) -> CrmEndpoint:
    monkeypatch.setattr(webhook_service, "send_popup", lambda *args: None)  # no WebSocket here
    return add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="crm", url="https://crm.example.com/h"), signing_secret=SIGNING_SECRET
    )


def webhook(kind: str, lambda_context: Any, **fields: str) -> dict[str, Any]:
    event = http_event(
        "GET",
        f"/wsapi/{CUSTOMER}/{kind}",
        route=f"/wsapi/{{customer}}/{kind}",
        path_parameters={"customer": CUSTOMER},
        query={"secret": PBX_SECRET, **fields},
    )
    return load_handler("pbx_webhooks")(event, lambda_context)  # type: ignore[no-any-return]


def queued(queues: DeliveryQueues) -> list[DeliveryMessage]:
    sqs = boto3.client("sqs")
    messages = []
    while batch := sqs.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages += [DeliveryMessage.model_validate_json(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queues.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


def test_pbx_events_are_queued_for_the_crm_once(
    endpoint: CrmEndpoint, queues: DeliveryQueues, lambda_context: Any
) -> None:
    # Given a tenant with a CRM endpoint
    # When the PBX sends a ring event twice (a retry) and the call log
    ring = {"phone": "0901234567", "extension": "101", "callid": "c9"}
    assert webhook("incoming_call", lambda_context, **ring)["statusCode"] == 200
    assert webhook("incoming_call", lambda_context, **ring)["statusCode"] == 200
    log = {**ring, "calldate": "2024-05-01 15:00:00", "duration": "30", "billsec": "20", "status": "ANSWERED"}
    assert webhook("call_answered", lambda_context, **log)["statusCode"] == 200
    # Then the CRM's copies are queued once each, in order, with stable ids
    messages = queued(queues)
    assert [m.event.type.value for m in messages] == ["call.ringing", "call.ended"]
    ended = messages[1].event
    assert ended.data["calldate_local"] == "2024-05-01 15:00:00"
    assert ended.data["calldate"] == "2024-05-01T08:00:00Z"
    assert ended.data["direction"] == "inbound"
    assert ended.data["billsec"] == 20
    assert all(m.endpoint_id == "crm" and m.tenant == CUSTOMER for m in messages)


def test_a_ring_the_pbx_sends_after_the_call_log_is_not_forwarded(
    endpoint: CrmEndpoint, queues: DeliveryQueues, lambda_context: Any
) -> None:
    # Given a call whose log arrived first (the PBX's incoming_call was late: a retry)
    ring = {"phone": "0901234567", "extension": "101", "callid": "c11"}
    log = {**ring, "calldate": "2024-05-01 15:00:00", "duration": "30", "billsec": "20", "status": "ANSWERED"}
    assert webhook("call_answered", lambda_context, **log)["statusCode"] == 200
    # When the ring arrives after it
    assert webhook("incoming_call", lambda_context, **ring)["statusCode"] == 200
    # Then the CRM gets call.ended only: no call.ringing after the end to reopen the call
    assert [m.event.type.value for m in queued(queues)] == ["call.ended"]


def test_a_stored_recording_is_announced(
    endpoint: CrmEndpoint, admin: TenantAdmin, queues: DeliveryQueues, lambda_context: Any
) -> None:
    # Given a seed004 endpoint too (it has no recording request, so it gets none)
    add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="old", url="https://old.example.com", format=EndpointFormat.SEED004)
    )
    log = {
        "phone": "0901234567",
        "extension": "101",
        "callid": "c10",
        "calldate": "2024-05-01 15:00:00",
        "status": "ANSWERED",
        "recording": "https://pbx.example.com/rec/c10.wav",
    }
    webhook("call_answered", lambda_context, **log)
    queued(queues)

    def fetcher(allowed: list[str]) -> RecordingFetcher:
        transport = httpx.MockTransport(
            lambda r: httpx.Response(200, content=WAV, headers={"content-type": "audio/wav"})
        )
        return RecordingFetcher(
            allowed_hosts=allowed, resolver=lambda h, p: ["93.184.216.34"], transport=transport
        )

    # When the recording job stores it, and the job runs again (SQS delivered it twice)
    job = jobs.RecordingJob(tenant_id=CUSTOMER, callid="c10")
    assert service.process(job, fetcher_factory=fetcher) is service.Outcome.STORED
    assert service.process(job, fetcher_factory=fetcher) is service.Outcome.ALREADY_DONE
    # Then recording.ready is queued for the json endpoint only, once (the second is a duplicate)
    (ready,) = queued(queues)
    assert (ready.endpoint_id, ready.event.type.value, ready.event.callid) == (
        "crm",
        "recording.ready",
        "c10",
    )
    assert ready.event.recording_key is not None
    assert ready.event.recording_key.endswith("c10.wav")
    assert ready.event.data["size"] == len(WAV)
    assert ready.event.data["content_type"] == "audio/wav"


def test_click_to_call_progress_is_announced_once_per_status(
    endpoint: CrmEndpoint, queues: DeliveryQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a click-to-call request as click2call.repository.advance answers it
    request = OutboundRequest(
        request_id="0" * 32,
        tenant_id=CUSTOMER,
        extension="101",
        phone="0901234567",
        userfield="order-9",
        source=Source.API,
        route=Route.SOFTPHONE,
        status=Status.DIALING,
        call_token="ctb-" + "0" * 32,
    )
    # When it is dialing (reported twice), then failed with a SIP code, and a no-change (None) is reported
    hooks.click_to_call_changed(request)
    hooks.click_to_call_changed(request)
    hooks.click_to_call_changed(
        request.model_copy(
            update={"status": Status.FAILED, "error_code": "CUSTOMER_NOT_CONNECTED", "sip_code": 486}
        )
    )
    hooks.click_to_call_changed(None)
    # Then the CRM gets one click_to_call.result per status
    results = [m.event for m in queued(queues)]
    assert [(e.type.value, e.data["status"]) for e in results] == [
        ("click_to_call.result", "dialing"),
        ("click_to_call.result", "failed"),
    ]
    assert results[1].data["sip_code"] == 486
    assert results[1].data["userfield"] == "order-9"
    assert results[0].id != results[1].id
    # And a queue that cannot be reached never fails the click-to-call
    monkeypatch.delenv("DELIVERY_QUEUE_URL")
    get_settings.cache_clear()
    hooks.click_to_call_changed(request.model_copy(update={"status": Status.ANSWERED}))
