"""The local stack's AWS fault proxy on real sockets, in front of a moto server of its own: what each mode
does to boto3 clients, that a switch reaches connections already open, and that passing through costs
little. (Its pure parts are in tests/unit/test_local_fault_proxy.py; the stack under an AWS outage in
test_aws_outage.py.)"""

from __future__ import annotations

import http.client
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from ctibridge.http_errors import is_backend_unavailable
from ctibridge_local.fault_proxy import FaultMode, FaultProxyProcess
from ctibridge_local.moto_backend import MotoServer
from tests.support.local_stack import REGION, RunningStack
from tests.support.ports import free_port

TABLE = "fault-proxy"
THROTTLE_TARGET = {"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer("127.0.0.1", free_port())
    server.start()
    client(server.url, "dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy_process(moto: MotoServer) -> Iterator[FaultProxyProcess]:
    proxy = FaultProxyProcess("127.0.0.1", moto.host, moto.port)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(proxy_process: FaultProxyProcess) -> Iterator[FaultProxyProcess]:
    proxy_process.set_mode(FaultMode("pass"))
    yield proxy_process
    proxy_process.set_mode(FaultMode("pass"))


def client(url: str, service: Any) -> Any:
    """A boto3 client that does not retry: each call is one attempt, so each fault shows as it is."""
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
    return session.client(service, endpoint_url=url, config=config)


def get(dynamodb: Any, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": key}}).get("Item")
    return item


def raw_get_item(connection: http.client.HTTPConnection) -> int:
    """One (unsigned) DynamoDB request on ``connection``: the status it gets."""
    connection.request("POST", "/", body=b"{}", headers=THROTTLE_TARGET)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def test_pass_forwards_every_request_unchanged(proxy: FaultProxyProcess, moto: MotoServer) -> None:
    # Given the proxy passing
    dynamodb, s3 = client(proxy.url, "dynamodb"), client(proxy.url, "s3")
    key, bucket = uuid.uuid4().hex, f"b-{uuid.uuid4().hex[:12]}"
    body = bytes(range(256)) * 8192  # 2 MiB: streamed through, both ways
    # When DynamoDB and S3 are used through it
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": key}, "n": {"N": "7"}})
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    # Then everything reached moto and comes back whole (reads, writes, HEAD)
    assert get(client(moto.url, "dynamodb"), key) == {"PK": {"S": key}, "n": {"N": "7"}}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(body)


def test_down_resets_every_connection_at_once(proxy: FaultProxyProcess) -> None:
    # Given AWS down
    before = proxy.set_mode(FaultMode("down"))["faults"].get("down", 0)
    # When a call is made
    started = time.monotonic()
    with pytest.raises((ConnectionError, HTTPClientError)) as raised:
        get(client(proxy.url, "dynamodb"), "any")
    # Then it fails at once (no timeout to wait for) with an error the bridge answers 503 for
    assert time.monotonic() - started < 1.0
    assert is_backend_unavailable(raised.value)
    assert proxy.status()["faults"]["down"] > before


def test_throttle_answers_for_aws_and_nothing_reaches_moto(
    proxy: FaultProxyProcess, moto: MotoServer
) -> None:
    # Given AWS throttling
    proxy.set_mode(FaultMode("throttle"))
    key = uuid.uuid4().hex
    # When DynamoDB and S3 are written to
    with pytest.raises(ClientError) as dynamodb_error:
        client(proxy.url, "dynamodb").put_item(TableName=TABLE, Item={"PK": {"S": key}})
    with pytest.raises(ClientError) as s3_error:
        client(proxy.url, "s3").put_object(Bucket="any-bucket", Key="k", Body=b"x" * 1024)
    # Then each gets its service's throttling error, which the bridge answers 503 for
    assert dynamodb_error.value.response["Error"]["Code"] == "ThrottlingException"
    assert s3_error.value.response["Error"]["Code"] == "SlowDown"
    assert is_backend_unavailable(dynamodb_error.value)
    assert is_backend_unavailable(s3_error.value)
    # And nothing was written
    assert get(client(moto.url, "dynamodb"), key) is None


def test_throttle_keeps_the_connection_for_the_next_request(proxy: FaultProxyProcess) -> None:
    # Given AWS throttling and one client connection
    proxy.set_mode(FaultMode("throttle"))
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        # When it sends three requests, one after the other
        statuses = [raw_get_item(connection) for _ in range(3)]
        # Then all three are answered on it, as AWS answers a throttled request (keep-alive)
        assert statuses == [400, 400, 400]
        assert proxy.status()["live_connections"] == 1
    finally:
        connection.close()


def test_a_switch_resets_the_connections_already_open(proxy: FaultProxyProcess) -> None:
    # Given a client connection kept alive while AWS throttles
    proxy.set_mode(FaultMode("throttle"))
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        assert raw_get_item(connection) == 400
        # When AWS is back
        status = proxy.set_mode(FaultMode("pass"))
        # Then that connection was reset: it cannot carry the old mode on (a client reconnects)
        assert status["live_connections"] == 0
        with pytest.raises((http.client.HTTPException, OSError)):
            raw_get_item(connection)
    finally:
        connection.close()
    # And a new connection passes
    assert get(client(proxy.url, "dynamodb"), "any") is None


def test_slow_holds_every_answer_back(proxy: FaultProxyProcess) -> None:
    # Given AWS slow by 0.4 s
    proxy.set_mode(FaultMode("slow", delay_seconds=0.4))
    dynamodb = client(proxy.url, "dynamodb")
    # When two calls are made
    started = time.monotonic()
    get(dynamodb, "a")
    get(dynamodb, "b")
    # Then each answer came 0.4 s late, and the call still succeeded
    assert time.monotonic() - started >= 0.8
    assert proxy.status()["faults"]["slow"] >= 2


def test_the_stacks_control_endpoint_refuses_a_bad_command(hardened: RunningStack) -> None:
    # Given the hardened stack, started with --fault-proxy
    url = f"{hardened.web_url}/_local/aws-faults"
    # When a command names no known mode
    answer = httpx.put(url, json={"mode": "flaky"}, timeout=10)
    # Then it is refused with the JSON error shape, and the proxy keeps passing
    assert answer.status_code == 400
    assert answer.json()["code"] == "VALIDATION_ERROR"
    assert "mode" in answer.json()["message"]
    assert hardened.aws_faults()["mode"] == "pass"
