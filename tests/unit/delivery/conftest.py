"""Fixtures of the CRM delivery tests: moto with the template's table, FIFO delivery queues and the
recordings bucket; a tenant ``acme`` (Asia/Ho_Chi_Minh); an httpx MockTransport standing in for CRMs."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from ctibridge.delivery import worker
from ctibridge.delivery.worker import Deliverer
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.aws import create_table_from_template
from tests.support.delivery import DeliveryQueues, create_delivery_queues

TABLE = "ctibridge-test"  # what tests/unit/conftest.py puts in TABLE_NAME
STAGE = "test"
BUCKET = "recordings-test"
CUSTOMER = "acme"
PBX_SECRET = "acme-pbx-secret"
CRM_SECRET = "acme-crm-secret"
API_KEY = "acme-api-key"
SIGNING_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PUBLIC_IP = "93.184.216.34"  # what the fake resolver answers for every CRM host name

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _fresh_worker() -> Iterator[None]:
    worker._deliverer = None
    yield
    worker._deliverer = None


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeliveryQueues]:
    with mock_aws():
        create_table_from_template(TABLE)
        created = create_delivery_queues(boto3.client("sqs"))
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        recording_queue = boto3.client("sqs").create_queue(QueueName="recording-queue")["QueueUrl"]
        monkeypatch.setenv("DELIVERY_QUEUE_URL", created.queue_url)
        monkeypatch.setenv("DELIVERY_DEAD_LETTER_QUEUE_URL", created.dead_letter_url)
        monkeypatch.setenv("RECORDINGS_BUCKET", BUCKET)
        monkeypatch.setenv("RECORDING_QUEUE_URL", recording_queue)
        call_state_queue = boto3.client("sqs").create_queue(QueueName="call-state-queue")["QueueUrl"]
        monkeypatch.setenv("CALL_STATE_QUEUE_URL", call_state_queue)
        get_settings.cache_clear()
        yield created


@pytest.fixture
def admin(queues: DeliveryQueues) -> TenantAdmin:
    admin = TenantAdmin(TABLE, STAGE)
    admin.create_tenant(
        CUSTOMER,
        CUSTOMER,
        pbx_secret=PBX_SECRET,
        crm_secret=CRM_SECRET,
        api_key=API_KEY,
        timezone="Asia/Ho_Chi_Minh",
    )
    return admin


class Clock:
    """A settable clock for the worker."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeCrm:
    """An httpx MockTransport: answers per host (``Host`` header) and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, list[int | type[Exception]]] = {}

    def answer(self, host: str, *outcomes: int | type[Exception]) -> None:
        """The next outcomes for ``host`` (the last one repeats): an HTTP status or an httpx error."""
        self.answers[host] = list(outcomes)

    def hosts(self) -> list[str]:
        return [r.headers["host"] for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        queue = self.answers.get(request.headers["host"], [200])
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"status": outcome})
        raise outcome("simulated", request=request)


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_deliverer(
    crm: FakeCrm, clock: Clock, rng: Callable[[], float] = lambda: 0.5, **kwargs: Any
) -> Deliverer:
    client = httpx.Client(transport=httpx.MockTransport(crm), follow_redirects=False)
    return Deliverer(client=client, resolver=lambda host, port: [PUBLIC_IP], now=clock, rng=rng, **kwargs)
