"""The delivery worker against fake CRMs (httpx MockTransport) and moto: formats, auth, failover,
parallel, idempotency, the address guard, recording URLs, retries and the dead-letter queue."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities import parameters

from ctibridge.delivery import events, signing, worker
from ctibridge.delivery.models import (
    AuthType,
    CrmEndpoint,
    DeliveryMessage,
    DeliveryMode,
    EndpointAuth,
    EndpointFormat,
    OutboundEvent,
)
from ctibridge.delivery.store import AttemptStatus, DeliveryStatus, DeliveryStore
from ctibridge.delivery.worker import ResultKind
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.delivery import DeliveryQueues, add_endpoint
from tests.unit.delivery.conftest import (
    CRM_SECRET,
    CUSTOMER,
    PUBLIC_IP,
    SIGNING_SECRET,
    TABLE,
    Clock,
    FakeCrm,
    make_deliverer,
)

MAIN = "crm.example.com"
BACKUP = "backup.example.com"


def ringing(callid: str = "c1") -> OutboundEvent:
    return OutboundEvent(
        id=f"evt_{callid}",
        type=events.EventType.CALL_RINGING,
        tenant=CUSTOMER,
        callid=callid,
        occurred_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        data={"callid": callid, "phone": "0901234567", "phone_e164": "+84901234567", "extension": "101"},
    )


def message(endpoint_id: str = "main", event: OutboundEvent | None = None) -> DeliveryMessage:
    return DeliveryMessage(tenant=CUSTOMER, endpoint_id=endpoint_id, event=event or ringing())


def json_endpoint(**changes: Any) -> CrmEndpoint:
    fields: dict[str, Any] = {"id": "main", "url": f"https://{MAIN}/hooks/cti"}
    fields.update(changes)
    return CrmEndpoint(**fields)


def attempts_of(delivery_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(TABLE)
    items = table.query(
        KeyConditionExpression="PK = :pk AND begins_with(SK, :a)",
        ExpressionAttributeValues={":pk": f"TENANT#{CUSTOMER}#DELIVERY#{delivery_id}", ":a": "ATTEMPT#"},
    )["Items"]
    return sorted(items, key=lambda i: i["SK"])


def test_json_event_is_signed_and_recorded(admin: TenantAdmin, crm: FakeCrm, clock: Clock) -> None:
    # Given a json endpoint
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    msg = message()
    # When the worker delivers a call.ringing
    result = make_deliverer(crm, clock).process(msg, queued_at=clock.now)
    # Then the CRM got one POST, pinned to the checked address, with a verifiable signature
    assert result.kind is ResultKind.DELIVERED
    (request,) = crm.requests
    assert (request.method, request.url.host, request.headers["host"]) == ("POST", PUBLIC_IP, MAIN)
    assert signing.verify(SIGNING_SECRET, dict(request.headers), request.content) == msg.event.id
    body = json.loads(request.content)
    assert body == {
        "id": msg.event.id,
        "type": "call.ringing",
        "timestamp": "2024-05-01T08:00:00.000Z",
        "tenant": CUSTOMER,
        "callid": "c1",
        "data": msg.event.data,
    }
    # And the attempt and the state are in the table
    (attempt,) = attempts_of(msg.delivery_id)
    assert attempt["status"] == "succeeded"
    assert attempt["http_status"] == 200
    assert attempt["attempt"] == 1
    assert attempt["url"] == f"https://{MAIN}/hooks/cti"
    state = DeliveryStore(TABLE).get_state(CUSTOMER, msg.delivery_id)
    assert state is not None
    assert state.status is DeliveryStatus.DELIVERED
    assert state.event == msg.event


def test_a_delivered_event_is_never_sent_again(admin: TenantAdmin, crm: FakeCrm, clock: Clock) -> None:
    # Given an event already delivered
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    deliverer = make_deliverer(crm, clock)
    deliverer.process(message(), queued_at=clock.now)
    # When SQS delivers the message again (or a PBX re-send queued it again)
    result = deliverer.process(message(), queued_at=clock.now)
    # Then nothing is sent
    assert result.kind is ResultKind.ALREADY_DELIVERED
    assert len(crm.requests) == 1


def test_a_replay_with_force_sends_a_delivered_event_again(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a delivered event
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    deliverer = make_deliverer(crm, clock)
    deliverer.process(message(), queued_at=clock.now)
    # When an operator replays it with --include-delivered
    forced = message().model_copy(update={"force": True})
    result = deliverer.process(forced, queued_at=clock.now)
    # Then it is sent again, with the same event id
    assert result.kind is ResultKind.DELIVERED
    assert result.attempt == 2
    assert [r.headers["webhook-id"] for r in crm.requests] == [forced.event.id] * 2


@pytest.mark.parametrize(
    ("auth", "credential", "header", "expected"),
    [
        (EndpointAuth(type=AuthType.API_KEY, header="X-Crm-Key"), "k-123", "x-crm-key", "k-123"),
        (EndpointAuth(type=AuthType.BEARER), "tok-9", "authorization", "Bearer tok-9"),
        (
            EndpointAuth(type=AuthType.BASIC, username="cti"),
            "pw:1",
            "authorization",
            "Basic " + base64.b64encode(b"cti:pw:1").decode(),
        ),
    ],
)
def test_auth_options(
    admin: TenantAdmin,
    crm: FakeCrm,
    clock: Clock,
    auth: EndpointAuth,
    credential: str,
    header: str,
    expected: str,
) -> None:
    # Given an endpoint with an auth option and its credential in Secrets Manager
    add_endpoint(
        admin, CUSTOMER, json_endpoint(auth=auth), signing_secret=SIGNING_SECRET, credential=credential
    )
    # When delivering
    make_deliverer(crm, clock).process(message(), queued_at=clock.now)
    # Then the request carries it
    assert crm.requests[0].headers[header] == expected


def test_missing_credential_is_a_recorded_failure(admin: TenantAdmin, crm: FakeCrm, clock: Clock) -> None:
    # Given a bearer endpoint whose token was never stored
    add_endpoint(
        admin, CUSTOMER, json_endpoint(auth=EndpointAuth(type=AuthType.BEARER)), signing_secret=SIGNING_SECRET
    )
    msg = message()
    # When delivering
    result = make_deliverer(crm, clock).process(msg, queued_at=clock.now)
    # Then nothing is sent, the failure is recorded, and it will be retried (an operator can fix it)
    assert result.kind is ResultKind.RETRY
    assert result.reason == "ENDPOINT_CREDENTIAL_MISSING"
    assert crm.requests == []
    assert attempts_of(msg.delivery_id)[0]["error_code"] == "ENDPOINT_CREDENTIAL_MISSING"


def test_seed004_endpoint_gets_the_seed_request_with_the_crm_secret(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a seed004 endpoint with an API key option
    endpoint = CrmEndpoint(
        id="legacy",
        url=f"https://{MAIN}",
        format=EndpointFormat.SEED004,
        auth=EndpointAuth(type=AuthType.API_KEY),
    )
    add_endpoint(admin, CUSTOMER, endpoint, credential="legacy-key")
    # When a call.ringing is delivered
    make_deliverer(crm, clock).process(message("legacy"), queued_at=clock.now)
    # Then the CRM gets the seed's GET, with the tenant's CRM secret, and the key
    (request,) = crm.requests
    assert request.method == "GET"
    assert request.url.path == f"/wsapi/{CUSTOMER}/incoming_call"
    assert list(request.url.params.multi_items()) == [
        ("secret", CRM_SECRET),
        ("phone", "0901234567"),
        ("extension", "101"),
        ("callid", "c1"),
    ]
    assert request.headers["x-api-key"] == "legacy-key"
    assert request.headers["webhook-id"] == "evt_c1"
    # And the recorded attempt does not hold the secret (no query string)
    assert CRM_SECRET not in json.dumps(attempts_of(message("legacy").delivery_id), default=str)


def test_failover_reaches_the_backup_when_the_main_url_fails(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a failover endpoint whose main URL refuses connections
    endpoint = json_endpoint(backup_urls=[f"https://{BACKUP}/hooks"])
    add_endpoint(admin, CUSTOMER, endpoint, signing_secret=SIGNING_SECRET)
    crm.answer(MAIN, httpx.ConnectError)
    msg = message()
    # When delivering
    result = make_deliverer(crm, clock).process(msg, queued_at=clock.now)
    # Then the backup got it, and both requests are recorded
    assert result.kind is ResultKind.DELIVERED
    assert crm.hosts() == [MAIN, BACKUP]
    recorded = attempts_of(msg.delivery_id)
    assert [(a["target"], a["status"], a.get("error_code")) for a in recorded] == [
        (0, "failed", "CONNECT_FAILED"),
        (1, "succeeded", None),
    ]


def test_failover_does_not_touch_the_backup_when_the_main_url_works(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a healthy main URL
    add_endpoint(
        admin, CUSTOMER, json_endpoint(backup_urls=[f"https://{BACKUP}/hooks"]), signing_secret=SIGNING_SECRET
    )
    # When delivering, Then only the main URL is called
    make_deliverer(crm, clock).process(message(), queued_at=clock.now)
    assert crm.hosts() == [MAIN]


def test_parallel_reaches_every_url_and_retries_only_the_failed_one(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a parallel endpoint whose second URL answers 500 once
    endpoint = json_endpoint(mode=DeliveryMode.PARALLEL, backup_urls=[f"https://{BACKUP}/hooks"])
    add_endpoint(admin, CUSTOMER, endpoint, signing_secret=SIGNING_SECRET)
    crm.answer(BACKUP, 500, 200)
    deliverer = make_deliverer(crm, clock)
    # When delivering
    first = deliverer.process(message(), queued_at=clock.now)
    # Then both were called at once, and the failure makes it retry
    assert first.kind is ResultKind.RETRY
    assert first.last_http_status == 500
    assert sorted(crm.hosts()) == sorted([MAIN, BACKUP])
    # When the retry comes
    clock.advance(first.delay_seconds or 0)
    second = deliverer.process(message(), queued_at=clock.now, receive_count=2)
    # Then only the URL that failed is called again
    assert second.kind is ResultKind.DELIVERED
    assert sorted(crm.hosts()) == sorted([MAIN, BACKUP, BACKUP])


def test_every_kind_of_failure_is_retried_with_backoff(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a CRM that times out, then refuses, then answers 503, then a redirect
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    crm.answer(MAIN, httpx.ReadTimeout, httpx.ConnectTimeout, 503, 302, 200)
    deliverer = make_deliverer(crm, clock, rng=lambda: 1.0)
    codes = []
    delays = []
    for receive in range(1, 6):
        result = deliverer.process(
            message(), queued_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC), receive_count=receive
        )
        codes.append(result.reason)
        delays.append(result.delay_seconds)
        clock.advance(result.delay_seconds or 0)
    # Then each was retried later and later, and the last delivered
    assert codes == ["TIMEOUT", "CONNECT_TIMEOUT", "HTTP_503", "HTTP_302", None]
    assert delays == [30, 60, 120, 240, None]
    failed = DeliveryStore(TABLE).list_attempts(CUSTOMER, status=AttemptStatus.FAILED).items
    assert len(failed) == 4
    assert all(a.will_retry and a.next_attempt_at for a in failed)


def test_loopback_is_refused_unless_the_endpoint_allows_private_networks(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given an endpoint on loopback (the Lambda runtime API lives there)
    add_endpoint(admin, CUSTOMER, json_endpoint(url="http://127.0.0.1:9001/x"), signing_secret=SIGNING_SECRET)
    # When delivering, Then nothing is sent
    result = make_deliverer(crm, clock).process(message(), queued_at=clock.now)
    assert result.kind is ResultKind.RETRY
    assert result.reason == "DESTINATION_FORBIDDEN"
    assert crm.requests == []
    # Given the operator allows private networks for it
    admin.update_tenant(
        CUSTOMER, crm_endpoints=[json_endpoint(url="http://127.0.0.1:9001/x", allow_private_network=True)]
    )
    repository.clear_cache()
    # When delivering, Then it goes there
    assert make_deliverer(crm, clock).process(message(), queued_at=clock.now).kind is ResultKind.DELIVERED
    assert crm.requests[0].url.host == "127.0.0.1"


def test_a_host_resolving_to_a_private_address_is_refused(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a public-looking name that resolves to the metadata address
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    deliverer = make_deliverer(crm, clock)
    deliverer.resolver = lambda host, port: ["169.254.169.254"]
    # When delivering, Then nothing is sent
    assert deliverer.process(message(), queued_at=clock.now).reason == "DESTINATION_FORBIDDEN"
    assert crm.requests == []


def test_removed_endpoint_and_filtered_types_are_skipped(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a message for an endpoint that no longer exists, and one that takes call.ended only
    add_endpoint(
        admin, CUSTOMER, json_endpoint(events=[events.EventType.CALL_ENDED]), signing_secret=SIGNING_SECRET
    )
    deliverer = make_deliverer(crm, clock)
    # When delivering, Then nothing is sent
    assert deliverer.process(message("gone"), queued_at=clock.now).kind is ResultKind.SKIPPED
    assert deliverer.process(message("main"), queued_at=clock.now).kind is ResultKind.SKIPPED
    assert crm.requests == []


def test_recording_ready_carries_a_fresh_presigned_url(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a stored recording
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    event = events.recording_ready(
        CUSTOMER,
        "c1",
        s3_key="recordings/acme/2024/05/01/c1.wav",
        size=10,
        sha256="ab",
        content_type="audio/wav",
    )
    # When recording.ready is delivered
    make_deliverer(crm, clock).process(message(event=event), queued_at=clock.now)
    # Then the CRM gets a presigned GET of that object, and never the internal S3 key field
    data = json.loads(crm.requests[0].content)["data"]
    assert data["recording_url"].startswith("https://")
    assert "recordings/acme/2024/05/01/c1.wav" in data["recording_url"]
    assert "X-Amz-Signature" in data["recording_url"]
    assert data["recording_url_expires_at"].endswith("Z")
    assert "recording_key" not in json.loads(crm.requests[0].content)


def test_after_the_window_the_message_goes_to_the_dead_letter_queue(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock, queues: DeliveryQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a CRM that is down, and a message queued 24 h ago
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    crm.answer(MAIN, 503)
    msg = message()
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=queues.queue_url,
        MessageBody=msg.model_dump_json(),
        MessageGroupId="g",
        MessageDeduplicationId=msg.delivery_id,
    )
    (received,) = sqs.receive_message(QueueUrl=queues.queue_url, AttributeNames=["All"])["Messages"]
    sent_at = datetime.fromtimestamp(int(received["Attributes"]["SentTimestamp"]) / 1000, UTC)
    clock.now = sent_at + timedelta(hours=24)
    worker._deliverer = make_deliverer(crm, clock)
    record = _sqs_record(received, queues)
    # When the worker tries once more and fails
    outcome = worker.handle_record(record)
    # Then the message is in the dead-letter queue with why, and the state says failed
    assert outcome == ResultKind.DEAD.value
    (dead,) = sqs.receive_message(QueueUrl=queues.dead_letter_url, MessageAttributeNames=["All"])["Messages"]
    assert DeliveryMessage.model_validate_json(dead["Body"]) == msg
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "HTTP_503"
    state = DeliveryStore(TABLE).get_state(CUSTOMER, msg.delivery_id)
    assert state is not None
    assert state.status is DeliveryStatus.FAILED
    assert attempts_of(msg.delivery_id)[-1]["dead_lettered"] is True


def test_a_failed_record_is_hidden_for_its_backoff_and_reported(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock, queues: DeliveryQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a CRM that answers 500 to a freshly queued message
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    crm.answer(MAIN, 500)
    msg = message()
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=queues.queue_url,
        MessageBody=msg.model_dump_json(),
        MessageGroupId="g",
        MessageDeduplicationId="d",
    )
    (received,) = sqs.receive_message(QueueUrl=queues.queue_url, AttributeNames=["All"])["Messages"]
    clock.now = datetime.now(UTC)
    worker._deliverer = make_deliverer(crm, clock)
    hidden: list[tuple[str, int]] = []
    monkeypatch.setattr(
        worker, "hide", lambda handle, seconds, settings=None: hidden.append((handle, seconds))
    )
    # When the worker handles it
    # Then it raises (Powertools reports the item failed) after hiding it for the backoff
    with pytest.raises(worker.RetryLater):
        worker.handle_record(_sqs_record(received, queues))
    assert hidden == [(received["ReceiptHandle"], 23)]  # rng 0.5: 15 + 0.5 * 15


def test_a_malformed_message_goes_straight_to_the_dead_letter_queue(
    admin: TenantAdmin, queues: DeliveryQueues
) -> None:
    # Given a message that is not a delivery message
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=queues.queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="m"
    )
    (received,) = sqs.receive_message(QueueUrl=queues.queue_url, AttributeNames=["All"])["Messages"]
    # When handled, Then it is dead-lettered as it is
    assert worker.handle_record(_sqs_record(received, queues)) == ResultKind.DEAD.value
    (dead,) = sqs.receive_message(QueueUrl=queues.dead_letter_url, MessageAttributeNames=["All"])["Messages"]
    assert dead["Body"] == "{}"
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "MALFORMED"


def _sqs_record(message: dict[str, Any], queues: DeliveryQueues) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    parameters.clear_caches()
    return SQSRecord(
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:delivery.fifo",
            "awsRegion": "us-east-1",
        }
    )


def test_a_stale_cached_tenant_does_not_skip_a_new_endpoint(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a worker whose cached tenant predates the endpoint the event was queued for
    stale = admin.get_tenant(CUSTOMER)
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    deliverer = make_deliverer(crm, clock, get_tenant=lambda tenant_id: stale)
    # When it delivers, Then it reads the tenant afresh and delivers
    assert deliverer.process(message(), queued_at=clock.now).kind is ResultKind.DELIVERED
    assert len(crm.requests) == 1


def test_an_endpoint_added_after_the_secrets_were_cached_is_delivered_signed(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a warm worker: the tenant's secrets cached before the endpoint and its signing secret existed
    worker.get_secrets(CUSTOMER)
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    deliverer = make_deliverer(crm, clock)
    # When the endpoint's first event is delivered
    result = deliverer.process(message(), queued_at=clock.now)
    # Then the secrets were re-read once and the request is signed with the new secret
    assert result.kind is ResultKind.DELIVERED
    (request,) = crm.requests
    assert signing.verify(SIGNING_SECRET, dict(request.headers), request.content)


def test_a_removed_endpoint_gets_nothing_even_from_a_warm_worker(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given an endpoint, a warm tenant cache that still has it, then the endpoint removed
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    assert repository.get_by_customer(CUSTOMER) is not None
    admin.repository.update_tenant(CUSTOMER, {"crm_endpoints": []})
    # When an event queued for it is processed
    result = make_deliverer(crm, clock).process(message(), queued_at=clock.now)
    # Then nothing is sent: the worker reads the tenant fresh
    assert result.kind is ResultKind.SKIPPED
    assert crm.requests == []


def test_a_rotated_crm_secret_is_used_by_the_very_next_retry(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a seed004 endpoint and a warm worker that cached the tenant's secrets
    add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="legacy", url=f"https://{MAIN}", format=EndpointFormat.SEED004)
    )
    worker.get_secrets(CUSTOMER)
    # And the operator rotates the CRM secret (rotate-key --kind crm); the CRM checks the new one
    new_secret = admin.rotate_key(CUSTOMER, "crm")
    crm.answer(MAIN, 401, 200)
    deliverer = make_deliverer(crm, clock)
    # When the worker delivers with its cached secret and the CRM refuses it
    first = deliverer.process(message("legacy"), queued_at=clock.now, receive_count=1)
    # Then the retry comes at once (not after the backoff), with the new secret
    assert (first.kind, first.reason, first.delay_seconds) == (ResultKind.RETRY, "HTTP_401", 1)
    second = deliverer.process(message("legacy"), queued_at=clock.now, receive_count=2)
    assert second.kind is ResultKind.DELIVERED
    assert [r.url.params["secret"] for r in crm.requests] == [CRM_SECRET, new_secret]


def test_a_rotated_signing_secret_is_used_by_the_very_next_retry(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a json endpoint and a warm worker that cached its signing secret
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    worker.get_secrets(CUSTOMER)
    # And the CRM's developer re-adds the endpoint with a new secret (remove + add), then verifies with it
    admin.update_tenant(CUSTOMER, crm_endpoints=[])
    rotated = signing.generate_secret()
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=rotated)
    crm.answer(MAIN, 401, 200)
    deliverer = make_deliverer(crm, clock)
    # When the worker signs with its cached secret and the CRM refuses it
    first = deliverer.process(message(), queued_at=clock.now, receive_count=1)
    # Then the retry comes at once, signed with the new secret
    assert (first.kind, first.delay_seconds) == (ResultKind.RETRY, 1)
    assert deliverer.process(message(), queued_at=clock.now, receive_count=2).kind is ResultKind.DELIVERED
    refused, accepted = crm.requests
    assert signing.verify(SIGNING_SECRET, dict(refused.headers), refused.content)
    assert signing.verify(rotated, dict(accepted.headers), accepted.content)


def test_a_refused_credential_that_did_not_change_waits_for_the_backoff(
    admin: TenantAdmin, crm: FakeCrm, clock: Clock
) -> None:
    # Given a CRM that refuses our (unchanged) signature
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)
    crm.answer(MAIN, 401)
    # When the worker delivers, Then the retry waits for the backoff as any failure
    result = make_deliverer(crm, clock, rng=lambda: 1.0).process(message(), queued_at=clock.now)
    assert (result.kind, result.delay_seconds) == (ResultKind.RETRY, 30)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_delay"),
    [
        (429, "600", 600),  # delta-seconds, longer than the 30 s backoff: honoured
        (503, "Wed, 01 May 2024 09:00:00 GMT", 3600),  # an HTTP-date (the clock is 08:00 UTC)
        (429, "5", 30),  # shorter than the backoff: the backoff
        (429, "999999", 6 * 3600),  # capped at the backoff's own cap
        (429, "soon", 30),  # unusable: the backoff
    ],
)
def test_a_crm_asking_for_a_pause_with_retry_after_gets_it(
    admin: TenantAdmin, clock: Clock, status: int, retry_after: str, expected_delay: int
) -> None:
    # Given a CRM that answers with a Retry-After
    add_endpoint(admin, CUSTOMER, json_endpoint(), signing_secret=SIGNING_SECRET)

    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": retry_after})

    client = httpx.Client(transport=httpx.MockTransport(busy))
    deliverer = worker.Deliverer(
        client=client, resolver=lambda host, port: [PUBLIC_IP], now=clock, rng=lambda: 1.0
    )
    # When the worker delivers, Then the retry waits at least what the CRM asked (within the cap)
    result = deliverer.process(message(), queued_at=clock.now)
    assert (result.kind, result.reason, result.delay_seconds) == (
        ResultKind.RETRY,
        f"HTTP_{status}",
        expected_delay,
    )
    (failed,) = DeliveryStore(TABLE).list_attempts(CUSTOMER).items
    assert failed.next_attempt_at == (clock.now + timedelta(seconds=expected_delay)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
