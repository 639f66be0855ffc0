"""AWS down or throttling during a PBX webhook, end to end on the local stack: the PBX gets a retryable 5xx
and nothing is half-written; its retry, once AWS is back, stores the call once and complete.

The stack's functions reach moto through its fault proxy (``--fault-proxy``, see
``local/ctibridge_local/fault_proxy.py``): ``down`` resets every connection, ``throttle`` answers every
request with the service's throttling error. The real handlers run with their real boto3 configuration
(botocore's standard retries included); the test reads the table straight from moto, past the proxy.
(Single operations failing, e.g. SQS after the call's write, are tested in
``tests/unit/hardening/test_backend_faults.py``.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ctibridge import keys
from tests.support.hardening import Tenant, login_token, provision
from tests.support.local_stack import RunningStack

PHONE = "0904824242"
EXTENSION = "701"


@pytest.fixture
def aws(hardened: RunningStack) -> Iterator[RunningStack]:
    """The hardened stack with AWS reachable at the start and again at the end, whatever the test did."""
    hardened.aws_faults("pass")
    try:
        yield hardened
    finally:
        hardened.aws_faults("pass")


def ring(stack: RunningStack, tenant: Tenant, callid: str) -> httpx.Response:
    """The PBX's incoming_call, as a GET with the fields in the query string."""
    return httpx.get(
        f"{stack.http_url}/wsapi/{tenant.customer}/incoming_call",
        params={"secret": tenant.pbx_secret, "callid": callid, "phone": PHONE, "extension": EXTENSION},
        timeout=30,
    )


def call_log(stack: RunningStack, tenant: Tenant, callid: str, calldate: str) -> httpx.Response:
    """The PBX's call_answered, as a POST with a JSON body."""
    body = {
        "callid": callid,
        "calldate": calldate,
        "extension": EXTENSION,
        "phone": PHONE,
        "duration": 42,
        "billsec": 30,
        "status": "ANSWERED",
        "userfield": "order-7",
    }
    return httpx.post(
        f"{stack.http_url}/wsapi/{tenant.customer}/call_answered",
        params={"secret": tenant.pbx_secret},
        json=body,
        timeout=30,
    )


def assert_retryable_503(answer: httpx.Response) -> None:
    """503 (a PBX retries a 5xx) with the stable JSON error and a Retry-After; nothing of the internals."""
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["retry-after"].isdigit()
    body = answer.json()
    assert body == {"code": "BACKEND_UNAVAILABLE", "message": body["message"]}
    for internal in ("Traceback", "botocore", "Exception", "Rate exceeded", "127.0.0.1"):
        assert internal not in answer.text


def call_partition(stack: RunningStack, tenant: Tenant, callid: str) -> list[dict[str, Any]]:
    """Every item of the call's partition (the call and its per-agent markers), read from moto directly."""
    answer = stack.client("dynamodb").query(
        TableName=stack.table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.call(tenant.customer, callid)["PK"]}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def tenant_call_ids(stack: RunningStack, tenant: Tenant) -> list[str]:
    """The callids of the tenant's call list (the by-date index), one entry per stored call."""
    answer = stack.client("dynamodb").query(
        TableName=stack.table_name,
        IndexName=keys.CALL_INDEX_BY_DATE,
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.calls_by_date_pk(tenant.customer)}},
    )
    return [item["PK"]["S"].removeprefix(keys.call_pk_prefix(tenant.customer)) for item in answer["Items"]]


def warm_tenant(stack: RunningStack, tenant: Tenant) -> None:
    """One call stored while AWS is up: the functions have the tenant and its secrets cached, so the
    outage hits the call's own write, where a half-written call could happen."""
    assert ring(stack, tenant, f"{time.time():.6f}0").status_code == 200


