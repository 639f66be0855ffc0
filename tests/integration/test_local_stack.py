"""The local stack serves a template's HTTP API, WebSocket API and queues like AWS would.

These run against tests/fixtures/echo_app, a tiny app whose handlers echo the events they get, so the
emulator is checked apart from the product's own handlers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.support.local_stack import RunningStack, start_stack

ECHO_APP = Path(__file__).resolve().parents[1] / "fixtures" / "echo_app" / "template.yaml"
EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def echo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("echo"), "--template", str(ECHO_APP), "--no-seed")
    yield running
    running.stop()


def _item(stack: RunningStack, pk: str) -> dict[str, Any] | None:
    table = stack.client("dynamodb")
    key = {"PK": {"S": pk}}
    return table.get_item(TableName=stack.resource_name("Table"), Key=key).get("Item")  # type: ignore[no-any-return]


def _wait_for_item(stack: RunningStack, pk: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _item(stack, pk)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no item {pk} after {timeout} s")


# Maps whose keys are the caller's data (header names, parameters), not part of the event's shape.
_DATA_MAPS = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
}


def _keys_missing(sample: Any, actual: Any, path: str = "") -> list[str]:
    """Keys of the sample event (recursively) that the actual event lacks: 'the same shape'."""
    if not isinstance(sample, dict):
        return []
    missing = []
    for key, value in sample.items():
        if key not in actual:
            missing.append(f"{path}{key}")
        elif key not in _DATA_MAPS:
            missing += _keys_missing(value, actual[key], f"{path}{key}.")
    return missing


def test_http_route_gets_a_payload_v2_event_and_its_response_back(echo_stack: RunningStack) -> None:
    # Given a route with a path parameter
    # When a client calls it with a query string, headers and a cookie
    response = httpx.get(
        f"{echo_stack.http_url}/items/42?phone=0901&phone=0902&secret=x",
        headers={"X-Api-Key": "k", "Cookie": "s=1; t=2"},
    )
    # Then the handler's status, headers and cookies come back
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes"
    assert "a=1" in response.headers["set-cookie"]
    event = response.json()["event"]
    # and the event is API Gateway's payload format 2.0
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"phone": "0901,0902", "secret": "x"}
    assert event["headers"]["x-api-key"] == "k"
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["stage"] == "$default"
    assert 0 < response.json()["remaining_ms"] <= 5000
    # and it has every key of the sample event that unit tests use
    sample = json.loads((EVENTS / "health" / "get.json").read_text())
    assert _keys_missing(sample, event) == []


def test_http_routing_prefers_literal_segments_and_supports_greedy_paths(echo_stack: RunningStack) -> None:
    special = httpx.get(f"{echo_stack.http_url}/items/special").json()["event"]
    assert special["routeKey"] == "GET /items/special"
    greedy = httpx.post(f"{echo_stack.http_url}/echo/a/b/c", json={"x": 1}).json()["event"]
    assert greedy["routeKey"] == "ANY /echo/{proxy+}"
    assert greedy["pathParameters"] == {"proxy": "a/b/c"}
    assert json.loads(greedy["body"]) == {"x": 1}
    assert greedy["isBase64Encoded"] is False


def test_binary_body_is_base64_encoded(echo_stack: RunningStack) -> None:
    event = httpx.post(
        f"{echo_stack.http_url}/echo/bin", content=b"\x00\x01\xff", headers={"content-type": "audio/wav"}
    ).json()["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "AAH/"


def test_unknown_route_and_crashing_handler_answer_like_api_gateway(echo_stack: RunningStack) -> None:
    missing = httpx.get(f"{echo_stack.http_url}/nowhere")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    crash = httpx.get(f"{echo_stack.http_url}/crash")
    assert (crash.status_code, crash.json()) == (500, {"message": "Internal Server Error"})
    assert "boom" not in crash.text


async def _connect_and_echo(stack: RunningStack) -> tuple[dict[str, Any], dict[str, Any]]:
    async with websockets.connect(f"{stack.ws_url}?tab=7&lang=vi", user_agent_header="pytest") as ws:
        await ws.send(json.dumps({"action": "shout", "text": "hi"}))
        routed = json.loads(await asyncio.wait_for(ws.recv(), 5))["event"]
        await ws.send("not json at all")
        fallback = json.loads(await asyncio.wait_for(ws.recv(), 5))["event"]
    return routed, fallback


def test_websocket_connect_message_disconnect_round_trip(echo_stack: RunningStack) -> None:
    # Given a client connecting with a query string
    routed, fallback = asyncio.run(_connect_and_echo(echo_stack))
    connection_id = routed["requestContext"]["connectionId"]
    # Then $connect saw the query string and headers
    connect = json.loads(_wait_for_item(echo_stack, f"CONNECT#{connection_id}")["event"]["S"])
    assert connect["queryStringParameters"] == {"tab": "7", "lang": "vi"}
    assert connect["requestContext"]["routeKey"] == "$connect"
    assert connect["requestContext"]["eventType"] == "CONNECT"
    assert connect["headers"]["user-agent"] == "pytest"
    # and a message whose action names a route went to that route, with the AWS request context
    assert routed["requestContext"]["routeKey"] == "shout"
    assert routed["requestContext"]["eventType"] == "MESSAGE"
    assert routed["requestContext"]["stage"] == "dev"
    assert routed["requestContext"]["domainName"].startswith("127.0.0.1:")
    assert json.loads(routed["body"]) == {"action": "shout", "text": "hi"}
    # and anything else fell back to $default
    assert fallback["requestContext"]["routeKey"] == "$default"
    assert fallback["body"] == "not json at all"
    # and closing reached $disconnect
    disconnect = json.loads(_wait_for_item(echo_stack, f"DISCONNECT#{connection_id}")["event"]["S"])
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    # and the events have the keys of the samples in events/
    for name, event in (("connect", connect), ("message", routed), ("disconnect", disconnect)):
        sample_file = EVENTS / f"ws_{'message' if name == 'message' else name}" / f"{name}.json"
        assert _keys_missing(json.loads(sample_file.read_text()), event) == [], name


def test_connect_refused_by_handler_is_refused_with_its_status(echo_stack: RunningStack) -> None:
    async def attempt() -> int:
        try:
            async with websockets.connect(f"{echo_stack.ws_url}?deny=1"):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(attempt()) == 401


def test_post_to_closed_connection_is_gone_in_the_handler_and_in_boto3(echo_stack: RunningStack) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        async with websockets.connect(echo_stack.ws_url) as first:
            await first.send(json.dumps({"action": "whoami"}))
            first_id = json.loads(await first.recv())["event"]["requestContext"]["connectionId"]
        async with websockets.connect(echo_stack.ws_url) as second:
            # the handler posts to the closed first connection and reports what boto3 raised
            await second.send(json.dumps({"to": first_id}))
            reply = json.loads(await asyncio.wait_for(second.recv(), 5))
        return first_id, reply

    first_id, reply = asyncio.run(scenario())
    assert reply == {"error": "GoneException"}
    management = echo_stack_client(echo_stack)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=first_id, Data=b"late")
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId=first_id)


def echo_stack_client(stack: RunningStack) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    ).client("apigatewaymanagementapi", endpoint_url=stack.callback_url)


def test_connections_api_get_and_delete(echo_stack: RunningStack) -> None:
    management = echo_stack_client(echo_stack)

    async def scenario() -> tuple[str, dict[str, Any], bool]:
        async with websockets.connect(echo_stack.ws_url, user_agent_header="agent-tab") as ws:
            await ws.send(json.dumps({"action": "whoami"}))
            connection_id = json.loads(await ws.recv())["event"]["requestContext"]["connectionId"]
            info = await asyncio.to_thread(management.get_connection, ConnectionId=connection_id)
            # When the server posts a last frame and deletes the connection (as a logout does)
            await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b"bye")
            await asyncio.to_thread(management.delete_connection, ConnectionId=connection_id)
            # Then the client gets the frame, then the close
            last = await asyncio.wait_for(ws.recv(), 5)
            try:
                await asyncio.wait_for(ws.recv(), 5)
                closed = False
            except websockets.ConnectionClosed:
                closed = True
        assert last == "bye"
        return connection_id, info, closed

    connection_id, info, closed = asyncio.run(scenario())
    assert info["Identity"]["UserAgent"] == "agent-tab"
    assert closed
    # And, as on API Gateway, the server-side close runs $disconnect (with the connection's identity)
    disconnect = json.loads(_wait_for_item(echo_stack, f"DISCONNECT#{connection_id}")["event"]["S"])
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["requestContext"]["identity"]["userAgent"] == "agent-tab"
    # And the connection is gone for the management API
    with pytest.raises(management.exceptions.GoneException):
        management.delete_connection(ConnectionId=connection_id)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")


def test_queue_mapping_delivers_batches_and_honours_partial_failures(echo_stack: RunningStack) -> None:
    # Given a queue-triggered function that fails messages starting with "fail"
    sqs = echo_stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=echo_stack.resource_name("WorkQueue"))["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=echo_stack.resource_name("WorkDeadLetterQueue"))["QueueUrl"]
    # When three messages are sent, one of them failing
    for body in ("ok-1", "fail-1", "ok-2"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    # Then the good ones are processed once and deleted
    first = _wait_for_item(echo_stack, "MSG#ok-1")
    _wait_for_item(echo_stack, "MSG#ok-2")
    assert first["source"]["S"].endswith(echo_stack.resource_name("WorkQueue"))
    # and the failing one is retried until the redrive policy moves it to the dead-letter queue
    deadline = time.monotonic() + 20
    dead: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not dead:
        dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in dead] == ["fail-1"]


def test_cors_allows_every_origin_of_the_list_and_no_other(tmp_path: Path) -> None:
    # Given the product's template with two allowed origins (the webphone's and a CRM's, for its SDK)
    allowed = ["https://phone.example.com", "https://crm.example.com"]
    stack = start_stack(tmp_path, "--no-seed", "--param", f"CorsAllowOrigin={','.join(allowed)}")
    try:
        with httpx.Client(base_url=stack.http_url, timeout=10) as client:

            def preflight(origin: str) -> str | None:
                headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
                return client.options("/demo/thirdParty/login", headers=headers).headers.get(
                    "access-control-allow-origin"
                )

            # Then a browser on either page may call the API, and one on another origin may not
            assert [preflight(origin) for origin in allowed] == allowed
            assert preflight("https://evil.example.com") is None
    finally:
        stack.stop()
