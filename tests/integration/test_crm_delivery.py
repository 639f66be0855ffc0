"""Call events forwarded to CRMs, end to end: PBX webhooks into the local stack, test CRMs on loopback.

The stacks here run with retries in seconds (``DELIVERY_RETRY_*``) instead of hours; the test CRMs
are reached because each endpoint is configured with ``--allow-private-network``, as an operator
would for a CRM on the customer's LAN.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctibridge import aws
from ctibridge.delivery import signing
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.crm_server import CrmServer, Recorded
from tests.support.local_stack import REGION, RunningStack, start_stack

FAST_RETRIES = (
    "DELIVERY_RETRY_BASE_SECONDS=1",
    "DELIVERY_RETRY_MAX_SECONDS=2",
    "DELIVERY_CONNECT_TIMEOUT_SECONDS=1",
    "DELIVERY_READ_TIMEOUT_SECONDS=3",
    "TENANT_CACHE_TTL_SECONDS=1",
    "SECRETS_CACHE_TTL_SECONDS=1",
)
SHORT_WINDOW_SECONDS = 8


def _start(tmp: Path, window: int) -> RunningStack:
    env = [*FAST_RETRIES, f"DELIVERY_RETRY_WINDOW_SECONDS={window}"]
    return start_stack(tmp, "--no-seed", *[arg for pair in (("--env", e) for e in env) for arg in pair])


@pytest.fixture(scope="module")
def aws_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        yield patch
    _forget_caches()


def _forget_caches() -> None:
    get_settings.cache_clear()
    aws.reset()
    repository.clear_cache()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """This module's stack: retries every 1-2 s for 5 minutes."""
    running = _start(tmp_path_factory.mktemp("delivery-stack"), window=300)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack that gives up after a few seconds: the dead-letter queue and the replay."""
    running = _start(tmp_path_factory.mktemp("delivery-short-stack"), window=SHORT_WINDOW_SECONDS)
    yield running
    running.stop()


@pytest.fixture
def crms() -> Iterator[list[CrmServer]]:
    servers: list[CrmServer] = []
    yield servers
    for server in servers:
        server.stop()


def new_crm(crms: list[CrmServer]) -> CrmServer:
    server = CrmServer().start()
    crms.append(server)
    return server


class Tenant:
    """A fresh tenant of ``stack`` with its PBX secret, API key and CRM secret; configured through the CLI."""

    def __init__(self, stack: RunningStack, aws_env: pytest.MonkeyPatch) -> None:
        aws_env.setenv("AWS_ENDPOINT_URL", stack.moto_url)
        _forget_caches()
        self.stack = stack
        self.customer = f"crm{uuid.uuid4().hex[:8]}"
        self.pbx_secret = f"pbx-{uuid.uuid4().hex}"
        self.crm_secret = f"crm-{uuid.uuid4().hex}"
        self.api_key = f"ctb_{uuid.uuid4().hex}"
        self.admin = TenantAdmin(stack.table_name, stack.stage)
        self.admin.create_tenant(
            self.customer,
            self.customer,
            pbx_secret=self.pbx_secret,
            crm_secret=self.crm_secret,
            api_key=self.api_key,
            timezone="Asia/Ho_Chi_Minh",
            recording_hosts_allowed=["127.0.0.1"],  # the stack's PBX simulator serves recordings there
        )
        self.http = httpx.Client(base_url=stack.http_url, timeout=15)

    def cli(self, *argv: str) -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--table", self.stack.table_name, "--stage", self.stack.stage, *argv, "--json"], out=out, err=err
        )
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())  # type: ignore[no-any-return]

    def add_endpoint(self, url: str, *options: str) -> str | None:
        """``ctibridge crm endpoint add``; answers the generated signing secret (json format)."""
        added = self.cli("crm", "endpoint", "add", self.customer, url, "--allow-private-network", *options)
        return added.get("signing_secret")

    def pbx(self, kind: str, method: str = "GET", **fields: Any) -> None:
        """The PBX sends one seed 004 webhook (GET with a query, or POST with a JSON body)."""
        url = f"/wsapi/{self.customer}/{kind}"
        if method == "GET":
            answer = self.http.get(url, params={"secret": self.pbx_secret, **fields})
        else:
            answer = self.http.post(url, params={"secret": self.pbx_secret}, json=fields)
        assert answer.status_code == 200, answer.text

    def call(self, callid: str, *, status: str = "ANSWERED", **log: Any) -> None:
        """A whole inbound call: ringing, then the call log."""
        self.pbx("incoming_call", phone="0901234567", extension="101", callid=callid)
        self.pbx(
            "call_answered",
            "POST",
            callid=callid,
            calldate="2024-05-01 15:00:00",
            extension="101",
            phone="0901234567",
            duration=30,
            billsec=20,
            status=status,
            **log,
        )

    def deliveries(self, **query: str) -> list[dict[str, Any]]:
        answer = self.http.get("/v1/deliveries", params=query, headers={"X-Api-Key": self.api_key})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]  # type: ignore[no-any-return]


def accepted_once(crm: CrmServer, expected: int) -> list[Recorded]:
    """Wait until ``expected`` distinct events were accepted; check none was accepted twice."""
    crm.wait_for(lambda c: len({r.event_id for r in c.accepted()}) >= expected, timeout=60)
    time.sleep(1.5)  # a duplicate would arrive within a retry step
    accepted = crm.accepted()
    counts = Counter(r.event_id for r in accepted)
    assert len(counts) == expected
    assert all(n == 1 for n in counts.values()), counts
    return accepted


def in_call_order(requests: list[Recorded]) -> None:
    """Per call, call.ringing was accepted before call.ended."""
    seen: dict[str, list[str]] = {}
    for request in requests:
        body = request.json()
        seen.setdefault(body["callid"], []).append(body["type"])
    assert all(types == ["call.ringing", "call.ended"] for types in seen.values()), seen


# ---------------------------------------------------------------- the tests


def test_a_crm_down_for_a_while_gets_every_event_exactly_once(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a json endpoint whose CRM refuses connections
    tenant = Tenant(stack, aws_env)
    crm = new_crm(crms)
    secret = tenant.add_endpoint(f"{crm.url}/hooks/cti", "--id", "main")
    assert secret is not None
    crm.down("refuse")
    # When eight calls happen while it is down, and it comes back a few seconds later
    for n in range(8):
        tenant.call(f"down-{n}")
    time.sleep(4)
    failed_meanwhile = tenant.deliveries(status="failed")
    crm.up()
    # Then it receives every event exactly once (by event id), each call's events in order
    accepted = accepted_once(crm, expected=16)
    in_call_order(accepted)
    # And every request verifies with the endpoint's signing secret
    for request in accepted:
        assert signing.verify(secret, request.headers, request.body) == request.json()["id"]
    # And the failed attempts were recorded and queryable while it was down
    assert failed_meanwhile
    assert all(a["error_code"] == "CONNECT_FAILED" and a["will_retry"] for a in failed_meanwhile)
    succeeded = tenant.deliveries(status="succeeded", limit="100")
    assert len(succeeded) == 16
    assert all(a["http_status"] == 200 for a in succeeded)


def test_signatures_verify_and_a_tampered_body_fails(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a json endpoint
    tenant = Tenant(stack, aws_env)
    crm = new_crm(crms)
    secret = tenant.add_endpoint(f"{crm.url}/cti", "--id", "signed")
    assert secret is not None
    # When a call happens
    tenant.call("signed-1", userfield="order-7")
    (ringing, ended) = accepted_once(crm, expected=2)
    # Then the Standard Webhooks headers are there and verify
    assert ended.headers["content-type"] == "application/json"
    assert signing.verify(secret, ended.headers, ended.body) == ended.headers["webhook-id"]
    body = ended.json()
    assert body["type"] == "call.ended"
    assert body["data"]["userfield"] == "order-7"
    assert body["data"]["calldate_local"] == "2024-05-01 15:00:00"
    assert body["data"]["billsec"] == 20
    # And one changed byte, or another secret, does not
    tampered = ended.body.replace(b"order-7", b"order-8")
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, ended.headers, tampered)
    with pytest.raises(signing.SignatureError):
        signing.verify(signing.generate_secret(), ringing.headers, ringing.body)


def test_failover_reaches_the_backup_url(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a failover endpoint whose main CRM is down and whose backup is up
    tenant = Tenant(stack, aws_env)
    main, backup = new_crm(crms), new_crm(crms)
    tenant.add_endpoint(f"{main.url}/cti", "--id", "fo", "--backup-url", f"{backup.url}/cti")
    main.down("503")
    # When two calls happen
    tenant.call("fo-1")
    tenant.call("fo-2")
    # Then the backup receives each event once, after the main URL was tried
    accepted_once(backup, expected=4)
    assert main.accepted() == []
    assert len(main.requests) >= 4
    # When the main CRM is back, Then it takes the next call and the backup is left alone
    main.up()
    tenant.call("fo-3")
    accepted_once(main, expected=2)
    assert len(backup.accepted()) == 4


def test_parallel_reaches_every_url(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a parallel endpoint with two CRMs, the second failing its first two requests
    tenant = Tenant(stack, aws_env)
    first, second = new_crm(crms), new_crm(crms)
    tenant.add_endpoint(
        f"{first.url}/cti", "--id", "par", "--mode", "parallel", "--backup-url", f"{second.url}/cti"
    )
    second.fail_next(2)
    # When two calls happen
    tenant.call("par-1")
    tenant.call("par-2")
    # Then both CRMs receive every event exactly once, each call in order
    in_call_order(accepted_once(first, expected=4))
    in_call_order(accepted_once(second, expected=4))
    assert len(first.requests) == 4  # the healthy one was not sent the retries


def test_seed004_endpoint_receives_the_seeds_requests_field_for_field(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a CRM written for seed 004 (base URL, the tenant's CRM secret), with an API key option
    tenant = Tenant(stack, aws_env)
    crm = new_crm(crms)
    tenant.add_endpoint(
        crm.url, "--id", "legacy", "--format", "seed004", "--auth", "api_key", "--credential", "legacy-key"
    )
    # When the PBX sends the seed's three events (the call log as seed 004 §1.3 shows it)
    tenant.pbx("incoming_call", phone="0904824242", extension="101", callid="1565944170.1230")
    tenant.pbx("outgoing_call", phone="0911234567", extension="102", callid="1565944180.1231")
    call_log = {
        "callid": "1565944170.1230",
        "calldate": "2019-08-16 15:29:30",
        "extension": "101",
        "phone": "0904824242",
        "duration": 23,
        "billsec": 11,
        "status": "NO ANSER",
        "recording": f"{stack.pbx_url}/recordings/seed.wav",
        "userfield": "order-42",
    }
    tenant.pbx("call_answered", "POST", **call_log)
    # Then the CRM receives exactly the seed's requests
    crm.wait_for(lambda c: len(c.accepted()) >= 3)
    by_path = {r.path: r for r in crm.accepted()}
    assert len(crm.accepted()) == 3
    incoming = by_path[f"/wsapi/{tenant.customer}/incoming_call"]
    assert incoming.method == "GET"
    assert incoming.query == [
        ("secret", tenant.crm_secret),
        ("phone", "0904824242"),
        ("extension", "101"),
        ("callid", "1565944170.1230"),
    ]
    outgoing = by_path[f"/wsapi/{tenant.customer}/outgoing_call"]
    assert outgoing.method == "GET"
    assert outgoing.query == [
        ("secret", tenant.crm_secret),
        ("phone", "0911234567"),
        ("extension", "102"),
        ("callid", "1565944180.1231"),
    ]
    answered = by_path[f"/wsapi/{tenant.customer}/call_answered"]
    assert answered.method == "POST"
    assert answered.query == [("secret", tenant.crm_secret)]
    assert answered.json() == call_log
    assert list(answered.json()) == list(call_log)
    assert all(r.headers["x-api-key"] == "legacy-key" for r in crm.accepted())


def test_recording_ready_carries_a_working_presigned_url(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a json endpoint taking recording.ready only
    tenant = Tenant(stack, aws_env)
    crm = new_crm(crms)
    tenant.add_endpoint(f"{crm.url}/cti", "--id", "rec", "--event", "recording.ready")
    # When a call log names a recording on the PBX
    tenant.call("rec-1", recording=f"{stack.pbx_url}/recordings/rec-1.wav?seconds=1")
    # Then, once it is stored, the CRM gets recording.ready and can download the file with its URL
    crm.wait_for(lambda c: len(c.accepted()) >= 1)
    (ready,) = crm.accepted()
    data = ready.json()["data"]
    assert ready.json()["type"] == "recording.ready"
    assert data["content_type"] == "audio/wav"
    audio = httpx.get(data["recording_url"], timeout=10)
    assert audio.status_code == 200
    assert audio.content[:4] == b"RIFF"
    assert len(audio.content) == data["size"]


def test_a_bounded_load_run_loses_nothing(
    stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a json endpoint whose CRM fails its first 25 requests
    tenant = Tenant(stack, aws_env)
    crm = new_crm(crms)
    tenant.add_endpoint(f"{crm.url}/cti", "--id", "load")
    crm.fail_next(25)
    calls = 60
    # When 60 calls (120 events) arrive from 8 PBX connections at once
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: tenant.call(f"load-{n}"), range(calls)))
    # Then every event reaches the CRM exactly once, each call in order
    accepted = accepted_once(crm, expected=2 * calls)
    in_call_order(accepted)
    assert {r.json()["callid"] for r in accepted} == {f"load-{n}" for n in range(calls)}
    print(f"\n{2 * calls} events delivered in {time.monotonic() - started:.1f} s")


def test_after_the_window_events_go_to_the_dead_letter_queue_and_replay_delivers_them(
    short_stack: RunningStack, aws_env: pytest.MonkeyPatch, crms: list[CrmServer]
) -> None:
    # Given a CRM that stays down longer than the retry window
    tenant = Tenant(short_stack, aws_env)
    crm = new_crm(crms)
    tenant.add_endpoint(f"{crm.url}/cti", "--id", "late")
    crm.down("503")
    tenant.call("dlq-1")
    tenant.call("dlq-2")
    # When the window has passed
    sqs = short_stack.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=short_stack.resource_name("DeliveryDeadLetterQueue") + ".fifo")[
        "QueueUrl"
    ]
    queue_url = sqs.get_queue_url(QueueName=short_stack.resource_name("DeliveryQueue") + ".fifo")["QueueUrl"]
    deadline = time.monotonic() + SHORT_WINDOW_SECONDS + 30
    while time.monotonic() < deadline:
        waiting = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        if int(waiting["Attributes"]["ApproximateNumberOfMessages"]) >= 4:
            break
        time.sleep(0.5)
    # Then the four events are in the dead-letter queue, and the API shows the final failures
    assert int(waiting["Attributes"]["ApproximateNumberOfMessages"]) == 4
    dead = [a for a in tenant.deliveries(status="failed", limit="200") if a["dead_lettered"]]
    assert len(dead) == 4
    assert {a["http_status"] for a in dead} == {503}
    assert crm.accepted() == []
    # When the CRM is back and the operator replays the dead-letter queue
    crm.up()
    report = tenant.cli(
        "events",
        "replay",
        "--dlq",
        "--customer",
        tenant.customer,
        "--queue-url",
        queue_url,
        "--dlq-url",
        dlq_url,
    )
    assert report["replayed"] == 4
    # Then every event reaches the CRM exactly once, each call in order
    in_call_order(accepted_once(crm, expected=4))
