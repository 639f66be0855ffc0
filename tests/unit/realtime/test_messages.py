"""The message contract: models, their published JSON Schemas, and the routes in template.yaml."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ctibridge.realtime import actions, schemas
from ctibridge.realtime.messages import (
    ACTIONS,
    SERVER_MODELS,
    CallEnded,
    CallRinging,
    DeviceRequest,
    Pong,
    client_request,
    server_push,
)
from tests.support.aws import load_event, load_template


def test_published_schemas_are_what_the_models_generate() -> None:
    # Given the schema files in docs/websocket-schemas
    directory = schemas.DEFAULT_DIRECTORY
    on_disk = {path.name: path.read_text() for path in directory.glob("*.json")}
    # When the models generate them now
    generated = {name: schemas.render(schema) for name, schema in schemas.generate().items()}
    # Then they are identical (run `python -m ctibridge.realtime.schemas` after changing a model)
    assert sorted(on_disk) == sorted(generated)
    for name, text in generated.items():
        assert on_disk[name] == text, f"{name} is stale: run python -m ctibridge.realtime.schemas"


def test_every_action_is_a_websocket_route_of_the_message_function() -> None:
    # Given the WebSocket routes of template.yaml
    resources = load_template()["Resources"]
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]["Target"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    action_routes = {key for key in routes if not key.startswith("$")}
    # Then each client action has its route, and each route has a handler
    assert action_routes == set(ACTIONS) == actions.routes()
    for key in action_routes:
        assert routes[key] == {"Fn::Sub": "integrations/${MessageIntegration}"}


def test_functions_that_push_have_the_callback_url_and_post_rights() -> None:
    # (which @connections methods each may call, and no more, is the deploy rehearsal's: tests/deploy)
    resources = load_template()["Resources"]
    for name in ("WsMessageFunction", "WsDisconnectFunction"):
        properties = resources[name]["Properties"]
        url = properties["Environment"]["Variables"]["WEBSOCKET_CALLBACK_URL"]
        assert url == {"Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${Stage}"}
        statements = [s for p in properties["Policies"] if "Statement" in p for s in p["Statement"]]
        manage = [s for s in statements if s["Action"] == "execute-api:ManageConnections"]
        assert manage, name
        granted = (
            manage[0]["Resource"] if isinstance(manage[0]["Resource"], list) else [manage[0]["Resource"]]
        )
        assert any(r["Fn::Sub"].endswith("${WebSocketApi}/${Stage}/POST/@connections/*") for r in granted)


@pytest.mark.parametrize(
    "case",
    [
        "ping",
        "sync",
        "enableVoice",
        "status_off",
        "status_on",
        "device_mobile",
        "device_softphone",
        "resetDevice",
        "callState_in_call",
        "callout_result",
    ],
)
def test_sample_events_are_valid_client_messages_on_their_route(case: str) -> None:
    event = load_event("ws_message", case)
    request = client_request().validate_json(event["body"])
    assert request.action == event["requestContext"]["routeKey"]


def test_device_3_needs_a_mobile_number() -> None:
    with pytest.raises(ValidationError):
        DeviceRequest(action="device", device_type=3)  # type: ignore[arg-type]
    assert DeviceRequest(action="device", device_type=3, mobile="+84931234567").mobile == "+84931234567"  # type: ignore[arg-type]


def test_unknown_client_fields_are_ignored() -> None:
    request = client_request().validate_python({"action": "status", "ready": True, "future_field": 1})
    assert request.action == "status"


def test_server_messages_carry_type_version_and_an_iso_timestamp() -> None:
    frame: dict[str, Any] = json.loads(
        CallRinging(
            callid="c", phone="0901", extension="101", direction="inbound", customer="demo"
        ).to_bytes()
    )
    assert list(frame)[:3] == ["type", "v", "ts"]
    assert frame["type"] == "call.ringing"
    assert frame["v"] == 1
    assert datetime.fromisoformat(frame["ts"]).tzinfo is not None


def test_the_unions_hold_every_model() -> None:
    # The discriminated unions (and so client-message.json / server-message.json) must not miss a
    # model that the lists (and so the per-message schemas and the routes) have.
    client_union = client_request().json_schema()["discriminator"]["mapping"]
    server_union = server_push().json_schema()["discriminator"]["mapping"]
    assert set(client_union) == set(ACTIONS)
    assert set(server_union) == {m.model_fields["type"].default for m in SERVER_MODELS}


@pytest.mark.parametrize(
    "kind",
    [
        "call.ringing",
        "call.outgoing",
        "call.ended",
        "call.contact",
        "call.state",
        "voice",
        "status",
        "device",
        "state",
        "call.dial",
        "pong",
        "error",
    ],
)
def test_server_messages_round_trip_through_the_union(kind: str) -> None:
    assert server_push().validate_python({"type": kind, **_minimal(kind)}).type == kind


def _minimal(kind: str) -> dict[str, Any]:
    call = {"callid": "c", "phone": "0901", "extension": "101", "direction": "inbound", "customer": "demo"}
    samples: dict[str, dict[str, Any]] = {
        "call.ringing": call,
        "call.outgoing": call,
        "call.ended": call,
        "call.contact": {"callid": "c", "phone": "0901", "contact": {"name": "A"}},
        "call.state": {"callid": None, "state": "idle"},
        "voice": {"enabled": True, "holder_tab": "t", "reason": "enabled"},
        "status": {"ready": True},
        "device": {"device_type": 1},
        "state": {
            "tenant_id": "demo",
            "ipphone": "101",
            "tab": "t",
            "ready": True,
            "device_type": 1,
            "voice": True,
            "voice_tab": "t",
            "tabs": 1,
            "call": {"state": "idle"},
        },
        "call.dial": {"request_id": "r", "phone": "0901", "call_id": "sip-call-id"},
        "pong": {},
        "error": {"code": "X", "message": "m"},
        "transfer.agents": {"agents": [{"ipphone": "102", "display_name": "B", "device_type": 1}]},
        "transfer.pending": {"transfer_id": "t", "ipphone": "102", "deadline": "2026-11-23T10:00:10Z"},
        "transfer.request": {
            "transfer_id": "t",
            "from_ipphone": "101",
            "from_name": "A",
            "deadline": "2026-11-23T10:00:10Z",
        },
        "transfer.response": {
            "transfer_id": "t",
            "ipphone": "102",
            "status": "OK",
            "reason": "accepted",
            "target": "102",
        },
        "transfer.closed": {"transfer_id": "t", "status": "expired"},
        "transfer.target": {"queue_id": "sales", "target": "8001"},
    }
    return samples[kind]


def test_userfield_of_any_json_type_becomes_text() -> None:
    ended = CallEnded(
        callid="c",
        phone="0901",
        extension="101",
        direction="inbound",
        customer="demo",
        userfield=12345,  # type: ignore[arg-type]
    )
    assert ended.userfield == "12345"
    assert Pong().id is None
