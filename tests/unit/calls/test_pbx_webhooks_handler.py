"""The PBX webhook function on every seed 004 request shape: storage, retries, reordering, bad input."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from ctibridge import aws
from ctibridge.calls.repository import CallRepository
from ctibridge.click2call import repository as click2call_requests
from ctibridge.click2call.models import OutboundRequest, Route, Source, call_token, new_request_id
from ctibridge.observability import logger
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge.webhooks import service as webhook_service
from tests.support.aws import http_event, load_event
from tests.support.calls import ACME_PBX_SECRET, Invoke, RecordingResources, counting_aws_calls

ROUTE = "/wsapi/{customer}/%s"
CALL_LOG: dict[str, Any] = {
    "callid": "1565944170.123",
    "calldate": "2019-08-16 15:29:30",
    "extension": "101",
    "phone": "0904824242",
    "duration": 23,
    "billsec": 11,
    "status": "ANSWERED",
    "recording": "https://pbx.example.com/monitor/1565944170.123.wav",
    "userfield": "order-8812",
}


def request(
    kind: str,
    *,
    customer: str = "demo",
    method: str = "GET",
    query: dict[str, str] | None = None,
    body: dict[str, Any] | str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    return http_event(
        method,
        f"/wsapi/{customer}/{kind}",
        route=ROUTE % kind,
        path_parameters={"customer": customer},
        query=query,
        body=body,
        headers=headers,
    )


def base64_request(raw: bytes) -> dict[str, Any]:
    """A call log POSTed as JSON, its body base64-encoded by API Gateway (as it does for non-text)."""
    event = request("call_answered", method="POST", query={"secret": "demo-secret"})
    event.update({"body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    event["headers"]["content-type"] = "application/json"
    return event


def raw_query_request(kind: str, fields: dict[str, Any], extra: str = "") -> dict[str, Any]:
    """A GET whose query string is sent as written (``fields`` values already percent-encoded), and
    its parameters as API Gateway hands them on: decoded (non-UTF-8 as U+FFFD), repeated ones joined."""
    raw = "&".join(f"{k}={quote_plus(str(v), safe='%')}" for k, v in fields.items()) + extra
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    event = request(kind, query=parameters)
    event["rawQueryString"] = raw
    return event


def body(response: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(response["body"])
    return answer


def stored(callid: str, tenant: str = "demo") -> dict[str, Any] | None:
    call = CallRepository("ctibridge-test").get(tenant, callid)
    return call.model_dump(mode="json") if call else None


def queued(resources: RecordingResources, queue_url: str | None = None) -> list[dict[str, Any]]:
    """The messages on the recording queue (or ``queue_url``), left there."""
    messages = (
        boto3.client("sqs")
        .receive_message(
            QueueUrl=queue_url or resources.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        .get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the functions log, as Lambda would ship it to CloudWatch."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)  # the stdlib logger behind Powertools' Logger
    target.addHandler(handler)
    yield buffer
    target.removeHandler(handler)


# ---------------------------------------------------------------- each request shape


SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "incoming_call",
        "1565944170.123",
        {"direction": "inbound", "status": "RINGING", "extension": "101"},
    ),
    (
        "outgoing_call",
        "1565944200.124",
        {"direction": "outbound", "status": "DIALING", "phone_e164": "+84911234567"},
    ),
    (
        "call_answered",
        "1565944170.123",
        {
            "status": "ANSWERED",
            "calldate": "2019-08-16T08:29:30Z",
            "billsec": 11,
            "userfield": "order-8812",
        },
    ),
    (
        "call_answered_no_answer",
        "1565944300.125",
        {"status": "NO ANSWER", "status_raw": "NO ANSER", "duration": 30},
    ),
    (
        "call_answered_form_basic",
        "1565944400.126",
        {"phone_e164": "+84911234567", "userfield": "ticket=77"},
    ),
    (
        "incoming_call_post_bearer",
        "1565944500.127",
        {"phone": "84904824242", "phone_e164": "+84904824242"},
    ),
    ("outgoing_call_api_key", "1565944600.128", {"phone_e164": "+842838123456", "extension": "102"}),
    ("call_answered_base64", "1565944700.129", {"status": "BUSY"}),
]


def test_every_seed_request_shape_is_stored(webhook: Invoke, published: list[Any]) -> None:
    for case, callid, expected in SHAPES:
        # Given a sample request of each shape a PBX may send (events/pbx_webhooks)
        event = load_event("pbx_webhooks", case)
        published.clear()
        # When the webhook function receives it
        response = webhook(event)
        # Then it answers 200, stores the call and tells the agents once
        assert response["statusCode"] == 200, (case, response["body"])
        assert body(response) == {"code": "OK", "message": "Stored.", "callid": callid, "duplicate": False}
        call = stored(callid)
        assert call is not None
        assert {k: call[k] for k in expected} == expected, case
        assert len(published) == 1


def test_a_php_pbx_posting_a_multipart_form_is_stored(webhook: Invoke) -> None:
    # Given a PBX script in PHP that posts the call log as curl's POSTFIELDS array (multipart/form-data,
    # as the vendors' own login.php posts its token), the secret among the fields
    fields = {**CALL_LOG, "secret": "demo-secret"}
    form = httpx.Request("POST", "https://bridge/", files={k: (None, str(v)) for k, v in fields.items()})
    event = request(
        "call_answered",
        method="POST",
        body=form.read(),
        headers={"content-type": form.headers["content-type"]},
    )
    # When it is delivered
    response = webhook(event)
    # Then it is stored like the same fields in JSON
    assert response["statusCode"] == 200, response["body"]
    call = stored(CALL_LOG["callid"])
    assert call is not None
    assert (call["billsec"], call["userfield"], call["status"]) == (11, "order-8812", "ANSWERED")


def test_a_pbx_configured_for_put_is_stored(webhook: Invoke) -> None:
    # Given a PBX set to PUT its events (seed 004 lets PBX and CRM agree on "GET / POST / PUT...")
    event = request("call_answered", method="PUT", query={"secret": "demo-secret"}, body=CALL_LOG)
    # When it is delivered
    response = webhook(event)
    # Then it is stored as the same POST would be
    assert response["statusCode"] == 200, response["body"]
    assert stored(CALL_LOG["callid"]) is not None


def test_a_field_repeated_with_the_same_value_is_one_value(webhook: Invoke) -> None:
    # Given a PBX whose URL template repeats a parameter with the same value
    fields = {"secret": "demo-secret", "phone": "0904824242", "extension": "101", "callid": "r1"}
    response = webhook(raw_query_request("incoming_call", fields, extra="&callid=r1"))
    # Then the call is stored under that callid (not "r1,r1")
    assert response["statusCode"] == 200, response["body"]
    assert stored("r1") is not None


def test_a_retried_event_changes_nothing_and_answers_200(
    webhook: Invoke, published: list[Any], aws: RecordingResources
) -> None:
    # Given a call log already stored
    event = request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG)
    assert webhook(event)["statusCode"] == 200
    before = stored("1565944170.123")
    # When the PBX delivers it again (twice)
    again = [
        webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
        for _ in range(2)
    ]
    # Then both answer 200 as duplicates, the record is unchanged, and the agents heard once
    assert [r["statusCode"] for r in again] == [200, 200]
    assert all(body(r)["duplicate"] for r in again)
    assert stored("1565944170.123") == before
    assert [p[2] for p in published] == ["ended"]


def test_call_answered_before_incoming_call_makes_one_correct_record(
    webhook: Invoke, published: list[Any]
) -> None:
    # Given the call log arrives first and the ring event after it
    log = request(
        "call_answered", method="POST", query={"secret": "demo-secret"}, body={**CALL_LOG, "extension": "102"}
    )
    ring = request(
        "incoming_call",
        query={
            "secret": "demo-secret",
            "phone": "0904824242",
            "extension": "101",
            "callid": CALL_LOG["callid"],
        },
    )
    assert webhook(log)["statusCode"] == 200
    assert webhook(ring)["statusCode"] == 200
    # Then one call: the log's facts, the ring's direction, both extensions
    call = stored(CALL_LOG["callid"])
    assert call is not None
    assert call["status"] == "ANSWERED"
    assert call["extension"] == "102"
    assert call["direction"] == "inbound"
    assert call["rang_extensions"] == ["101"]
    assert call["started_at"] == "2019-08-16T08:29:30.000Z"
    # And each event was published when it came, to the extension it concerns
    assert [(p[1], p[2]) for p in published] == [("102", "ended"), ("101", "ringing")]


def test_a_call_log_alone_is_a_call(webhook: Invoke) -> None:
    assert (
        webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))[
            "statusCode"
        ]
        == 200
    )
    call = stored(CALL_LOG["callid"])
    assert call is not None
    assert call["direction"] is None
    assert call["status"] == "ANSWERED"


def test_a_ring_pops_up_before_the_write_and_an_end_after_it(
    webhook: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given popups that note whether their call was already stored when they went out
    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        webhook_service,
        "send_popup",
        lambda tenant, extension, kind, data: seen.append((kind, stored(data["callid"]) is not None)),
    )
    ring = {"secret": "demo-secret", "phone": "0904824242", "extension": "101", "callid": "order-1"}
    # When a call rings, the PBX re-sends the ring, and the call log arrives twice
    webhook(request("incoming_call", query=ring))
    webhook(request("incoming_call", query=ring))
    for _ in range(2):
        log = {**CALL_LOG, "callid": "order-1"}
        webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=log))
    # Then the ring went out before anything was stored (the phone rings now), its retry popped the same
    # call again (the webphone merges it), and the end went out once, after its write
    assert seen == [("ringing", False), ("ringing", True), ("ended", True)]


def test_published_data(webhook: Invoke, published: list[Any]) -> None:
    webhook(
        request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "recording": "https://user:pw@pbx.example.com/rec/1.wav"},
        )
    )
    tenant, extension, kind, data = published[0]
    assert (tenant, extension, kind) == ("demo", "101", "ended")
    assert data["callid"] == CALL_LOG["callid"]
    assert data["phone"] == "0904824242"
    assert data["phone_e164"] == "+84904824242"
    assert (data["status"], data["duration"], data["billsec"]) == ("ANSWERED", 23, 11)
    assert data["recording"] == "https://pbx.example.com/rec/1.wav"  # credentials are not for agents' screens


# ---------------------------------------------------------------- recordings are queued, not fetched here


def test_a_call_log_with_a_recording_queues_one_job(webhook: Invoke, aws: RecordingResources) -> None:
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    assert queued(aws) == [{"v": 1, "tenant_id": "demo", "callid": CALL_LOG["callid"]}]


def test_a_retry_queues_the_job_again_while_the_recording_is_pending(
    webhook: Invoke, aws: RecordingResources
) -> None:
    # The first job may have been lost between the write and the send: a retry must not lose it for good
    for _ in range(2):
        webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    assert len(queued(aws)) == 2


def test_every_event_queues_the_agents_call_state_retries_included(
    webhook: Invoke, aws: RecordingResources
) -> None:
    # When a call rings, its log arrives, and the PBX re-sends the log
    ring = {"secret": "demo-secret", "phone": "0904824242", "extension": "101", "callid": CALL_LOG["callid"]}
    webhook(request("incoming_call", query=ring))
    for _ in range(2):
        webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    # Then each is queued for the agent's state (the re-send too: its first send may have been lost),
    # the call log with what closes a click-to-call request
    jobs = sorted(queued(aws, aws.call_state_queue_url), key=lambda job: job["kind"])
    assert [(j["kind"], j["extension"], j["callid"]) for j in jobs] == [
        ("ended", "101", CALL_LOG["callid"]),
        ("ended", "101", CALL_LOG["callid"]),
        ("ringing", "101", CALL_LOG["callid"]),
    ]
    # a CRM's own userfield (no click-to-call token) closes no request
    assert (jobs[0]["outbound_request_id"], jobs[0]["status"]) == (None, "ANSWERED")
    assert (jobs[2]["phone"], jobs[2]["direction"]) == ("0904824242", "inbound")


def test_a_click_to_call_token_gives_the_crm_its_own_userfield_back(
    webhook: Invoke, aws: RecordingResources
) -> None:
    # Given a click-to-call the CRM placed with its own userfield
    request_id = new_request_id()
    click2call_requests.put(
        OutboundRequest(
            request_id=request_id,
            tenant_id="demo",
            extension="101",
            phone="0904824242",
            source=Source.CLICK2CALL_PHP,
            route=Route.SOFTPHONE,
            call_token=call_token(request_id),
            userfield="order-42",
        )
    )
    # When the PBX's call log comes back with our token as userfield (seed 004 §2.2)
    log = {**CALL_LOG, "callid": "c2c-1", "userfield": call_token(request_id)}
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=log))
    # Then the call is stored with the CRM's userfield and the request beside it, never our token
    call = stored("c2c-1")
    assert call is not None
    assert (call["userfield"], call["outbound_request_id"]) == ("order-42", request_id)
    # and the job that closes the request names it
    (job,) = [j for j in queued(aws, aws.call_state_queue_url) if j["callid"] == "c2c-1"]
    assert job["outbound_request_id"] == request_id


def test_an_unknown_token_keeps_the_pbx_userfield(webhook: Invoke) -> None:
    token = call_token(new_request_id())
    log = {**CALL_LOG, "callid": "c2c-2", "userfield": token}
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=log))
    call = stored("c2c-2")
    assert call is not None
    assert (call["userfield"], call["outbound_request_id"]) == (token, None)


def test_no_job_without_a_recording(webhook: Invoke, aws: RecordingResources) -> None:
    webhook(
        request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "recording": ""},
        )
    )
    webhook(
        request(
            "incoming_call", query={"secret": "demo-secret", "phone": "1", "extension": "1", "callid": "x"}
        )
    )
    assert queued(aws) == []


# ---------------------------------------------------------------- cost


def test_one_dynamodb_call_per_webhook(webhook: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a warm function (the tenant and its secret cached, as in a warm Lambda)
    webhook(
        request(
            "incoming_call", query={"secret": "demo-secret", "phone": "1", "extension": "1", "callid": "w"}
        )
    )
    aws.reset()
    webhook(
        request(
            "incoming_call", query={"secret": "demo-secret", "phone": "1", "extension": "1", "callid": "w2"}
        )
    )
    with counting_aws_calls(monkeypatch) as counter:
        aws.reset()
        started = time.monotonic()
        # When ten events arrive, duplicates and reordered ones included
        for n in range(5):
            log = {**CALL_LOG, "callid": f"k{n}"}
            webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=log))
            webhook(
                request(
                    "incoming_call",
                    query={
                        "secret": "demo-secret",
                        "phone": "0904824242",
                        "extension": "101",
                        "callid": f"k{n}",
                    },
                )
            )
        webhook(
            request(
                "call_answered",
                method="POST",
                query={"secret": "demo-secret"},
                body={**CALL_LOG, "callid": "k0"},
            )
        )
        elapsed = time.monotonic() - started
    # Then each made exactly one DynamoDB call (the conditional UpdateItem), never a Scan, plus the
    # tenant's GetItem once per tenant cache TTL that passed (5 s: one every 5 s, not one per webhook)
    assert counter.counts["dynamodb.UpdateItem"] == 11
    tenant_reads = counter.counts.get("dynamodb.GetItem", 0)
    assert tenant_reads <= 1 + int(elapsed // get_settings().tenant_cache_ttl_seconds)
    assert counter.of("dynamodb") == 11 + tenant_reads


# ---------------------------------------------------------------- bad input: nothing stored


def _no_call_stored(tenant: str = "demo") -> None:
    items = aws.table("ctibridge-test").query(
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :p",
        ExpressionAttributeValues={":p": f"TENANT#{tenant}#CALLS"},
    )["Items"]
    assert items == []


BAD_REQUESTS = [
    # (status, code, field, request)
    (
        401,
        "SECRET_INVALID",
        None,
        lambda: request("call_answered", method="POST", query={"secret": "wrong"}, body=CALL_LOG),
    ),
    (401, "SECRET_INVALID", None, lambda: request("call_answered", method="POST", body=CALL_LOG)),
    (
        401,
        "SECRET_INVALID",
        None,
        lambda: request("call_answered", method="POST", query={"secret": ACME_PBX_SECRET}, body=CALL_LOG),
    ),
    (
        401,
        "SECRET_INVALID",
        None,
        lambda: request(
            "incoming_call",
            headers={"authorization": "Bearer nope"},
            query={"phone": "1", "extension": "1", "callid": "1"},
        ),
    ),
    (
        404,
        "CUSTOMER_NOT_FOUND",
        None,
        lambda: request(
            "call_answered", customer="nobody", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG
        ),
    ),
    (
        404,
        "CUSTOMER_NOT_FOUND",
        None,
        lambda: request("incoming_call", customer="bad%20name", query={"secret": "demo-secret"}),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "phone",
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "phone": "090xxxx242"},
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "calldate",
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={k: v for k, v in CALL_LOG.items() if k != "calldate"},
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "duration",
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "duration": "abc"},
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "extension",
        lambda: request(
            "incoming_call", query={"secret": "demo-secret", "phone": "0904824242", "callid": "1"}
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "callid",
        lambda: request(
            "outgoing_call", query={"secret": "demo-secret", "phone": "0904824242", "extension": "101"}
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        None,
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body="{not json",
            headers={"content-type": "application/json"},
        ),
    ),
    (
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        None,
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body="<a/>",
            headers={"content-type": "application/xml"},
        ),
    ),
    (
        # JSON nested deeper than the interpreter's recursion limit: invalid JSON, not a 500
        400,
        "VALIDATION_ERROR",
        "body",
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body='{"callid": ' + "[" * 20_000 + "]" * 20_000 + "}",
            headers={"content-type": "application/json"},
        ),
    ),
    (
        # ... and a stranger sending it learns nothing but 401 (no 500 for anyone)
        401,
        "SECRET_INVALID",
        None,
        lambda: request(
            "call_answered",
            method="POST",
            body='{"callid": ' + "[" * 20_000 + "]" * 20_000 + "}",
            headers={"content-type": "application/json"},
        ),
    ),
    (
        # a form field that is not UTF-8: refused, not stored as replacement characters
        400,
        "VALIDATION_ERROR",
        "userfield",
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body=urlencode({k: v for k, v in CALL_LOG.items() if k != "userfield"}) + "&userfield=%FForder",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    ),
    (
        # ... also with the secret among the form's fields (the PBX learns which field, not "wrong secret")
        400,
        "VALIDATION_ERROR",
        "userfield",
        lambda: request(
            "call_answered",
            method="POST",
            body=urlencode({**CALL_LOG, "secret": "demo-secret", "userfield": "x"}).replace("=x", "=%FFx"),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "callid",
        lambda: request(
            "call_answered",
            method="POST",
            body=urlencode({**CALL_LOG, "secret": "demo-secret"}) + "&callid=another",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    ),
    (
        400,
        "VALIDATION_ERROR",
        "body",
        lambda: base64_request(json.dumps(CALL_LOG).encode().replace(b"order-8812", b"order-\xff")),
    ),
    (
        # a query field that is not UTF-8 (API Gateway hands it on as U+FFFD)
        400,
        "VALIDATION_ERROR",
        "userfield",
        lambda: raw_query_request(
            "call_answered", {**CALL_LOG, "secret": "demo-secret", "userfield": "%FForder"}
        ),
    ),
    (
        # a field twice with two values (API Gateway joins them: callid "1,2" would be stored)
        400,
        "VALIDATION_ERROR",
        "callid",
        lambda: raw_query_request(
            "incoming_call",
            {"secret": "demo-secret", "phone": "0904824242", "extension": "101", "callid": "1"},
            extra="&callid=2",
        ),
    ),
    (
        413,
        "PAYLOAD_TOO_LARGE",
        None,
        lambda: request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "userfield": "x" * 70_000},
        ),
    ),
]


def test_bad_requests_are_refused_and_store_nothing(
    webhook: Invoke, published: list[Any], aws: RecordingResources
) -> None:
    for status, code, field, make in BAD_REQUESTS:
        response = webhook(make())
        assert response["statusCode"] == status, response["body"]
        answer = body(response)
        assert answer["code"] == code
        if field:
            assert answer["field"] == field
            assert field in answer["message"]
    _no_call_stored()
    assert published == []
    assert queued(aws) == []


def test_an_expired_tenant_is_refused_after_the_secret(webhook: Invoke, tenants: TenantAdmin) -> None:
    tenants.expire("acme")
    from ctibridge.tenants import repository

    repository.clear_cache()
    event = request(
        "call_answered", customer="acme", method="POST", query={"secret": ACME_PBX_SECRET}, body=CALL_LOG
    )
    response = webhook(event)
    assert response["statusCode"] == 403
    _no_call_stored("acme")


def test_each_tenant_gets_its_own_calls(webhook: Invoke) -> None:
    # The same callid from two customers' PBXs is two calls
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    webhook(
        request(
            "call_answered",
            customer="acme",
            method="POST",
            query={"secret": ACME_PBX_SECRET},
            body={**CALL_LOG, "userfield": "acme"},
        )
    )
    demo, acme = stored(CALL_LOG["callid"]), stored(CALL_LOG["callid"], "acme")
    assert demo is not None
    assert acme is not None
    assert (demo["userfield"], acme["userfield"]) == ("order-8812", "acme")


# ---------------------------------------------------------------- the secret never reaches a log line


def test_the_secret_never_appears_in_logs(
    webhook: Invoke, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    basic = base64.b64encode(b"demo:demo-secret").decode()
    # Given every kind of request: good, duplicate, refused, malformed, and one that crashes
    for make in [m for *_, m in BAD_REQUESTS]:
        webhook(make())
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    webhook(request("call_answered", method="POST", query={"secret": "demo-secret"}, body=CALL_LOG))
    webhook(
        request(
            "incoming_call",
            headers={"authorization": f"Basic {basic}"},
            query={"phone": "0904824242", "extension": "101", "callid": "b1"},
        )
    )

    def crash(*_: Any, **__: Any) -> Any:
        # A bug (not an outage: throttling and AWS failures answer 503, see tests/unit/hardening)
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "boom"}}, "UpdateItem")

    monkeypatch.setattr(CallRepository, "record_event", crash)
    crashed = webhook(
        request(
            "incoming_call", query={"secret": "demo-secret", "phone": "1", "extension": "1", "callid": "z"}
        )
    )
    assert crashed["statusCode"] == 500
    # Then the logs say what happened, but never the secret (query strings and headers are not logged)
    text = log_lines.getvalue()
    assert "pbx event stored" in text
    assert "request rejected" in text
    assert "unhandled error" in text
    for secret in ("demo-secret", basic, ACME_PBX_SECRET, "secret=wrong"):
        assert secret not in text


def test_concurrent_requests_in_one_process_do_not_mix(webhook: Invoke) -> None:
    # Given many webhooks at once in one process, as the local stack runs them (on threads, with
    # Powertools' per-request state isolated per thread, which Lambda gets by running one at a time)
    from concurrent.futures import ThreadPoolExecutor

    from ctibridge_local import powertools_isolation

    powertools_isolation.install()

    def play(n: int) -> list[int]:
        ring = request(
            "incoming_call",
            query={"secret": "demo-secret", "phone": f"09{n:08d}", "extension": "101", "callid": f"cc{n}"},
        )
        log = request(
            "call_answered",
            method="POST",
            query={"secret": "demo-secret"},
            body={**CALL_LOG, "callid": f"cc{n}", "phone": f"09{n:08d}", "billsec": n},
        )
        return [webhook(ring)["statusCode"], webhook(log)["statusCode"]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(play, range(24)))
    # Then every request was answered and stored as itself
    assert all(s == [200, 200] for s in statuses)
    for n in range(24):
        call = stored(f"cc{n}")
        assert call is not None
        assert (call["status"], call["direction"], call["billsec"], call["phone"]) == (
            "ANSWERED",
            "inbound",
            n,
            f"09{n:08d}",
        )


def test_a_rotated_pbx_secret_works_at_its_first_webhook(webhook: Invoke) -> None:
    # Given a warm function: the demo PBX secret cached by a webhook
    ring = {"phone": "1", "extension": "1"}
    assert (
        webhook(request("incoming_call", query={"secret": "demo-secret", **ring, "callid": "r1"}))[
            "statusCode"
        ]
        == 200
    )
    # When the operator rotates it
    from pydantic import SecretStr

    from ctibridge.tenants.secrets import SecretStore

    store = SecretStore("test")
    current = store.read("demo")
    assert current is not None
    store.write("demo", current.model_copy(update={"pbx_secret": SecretStr("rotated-pbx-secret")}))
    # Then the PBX's first webhook with the new secret is accepted (the cached copy is re-read once)
    answer = webhook(request("incoming_call", query={"secret": "rotated-pbx-secret", **ring, "callid": "r2"}))
    assert answer["statusCode"] == 200, answer["body"]
    # And the old one is refused
    answer = webhook(request("incoming_call", query={"secret": "demo-secret", **ring, "callid": "r3"}))
    assert answer["statusCode"] == 401
