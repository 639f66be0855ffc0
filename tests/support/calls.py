"""Helpers of the call-log tests: the recording queue/bucket from template.yaml, AWS call counting,
and builders for PBX events and call records."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest

from ctibridge.calls.models import CallEvent, EventKind
from tests.support.aws import load_template

ACME_API_KEY = "acme-api-key"  # the second tenant of the call-log tests
ACME_PBX_SECRET = "acme-pbx-secret"

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class RecordingResources:
    bucket: str
    queue_url: str
    dead_letter_url: str
    max_receive_count: int
    call_state_queue_url: str  # the webhook's other queue: agents' call state (realtime.call_state_jobs)


def create_recording_resources(monkeypatch: pytest.MonkeyPatch) -> RecordingResources:
    """In the active moto mock: the recordings bucket and the recording queue with its DLQ, configured
    as template.yaml configures them, the call-state queue, and the functions' environment pointing at
    them."""
    resources = load_template()["Resources"]
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="recording-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    props = resources["RecordingQueue"]["Properties"]
    max_receive = int(props["RedrivePolicy"]["maxReceiveCount"])
    queue_url = sqs.create_queue(
        QueueName="recording-queue",
        Attributes={
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
        },
    )["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket="recordings-test")
    monkeypatch.setenv("RECORDINGS_BUCKET", "recordings-test")
    monkeypatch.setenv("RECORDING_QUEUE_URL", queue_url)
    call_state_url = sqs.create_queue(QueueName="call-state-queue")["QueueUrl"]
    monkeypatch.setenv("CALL_STATE_QUEUE_URL", call_state_url)
    return RecordingResources("recordings-test", queue_url, dlq_url, max_receive, call_state_url)


class AwsCallCounter:
    """Counts the AWS operations made by botocore sessions created while it is active."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hook(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.counts[event_name.partition(".")[2]] += 1  # "dynamodb.UpdateItem"

    def of(self, service: str) -> int:
        return sum(n for op, n in self.counts.items() if op.startswith(f"{service}."))

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


@contextmanager
def counting_aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsCallCounter]:
    """Register a ``before-call`` hook on every botocore session created inside the block (clients
    cached before it are not seen: call ``ctibridge.aws.reset()`` first)."""
    counter = AwsCallCounter()
    original = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("before-call", counter.hook)

    monkeypatch.setattr(botocore.session.Session, "__init__", init)
    yield counter


def ring(
    callid: str = "c-1",
    *,
    kind: EventKind = EventKind.INCOMING,
    phone: str = "0904824242",
    e164: str | None = "+84904824242",
    extension: str = "101",
    at: datetime | None = None,
) -> CallEvent:
    return CallEvent(
        kind=kind,
        callid=callid,
        received_at=at or datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC),
        phone=phone,
        phone_e164=e164,
        phone_key=e164 or phone,
        extension=extension,
    )


def call_log(
    callid: str = "c-1",
    *,
    calldate: datetime | None = None,
    phone: str = "0904824242",
    e164: str | None = "+84904824242",
    extension: str = "101",
    status: str = "ANSWERED",
    duration: int = 23,
    billsec: int = 11,
    recording: str | None = "https://pbx.example.com/rec/c-1.wav",
    userfield: str | None = "order-1",
    at: datetime | None = None,
) -> CallEvent:
    calldate = calldate or datetime(2024, 5, 1, 7, 59, 50, tzinfo=UTC)
    return CallEvent(
        kind=EventKind.ANSWERED,
        callid=callid,
        received_at=at or datetime(2024, 5, 1, 8, 1, 0, tzinfo=UTC),
        phone=phone,
        phone_e164=e164,
        phone_key=e164 or phone,
        extension=extension,
        calldate=calldate,
        calldate_local=calldate.strftime("%Y-%m-%d %H:%M:%S"),
        duration=duration,
        billsec=billsec,
        status=status,
        status_raw=status,
        recording=recording,
        userfield=userfield,
    )