@pytest.mark.parametrize("fault", ["down", "throttle"])
def test_a_webhook_during_an_aws_outage_gets_a_retryable_503_and_its_retry_stores_the_call_once(
    aws: RunningStack, fault: str
) -> None:
    # Given a tenant that has already taken a call, then AWS down (every connection reset) or
    # throttling (every request answered with the service's ThrottlingException / SlowDown)
    tenant = provision(aws, f"out{uuid.uuid4().hex[:6]}", [EXTENSION])
    warm_tenant(aws, tenant)
    callid = f"{time.time():.6f}1"
    calldate = datetime.now(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    faults_before = aws.aws_faults(fault)["faults"].get(fault, 0)

    # When the PBX sends the call's ring and its call log
    started = time.monotonic()
    rang = ring(aws, tenant, callid)
    ring_seconds = time.monotonic() - started
    started = time.monotonic()
    logged = call_log(aws, tenant, callid, calldate)
    log_seconds = time.monotonic() - started

    # Then each gets a retryable 503 JSON answer, after botocore's retries met the fault
    assert_retryable_503(rang)
    assert_retryable_503(logged)
    assert aws.aws_faults()["faults"][fault] > faults_before
    print(f"{fault}: 503 for the ring in {ring_seconds:.2f} s, for the call log in {log_seconds:.2f} s")
    # And nothing of the call is stored
    assert call_partition(aws, tenant, callid) == []
    assert callid not in tenant_call_ids(aws, tenant)

    # When AWS is back and the PBX retries both
    aws.aws_faults("pass")
    rang, logged = ring(aws, tenant, callid), call_log(aws, tenant, callid, calldate)
    again = call_log(aws, tenant, callid, calldate)  # and the call log once more (a PBX may)

    # Then the retries store the call: new the first time, a duplicate after
    assert (rang.status_code, rang.json()["duplicate"]) == (200, False), rang.text
    assert (logged.status_code, logged.json()["duplicate"]) == (200, False), logged.text
    assert (again.status_code, again.json()["duplicate"]) == (200, True), again.text
    # And the call is stored once, complete: the ring's direction and the call log's figures
    assert tenant_call_ids(aws, tenant).count(callid) == 1
    assert [item["SK"]["S"] for item in call_partition(aws, tenant, callid)].count(keys.CALL_SK) == 1
    with httpx.Client(base_url=aws.http_url, headers={"X-Api-Key": tenant.api_key}, timeout=30) as api:
        view = api.get(f"/v1/calls/{callid}").json()
    assert (view["status"], view["duration"], view["billsec"]) == ("ANSWERED", 42, 30)
    assert (view["direction"], view["extension"], view["userfield"]) == ("inbound", EXTENSION, "order-7")


def seed_login(stack: RunningStack, tenant: Tenant) -> httpx.Response:
    """The webphone's login (seed 001/002) with a token the CRM minted."""
    url = f"{stack.http_url}/{tenant.domain}/thirdParty/login"
    return httpx.post(url, json={"token": login_token(tenant, EXTENSION)}, timeout=30)


def read_call(stack: RunningStack, tenant: Tenant, callid: str) -> httpx.Response:
    """The CRM reading a call (GET /v1/calls/{callid} with its API key)."""
    headers = {"X-Api-Key": tenant.api_key}
    return httpx.get(f"{stack.http_url}/v1/calls/{callid}", headers=headers, timeout=30)


def test_the_crm_and_the_webphone_get_a_retryable_503_while_aws_is_down(aws: RunningStack) -> None:
    # Given a tenant whose call is stored and whose agent has logged in, then AWS down
    tenant = provision(aws, f"outc{uuid.uuid4().hex[:6]}", [EXTENSION])
    callid = f"{time.time():.6f}2"
    assert ring(aws, tenant, callid).status_code == 200
    assert seed_login(aws, tenant).status_code == 200
    assert read_call(aws, tenant, callid).status_code == 200
    aws.aws_faults("down")

    # When the webphone logs in again and the CRM reads the call
    login, read = seed_login(aws, tenant), read_call(aws, tenant, callid)

    # Then both get a retryable 503 JSON answer
    assert_retryable_503(login)
    assert_retryable_503(read)

    # And once AWS is back, both work again
    aws.aws_faults("pass")
    login, read = seed_login(aws, tenant), read_call(aws, tenant, callid)
    assert login.status_code == 200, login.text
    assert (read.status_code, read.json()["callid"]) == (200, callid)
