"""The recording fetcher function: jobs from SQS to S3, partial failures, backoff, the dead-letter queue."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest

from ctibridge.calls.repository import CallRepository
from ctibridge.recordings import jobs, service
from ctibridge.recordings.fetch import RecordingFetcher
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_local.pbx_simulator import make_wav
from ctibridge_local.sqs_poller import to_lambda_record
from tests.support.aws import load_event
from tests.support.calls import RecordingResources, call_log
from tests.support.handlers import load_handler

WAV = make_wav("fetcher-test", 1.0)
DNS = {"pbx.example.com": ["93.184.216.34"]}


class FakePbx:
    """The PBX's web server as the fetcher sees it (httpx MockTransport), with a fixed DNS."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, content=WAV, headers={"content-type": "audio/wav"})

    def factory(self, allowed_hosts: list[str]) -> RecordingFetcher:
        return RecordingFetcher(
            allowed_hosts=allowed_hosts,
            resolver=lambda host, port: DNS[host],
            transport=httpx.MockTransport(self.handle),
        )


@pytest.fixture
def pbx(monkeypatch: pytest.MonkeyPatch) -> FakePbx:
    fake = FakePbx()
    monkeypatch.setattr(service, "default_fetcher", fake.factory)
    return fake


@pytest.fixture
def fetcher(tenants: TenantAdmin, lambda_context: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    handler = load_handler("recording_fetcher")
    return lambda event: handler(event, lambda_context)


@pytest.fixture
def calls(tenants: TenantAdmin) -> CallRepository:
    return CallRepository("ctibridge-test")


def receive(resources: RecordingResources) -> list[dict[str, Any]]:
    """Receive like Lambda's poller does, as Lambda SQS records."""
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    return [to_lambda_record(dict(m), "arn:aws:sqs:us-east-1:123456789012:recording-queue") for m in messages]


def s3_object(resources: RecordingResources, key: str) -> bytes:
    body: bytes = boto3.client("s3").get_object(Bucket=resources.bucket, Key=key)["Body"].read()
    return body


def test_the_sample_batch_is_stored_in_s3(
    fetcher: Callable[..., dict[str, Any]], pbx: FakePbx, calls: CallRepository, aws: RecordingResources
) -> None:
    # Given the two calls of the sample batch, with recordings on the PBX
    event = load_event("recording_fetcher", "sqs_batch")
    for record in event["Records"]:
        callid = json.loads(record["body"])["callid"]
        calls.record_event("demo", call_log(callid, recording=f"https://pbx.example.com/rec/{callid}.wav"))
    # When the function processes the batch
    result = fetcher(event)
    # Then no item failed, and each recording is in S3 under the tenant's prefix with its checksum
    assert result == {"batchItemFailures": []}
    for record in event["Records"]:
        callid = json.loads(record["body"])["callid"]
        call = calls.get("demo", callid)
        assert call is not None
        assert call.recording_state.value == "stored"
        assert call.recording_s3_key == f"recordings/demo/2024/05/01/{callid}.wav"
        assert call.recording_sha256 == hashlib.sha256(WAV).hexdigest()
        assert (call.recording_size, call.recording_content_type) == (len(WAV), "audio/wav")
        assert s3_object(aws, call.recording_s3_key) == WAV


def test_a_job_for_a_stored_recording_does_nothing(
    fetcher: Callable[..., dict[str, Any]], pbx: FakePbx, calls: CallRepository, aws: RecordingResources
) -> None:
    calls.record_event("demo", call_log("c-1"))
    jobs.enqueue(jobs.RecordingJob(tenant_id="demo", callid="c-1"))
    jobs.enqueue(jobs.RecordingJob(tenant_id="demo", callid="c-1"))  # a duplicate (webhook retry)
    records = receive(aws)
    assert len(records) == 2
    assert fetcher({"Records": records}) == {"batchItemFailures": []}
    assert len(pbx.requests) == 1


def test_a_forbidden_host_is_refused_for_good_and_noted_on_the_call(
    fetcher: Callable[..., dict[str, Any]], pbx: FakePbx, calls: CallRepository, aws: RecordingResources
) -> None:
    # Given a call log whose recording URL points at the instance metadata service
    calls.record_event("demo", call_log("c-1", recording="http://169.254.169.254/latest/meta-data/iam/"))
    jobs.enqueue(jobs.RecordingJob(tenant_id="demo", callid="c-1"))
    # When the job runs
    result = fetcher({"Records": receive(aws)})
    # Then nothing was requested, the job is done (no retry can fix it) and the call says why
    assert result == {"batchItemFailures": []}
    assert pbx.requests == []
    call = calls.get("demo", "c-1")
    assert call is not None
    assert call.recording_state.value == "failed"
    assert call.recording_error == "RECORDING_HOST_FORBIDDEN"
    assert boto3.client("s3").list_objects_v2(Bucket=aws.bucket).get("KeyCount") == 0


def test_a_loopback_pbx_is_fetched_when_the_tenant_allows_it(
    fetcher: Callable[..., dict[str, Any]],
    pbx: FakePbx,
    calls: CallRepository,
    tenants: TenantAdmin,
    aws: RecordingResources,
) -> None:
    url = "http://127.0.0.1:3002/recordings/c-1.wav"
    calls.record_event("demo", call_log("c-1", recording=url))
    calls.record_event("acme", call_log("c-1", recording=url))
    tenants.update_tenant("demo", recording_hosts_allowed=["127.0.0.1:3002"])
    for tenant in ("demo", "acme"):
        jobs.enqueue(jobs.RecordingJob(tenant_id=tenant, callid="c-1"))
    assert fetcher({"Records": receive(aws)}) == {"batchItemFailures": []}
    # Allowed for demo, by its configuration; refused for acme, which allows nothing
    assert [c.recording_state.value for c in (calls.get("demo", "c-1"), calls.get("acme", "c-1")) if c] == [
        "stored",
        "failed",
    ]


def test_failures_are_retried_with_backoff_then_dead_lettered(
    fetcher: Callable[..., dict[str, Any]],
    pbx: FakePbx,
    calls: CallRepository,
    aws: RecordingResources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a PBX that answers 503 for this recording, and backoff delays recorded (not waited for)
    pbx.status = 503
    delays: list[int] = []
    real_delay = jobs.delay_retry

    def delay_retry(receipt_handle: str, attempt: int) -> int:
        delays.append(jobs.retry_delay(attempt, 30, 900))
        monkeypatch.setenv("RECORDING_RETRY_BASE_SECONDS", "0")  # make it visible again at once
        from ctibridge.settings import get_settings

        get_settings.cache_clear()
        return real_delay(receipt_handle, attempt)

    monkeypatch.setattr(jobs, "delay_retry", delay_retry)
    calls.record_event("demo", call_log("c-1"))
    jobs.enqueue(jobs.RecordingJob(tenant_id="demo", callid="c-1"))
    # When Lambda's poller delivers it again and again
    for attempt in range(1, aws.max_receive_count + 1):
        records = receive(aws)
        assert len(records) == 1, attempt
        assert records[0]["attributes"]["ApproximateReceiveCount"] == str(attempt)
        result = fetcher({"Records": records})
        # Then each failure is reported for that message only
        assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    # And the waits grew exponentially, and after maxReceiveCount the job is in the DLQ, not lost
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    assert receive(aws) == []
    dead = boto3.client("sqs").receive_message(QueueUrl=aws.dead_letter_url).get("Messages", [])
    assert [json.loads(m["Body"]) for m in dead] == [{"v": 1, "tenant_id": "demo", "callid": "c-1"}]
    call = calls.get("demo", "c-1")
    assert call is not None
    assert call.recording_state.value == "pending"


def test_a_failure_hides_the_message_for_its_backoff(
    fetcher: Callable[..., dict[str, Any]], pbx: FakePbx, calls: CallRepository, aws: RecordingResources
) -> None:
    pbx.status = 404  # the PBX has not written the file yet
    calls.record_event("demo", call_log("c-1"))
    jobs.enqueue(jobs.RecordingJob(tenant_id="demo", callid="c-1"))
    records = receive(aws)
    boto3.client("sqs").change_message_visibility(
        QueueUrl=aws.queue_url, ReceiptHandle=records[0]["receiptHandle"], VisibilityTimeout=0
    )
    fetcher({"Records": records})
    # Hidden for the first backoff (30 s), not retried at once
    assert receive(aws) == []


def test_a_malformed_job_fails_into_the_dead_letter_path(
    fetcher: Callable[..., dict[str, Any]], pbx: FakePbx, aws: RecordingResources
) -> None:
    boto3.client("sqs").send_message(QueueUrl=aws.queue_url, MessageBody="{not a job")
    records = receive(aws)
    assert fetcher({"Records": records}) == {
        "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]
    }


def test_retry_delay() -> None:
    assert [jobs.retry_delay(n, 30, 900) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert jobs.retry_delay(100, 30, 10**9) == 12 * 3600  # SQS's maximum visibility timeout
