"""AWS down or throttling during a PBX webhook: the PBX gets a retryable 503, nothing is half-written.

Faults are injected where botocore sends the request (``before-send``), so the real client code runs:
botocore's own retries (standard mode: two tries for the bridge's clients, more for Powertools'), error
parsing, and our error mapping. Retry sleeps are set to 0 to keep the tests fast; the attempt count shows
the retries happened.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.retries.standard import ExponentialBackoff
from moto.core.models import botocore_stubber

from ctibridge import aws
from ctibridge.calls.models import CallRecord
from ctibridge.observability import METRICS
from tests.support.aws import http_event
from tests.support.calls import Invoke, RecordingResources

TABLE = "ctibridge-test"
SECRET = "demo-secret"
CALL_LOG: dict[str, Any] = {
    "callid": "1700000000.42",
    "calldate": "2026-11-23 09:15:00",
    "extension": "101",
    "phone": "0904824242",
    "duration": 30,
    "billsec": 20,
    "status": "ANSWERED",
    "recording": "https://pbx.example.com/monitor/1700000000.42.wav",
}


class _RawBody:
    """What botocore reads an HTTP body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _dynamodb_error(code: str, status: int) -> Callable[..., AWSResponse]:
    def respond(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"})
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "fault"}
        return AWSResponse(request.url, status, headers, _RawBody(body.encode()))

    return respond


def _unreachable(request: Any, **_: Any) -> None:
    raise EndpointConnectionError(endpoint_url=request.url)


