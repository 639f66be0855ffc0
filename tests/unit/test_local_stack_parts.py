"""The local stack's pure parts: template reading, intrinsic resolution, route selection."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest

from ctibridge_local import aws_calls
from ctibridge_local.http_gateway import RouteTable
from ctibridge_local.resolve import LocalNames
from ctibridge_local.template import HttpRoute, parse
from ctibridge_local.ws_gateway import select_route

ECHO_APP = Path(__file__).resolve().parents[1] / "fixtures" / "echo_app" / "template.yaml"


def test_template_yields_functions_routes_websocket_and_queue_mappings() -> None:
    template = parse(ECHO_APP)
    assert set(template.functions) == {"HttpEchoFunction", "QueueWorkerFunction", "WsEchoFunction"}
    assert HttpRoute("GET", "/items/{id}", "HttpEchoFunction") in template.http_routes
    assert template.websocket_routes == {
        "$connect": "WsEchoFunction",
        "$disconnect": "WsEchoFunction",
        "$default": "WsEchoFunction",
        "shout": "WsEchoFunction",
    }
    (mapping,) = template.queue_mappings
    assert (mapping.queue, mapping.batch_size, mapping.partial_failures) == ("WorkQueue", 5, True)
    # Globals and the function's own variables are merged, the function's winning
    env = template.functions["HttpEchoFunction"].environment
    assert set(env) == {"TABLE_NAME", "WEBSOCKET_CALLBACK_URL", "WORK_QUEUE_URL"}


def test_product_template_is_readable_by_the_local_stack() -> None:
    template = parse()
    assert "$connect" in template.websocket_routes
    assert any(route.path == "/health" for route in template.http_routes)


def test_intrinsics_resolve_and_aws_urls_are_rewritten_to_local_ones() -> None:
    names = LocalNames(parameters={"Stage": "dev"}, refs={"Api": "localws", "Table": "t-1"})
    names.attributes[("Queue", "Arn")] = "arn:aws:sqs:us-east-1:123456789012:q"
    names.url_rewrites = [
        (re.compile(r"https://localws\.execute-api\.us-east-1\.amazonaws\.com"), "http://127.0.0.1:9")
    ]
    assert names.resolve({"Ref": "Table"}) == "t-1"
    assert names.resolve({"Fn::GetAtt": ["Queue", "Arn"]}).endswith(":q")
    assert names.resolve({"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Stage}"}) == (
        "http://127.0.0.1:9/dev"
    )
    assert names.resolve({"Fn::Sub": ["${X}-${Stage}", {"X": {"Ref": "Table"}}]}) == "t-1-dev"
    with pytest.raises(KeyError, match="Nope"):
        names.resolve({"Ref": "Nope"})


@pytest.mark.parametrize(
    ("method", "path", "expected_route", "params"),
    [
        ("GET", "/wsapi/demo/incoming_call", "GET /wsapi/{customer}/incoming_call", {"customer": "demo"}),
        (
            "POST",
            "/wsapi/demo/incoming_call",
            "ANY /wsapi/{customer}/{event}",
            {"customer": "demo", "event": "incoming_call"},
        ),
        ("GET", "/v1/calls/abc", "GET /v1/calls/{callid}", {"callid": "abc"}),
        ("GET", "/v1/calls/outbound", "GET /v1/calls/outbound", {}),
        ("DELETE", "/v1/anything/deep/path", "ANY /v1/{proxy+}", {"proxy": "anything/deep/path"}),
    ],
)
def test_http_routes_match_like_api_gateway(
    method: str, path: str, expected_route: str, params: dict[str, str]
) -> None:
    table = RouteTable(
        [
            HttpRoute("GET", "/wsapi/{customer}/incoming_call", "A"),
            HttpRoute("ANY", "/wsapi/{customer}/{event}", "B"),
            HttpRoute("GET", "/v1/calls/{callid}", "C"),
            HttpRoute("GET", "/v1/calls/outbound", "D"),
            HttpRoute("ANY", "/v1/{proxy+}", "E"),
        ]
    )
    matched = table.match(method, path)
    assert matched is not None
    route, found = matched
    assert (route.route_key, found) == (expected_route, params)
    assert table.match("GET", "/nothing") is None


def test_the_default_route_takes_only_what_no_other_route_matches() -> None:
    table = RouteTable([HttpRoute("ANY", "$default", "Z"), HttpRoute("GET", "/health", "H")])
    assert table.match("GET", "/health") == (HttpRoute("GET", "/health", "H"), {})
    for method, path in (("POST", "/health"), ("GET", "/nothing"), ("DELETE", "/a/b/c")):
        matched = table.match(method, path)
        assert matched is not None
        route, params = matched
        assert (route.route_key, route.function, params) == ("$default", "Z", {})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"action": "ping"}', "ping"),
        ('{"action": "nope"}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('{"action": 3}', "$default"),
        ("[1, 2]", "$default"),
        ("not json", "$default"),
    ],
)
def test_websocket_route_selection(body: str, expected: str) -> None:
    assert select_route("$request.body.action", body, {"$default", "ping", "$connect"}) == expected


def test_websocket_without_default_route_selects_nothing() -> None:
    assert select_route("$request.body.action", '{"action": "x"}', {"ping"}) is None


def test_aws_call_counts_are_kept_by_function_and_sqs_queue_kind() -> None:
    # Given the counters fed as botocore's before-call hook feeds them, from two functions
    aws_calls.reset()
    fifo = {"body": json.dumps({"QueueUrl": "http://moto/123/ctibridge-dev-deliveryqueue.fifo"}).encode()}
    standard = {"body": json.dumps({"QueueUrl": "http://moto/123/ctibridge-dev-callstatequeue"}).encode()}
    update = {"body": json.dumps({"Key": {"PK": {"S": "TENANT#demo#CALL#1.2"}}}).encode()}
    with aws_calls.invoking("PbxWebhookFunction"):
        aws_calls._before("before-call.dynamodb.UpdateItem", update, {})
        aws_calls._before("before-call.sqs.SendMessage", standard, {})
        aws_calls._before("before-call.sqs.SendMessage", fifo, {})
    aws_calls._before("before-call.sqs.ReceiveMessage", standard, {})  # the stack's own poller
    # When the figures are read
    counts = aws_calls.snapshot()
    aws_calls.reset()
    # Then each call is its function's, DynamoDB calls by item family, SQS calls by queue kind
    webhook = counts["by_function"]["PbxWebhookFunction"]
    assert webhook["services"] == {"dynamodb": 1, "sqs": 2}
    assert webhook["dynamodb_families"] == {"UpdateItem TENANT#*#CALL#*": 1}
    assert counts["by_function"]["(stack)"]["operations"] == {"sqs.ReceiveMessage": 1}
    assert set(counts["dynamodb_families"]) == {"UpdateItem TENANT#*#CALL#*"}
    assert counts["sqs_queues"] == {
        "SendMessage standard": 1,
        "SendMessage fifo": 1,
        "ReceiveMessage standard": 1,
    }


class _RecordingFunction:
    """A function of the local gateway that answers 200 and keeps the events it was given."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def invoke(self, event: dict[str, Any]) -> dict[str, int]:
        self.events.append(event)
        return {"statusCode": 200}


def test_a_binary_frame_drops_the_client_with_1003_as_api_gateway_does() -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from ctibridge_local.ws_gateway import WebSocketGateway

    # Given the local WebSocket API with $connect, $disconnect and $default
    events: list[dict[str, Any]] = []
    function = _RecordingFunction(events)
    gateway = WebSocketGateway(
        {"$connect": "f", "$disconnect": "f", "$default": "f"},
        cast(Any, {"f": function}),
        "test",
        "$request.body.action",
    )
    with TestClient(gateway.create_app()) as client, client.websocket_connect("/test") as socket:
        # When a client sends a binary frame
        socket.send_bytes(b'{"action": "ping"}')
        # Then it is dropped with 1003 (API Gateway takes text frames only)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1003
    # And no function saw the frame; $disconnect ran with that code
    routes = [event["requestContext"]["routeKey"] for event in events]
    assert routes == ["$connect", "$disconnect"]
    assert events[-1]["requestContext"]["disconnectStatusCode"] == 1003