class Faults:
    """Injects a fault into one AWS operation of the clients the functions use; counts the attempts."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self._active: dict[str, Callable[..., Any]] = {}

    def inject(self, operation: str, fault: Callable[..., Any]) -> None:
        """``operation`` like ``dynamodb.UpdateItem``; ``fault`` answers or raises in place of AWS."""
        self._active[operation] = fault

    def clear(self) -> None:
        self._active.clear()

    def hook(self, request: Any, event_name: str = "", **kwargs: Any) -> Any:
        operation = event_name.removeprefix("before-send.")
        fault = self._active.get(operation)
        if fault is None:
            return None  # moto answers
        self.attempts[operation] += 1
        # botocore calls every before-send handler: moto's must not also carry the request out.
        botocore_stubber.enabled = False
        try:
            return fault(request=request, **kwargs)
        except Exception:
            botocore_stubber.enabled = True  # a raise skips the other handlers, _moto_again too
            raise

    @staticmethod
    def _moto_again(**_: Any) -> None:
        botocore_stubber.enabled = True

    def attach(self, client: Any) -> None:
        # First in line, before moto's own before-send handler; the last handler turns moto back on.
        client.meta.events.register_first("before-send", self.hook)
        client.meta.events.register_last("before-send", self._moto_again)


@pytest.fixture
def faults(webhook: Invoke, monkeypatch: pytest.MonkeyPatch) -> Faults:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    injector = Faults()
    # The functions' own clients (created once per process by ctibridge.aws), hooked before first use,
    # and the client Powertools reads the tenants' secrets with.
    injector.attach(aws.table(TABLE).meta.client)
    injector.attach(aws.client("sqs"))
    secrets = SecretsProvider()
    monkeypatch.setitem(DEFAULT_PROVIDERS, "secrets", secrets)
    injector.attach(secrets.client)
    return injector


def send(webhook: Invoke, kind: str, fields: dict[str, Any], method: str = "GET") -> dict[str, Any]:
    event = http_event(
        method,
        f"/wsapi/demo/{kind}",
        route=f"/wsapi/{{customer}}/{kind}",
        path_parameters={"customer": "demo"},
        query={"secret": SECRET} if method == "POST" else {"secret": SECRET, **fields},
        body=fields if method == "POST" else None,
    )
    return webhook(event)


def call_items() -> list[dict[str, Any]]:
    # A test's view of the whole table (the code never scans).
    items = boto3.resource("dynamodb").Table(TABLE).scan()["Items"]
    return [item for item in items if "#CALL#" in str(item["PK"])]


def queued_jobs(resources: RecordingResources) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(
        QueueUrl=resources.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def assert_retryable_503(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"].isdigit()
    body = json.loads(response["body"])
    assert body == {"code": "BACKEND_UNAVAILABLE", "message": body["message"]}
    assert "Traceback" not in response["body"]
    assert "injected" not in response["body"]  # AWS's own message is not echoed


RING = {"callid": "1700000000.41", "phone": "0904824242", "extension": "101"}


@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("dynamodb.UpdateItem", _dynamodb_error("ProvisionedThroughputExceededException", 400)),
        ("dynamodb.UpdateItem", _dynamodb_error("ThrottlingException", 400)),
        ("dynamodb.UpdateItem", _dynamodb_error("InternalServerError", 500)),
        ("dynamodb.UpdateItem", _unreachable),
        ("dynamodb.GetItem", _unreachable),  # the tenant lookup
        ("secrets-manager.GetSecretValue", _unreachable),  # the PBX secret
    ],
    ids=["throughput", "throttling", "dynamodb-500", "dynamodb-down", "tenant-read-down", "secrets-down"],
)
def test_an_aws_outage_answers_a_retryable_503_and_writes_nothing(
    webhook: Invoke, faults: Faults, operation: str, fault: Callable[..., Any]
) -> None:
    # Given AWS failing one operation the webhook needs
    faults.inject(operation, fault)
    # When the PBX sends a ring event
    response = send(webhook, "incoming_call", RING)
    # Then it gets 503 BACKEND_UNAVAILABLE with Retry-After, after botocore's retries of the operation
    assert_retryable_503(response)
    assert faults.attempts[operation] >= 2
    # And no call item exists, not even a partial one
    assert call_items() == []
    # When AWS is back and the PBX retries, the call is stored once
    faults.clear()
    retried = send(webhook, "incoming_call", RING)
    assert retried["statusCode"] == 200
    assert json.loads(retried["body"])["duplicate"] is False
    (item,) = call_items()
    call = CallRecord.from_item(item)
    assert (call.callid, call.status, len(call.event_ids)) == ("1700000000.41", "RINGING", 1)


def test_sqs_down_after_the_write_is_completed_by_the_pbx_retry(
    webhook: Invoke, faults: Faults, aws: RecordingResources
) -> None:
    # Given SQS unreachable: the call log is written, then its recording job cannot be queued
    faults.inject("sqs.SendMessage", _unreachable)
    response = send(webhook, "call_answered", CALL_LOG, method="POST")
    # Then the PBX is told to retry (the recording would otherwise be lost)
    assert_retryable_503(response)
    (stored,) = call_items()
    assert CallRecord.from_item(stored).recording_url == CALL_LOG["recording"]
    assert queued_jobs(aws) == []
    # When SQS is back and the PBX retries the same call log
    faults.clear()
    retried = send(webhook, "call_answered", CALL_LOG, method="POST")
    # Then it is a duplicate (nothing written twice) and the recording job is queued now
    assert retried["statusCode"] == 200
    assert json.loads(retried["body"])["duplicate"] is True
    (item,) = call_items()
    assert item["event_ids"] == stored["event_ids"]
    assert [job["callid"] for job in queued_jobs(aws)] == [CALL_LOG["callid"]]


def test_a_bug_is_not_disguised_as_an_outage(webhook: Invoke, faults: Faults) -> None:
    # Given DynamoDB refusing the request itself (a bug on our side, retrying cannot help)
    faults.inject("dynamodb.UpdateItem", _dynamodb_error("ValidationException", 400))
    response = send(webhook, "incoming_call", RING)
    # Then it is a plain 500 (alarmed as an error), not a 503, and botocore did not retry it
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["code"] == "INTERNAL_ERROR"
    assert faults.attempts["dynamodb.UpdateItem"] == 1
    assert call_items() == []


def test_outages_and_webhooks_are_counted_as_emf_metrics(
    webhook: Invoke, faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one stored, one duplicate, one refused and one throttled webhook
    send(webhook, "incoming_call", RING)
    send(webhook, "incoming_call", RING)
    send(webhook, "incoming_call", {**RING, "callid": "x y"})  # invalid callid: 400
    faults.inject("dynamodb.UpdateItem", _dynamodb_error("ProvisionedThroughputExceededException", 400))
    send(webhook, "incoming_call", {**RING, "callid": "1700000000.43"})
    # Then each invocation printed one EMF document with its counts, under the stage dimension
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    totals: Counter[str] = Counter()
    for document in documents:
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "CTIBridgeTest"
        assert ["service", "stage"] in [sorted(d) for d in directive["Dimensions"]]
        assert document["stage"] == "test"
        for metric in directive["Metrics"]:
            assert metric["Name"] in METRICS
            value = document[metric["Name"]]
            totals[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    assert totals["WebhooksReceived"] == 2
    assert totals["WebhooksDuplicate"] == 1
    assert totals["WebhooksRejected"] == 1
    assert totals["BackendUnavailable"] == 1
