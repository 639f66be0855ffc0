"""The click-to-call function with the sample events: routing by device, refusals, idempotency.

Presence and the WebSocket are replaced by fakes here (the integration tests use the real ones); the
table, the secrets and the requests are moto's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from moto import mock_aws

from ctibridge.click2call import pbx_client, service
from ctibridge.click2call.models import MAX_USERFIELD
from ctibridge.realtime.messages import CallDial
from ctibridge.realtime.presence import AgentState, CallInfo
from ctibridge.tenants.models import DeviceType
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.demo import seed_demo_tenant
from tests.support.aws import create_table_from_template, load_event
from tests.support.handlers import load_handler

TABLE = "ctibridge-test"
CLICK2CALL_PHP_RETRY_SECONDS = 30  # functions/click_to_call/app.py: a retry of click2call.php within it


def _state(
    device: DeviceType = DeviceType.BROWSER, *, voice: str | None = "conn-1", busy: bool = False
) -> AgentState:
    return AgentState(
        tenant_id="demo",
        ipphone="101",
        known=True,
        ready=True,
        device_type=device,
        mobile="0912345678" if device is DeviceType.MOBILE else None,
        voice_connection=voice,
        voice_tab="tab-1" if voice else None,
        connections=(voice,) if voice else (),
        call=CallInfo(state="in_call" if busy else "idle"),
    )


class Devices:
    """What the fakes saw: commands to tabs and requests to the PBX."""

    def __init__(self) -> None:
        self.state = _state()
        self.dials: list[tuple[str, CallDial]] = []
        self.pbx: list[httpx.Request] = []
        self.pbx_status = 200


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch) -> Iterator[Devices]:
    seen = Devices()
    monkeypatch.setattr(service.presence, "get_state", lambda tenant_id, ipphone: seen.state)

    def send(connection_id: str, message: Any) -> bool:
        seen.dials.append((connection_id, message))
        return True

    monkeypatch.setattr(service.fanout, "send_to_connection", send)

    def pbx(request: httpx.Request) -> httpx.Response:
        seen.pbx.append(request)
        return httpx.Response(seen.pbx_status, json={"status": "success"})

    real_place_call = pbx_client.place_call
    monkeypatch.setattr(
        pbx_client,
        "place_call",
        lambda *args, **kwargs: real_place_call(
            *args, client=httpx.Client(transport=httpx.MockTransport(pbx))
        ),
    )
    with mock_aws():
        create_table_from_template(TABLE)
        seed_demo_tenant(TABLE, "test")
        TenantAdmin(TABLE, "test").update_tenant("demo", pbx_click2call_url="https://pbx.example/")
        yield seen


@pytest.fixture
def invoke(lambda_context: Any) -> Any:
    handler = load_handler("click_to_call")
    return lambda event: handler(event, lambda_context)


def test_browser_device_gets_a_dial_command_with_the_token_as_call_id(devices: Devices, invoke: Any) -> None:
    answer = invoke(load_event("click_to_call", "create_outbound"))
    assert answer["statusCode"] == 202
    body = json.loads(answer["body"])
    assert (body["route"], body["status"], body["userfield"]) == ("browser", "dialing", "order-42")
    ((connection_id, dial),) = devices.dials
    assert connection_id == "conn-1"
    assert (dial.request_id, dial.call_id) == (body["request_id"], f"ctb-{body['request_id']}")


def test_softphone_device_calls_the_pbx_with_the_seed_parameters(devices: Devices, invoke: Any) -> None:
    devices.state = _state(DeviceType.SOFTPHONE, voice=None)
    answer = invoke(load_event("click_to_call", "click2call_php"))
    # answered as the PBX it replaces: 200 and a success status
    assert answer["statusCode"] == 200, answer["body"]
    body = json.loads(answer["body"])
    assert (body["status"], body["request_status"], body["route"]) == ("success", "dialing", "softphone")
    ((request,),) = [devices.pbx]
    assert request.url.path == "/wsapi/demo/click2call.php"
    assert dict(request.url.params) == {
        "secret": "demo-c2c-secret",
        "extension": "101",
        "phone": "0901234567",
        "userfield": f"ctb-{body['request_id']}",
    }


def test_mobile_device_rings_the_agents_mobile(devices: Devices, invoke: Any) -> None:
    devices.state = _state(DeviceType.MOBILE, voice=None)
    assert invoke(load_event("click_to_call", "create_outbound"))["statusCode"] == 202
    assert devices.pbx[0].url.params["extension"] == "0912345678"


@pytest.mark.parametrize(
    ("state", "pbx_status", "status", "code"),
    [
        (_state(voice=None), 200, 409, "IPCC_NOT_CONNECT_AGENT_ID"),
        (_state(busy=True), 200, 409, "CALLOUT_AGENT_BUSY"),
        (_state(DeviceType.SOFTPHONE, voice=None), 503, 502, "ERROR_CALLOUT_CONNECT"),
    ],
)
def test_refusals_use_the_seed_codes(
    devices: Devices, invoke: Any, state: AgentState, pbx_status: int, status: int, code: str
) -> None:
    devices.state = state
    devices.pbx_status = pbx_status
    answer = invoke(load_event("click_to_call", "create_outbound"))
    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["code"] == code


def test_the_same_idempotency_key_dials_once(devices: Devices, invoke: Any) -> None:
    first = json.loads(invoke(load_event("click_to_call", "create_outbound"))["body"])
    second = json.loads(invoke(load_event("click_to_call", "create_outbound"))["body"])
    assert first["request_id"] == second["request_id"]
    assert len(devices.dials) == 1


def test_the_request_can_be_followed_and_not_by_a_stranger(devices: Devices, invoke: Any) -> None:
    created = json.loads(invoke(load_event("click_to_call", "create_outbound"))["body"])
    event = load_event("click_to_call", "get_outbound")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/calls/outbound/{created['request_id']}"
    event["pathParameters"] = {"request_id": created["request_id"]}
    answer = invoke(event)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["status"] == "dialing"
    event["headers"]["x-api-key"] = "someone-else"
    assert invoke(event)["statusCode"] == 401


def test_a_bad_body_names_the_field_and_stores_nothing(devices: Devices, invoke: Any) -> None:
    event = load_event("click_to_call", "create_outbound")
    event["body"] = json.dumps({"extension": "101"})
    answer = invoke(event)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["field"] == "phone"
    assert devices.dials == []


@pytest.mark.parametrize(
    ("state", "pbx_status", "status", "code"),
    [
        (_state(voice=None), 200, 409, "IPCC_NOT_CONNECT_AGENT_ID"),
        (_state(DeviceType.SOFTPHONE, voice=None), 503, 502, "ERROR_CALLOUT_CONNECT"),
    ],
)
def test_click2call_php_refusals_read_as_a_pbx_error(
    devices: Devices, invoke: Any, state: AgentState, pbx_status: int, status: int, code: str
) -> None:
    # Given an agent the call can't be placed for
    devices.state = state
    devices.pbx_status = pbx_status
    # When a seed 004 CRM calls click2call.php
    answer = invoke(load_event("click_to_call", "click2call_php"))
    # Then the answer is an HTTP error with the PBX-style status and the seed's code
    assert answer["statusCode"] == status
    body = json.loads(answer["body"])
    assert (body["status"], body["code"]) == ("error", code)
    assert body["message"]


def test_click2call_php_without_a_key_is_a_pbx_error(devices: Devices, invoke: Any) -> None:
    event = load_event("click_to_call", "click2call_php")
    event["queryStringParameters"].pop("secret")
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in event["queryStringParameters"].items())
    answer = invoke(event)
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["status"] == "error"


def _click2call_php(**params: str) -> dict[str, Any]:
    event = load_event("click_to_call", "click2call_php")
    event["queryStringParameters"].update(params)
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in event["queryStringParameters"].items())
    return event


def _idempotency_records_expire_in() -> list[float]:
    """Seconds from now until each idempotency record (Powertools') expires."""
    import time

    import boto3

    items = boto3.resource("dynamodb").Table(TABLE).scan()["Items"]  # a test's view: the table is tiny
    return [
        float(item["expires_at"]) - time.time()
        for item in items
        if str(item["PK"]).startswith("IDEMPOTENCY#")
    ]


def test_click2call_php_retries_are_one_call_but_an_order_called_again_rings_again(
    devices: Devices, invoke: Any
) -> None:
    # Given an agent on an IP phone, and a seed 004 CRM that sends its order id as userfield
    devices.state = _state(DeviceType.SOFTPHONE, voice=None)
    first = json.loads(invoke(_click2call_php(userfield="order-42"))["body"])
    # When the same GET comes again at once (its answer was lost)
    retry = json.loads(invoke(_click2call_php(userfield="order-42"))["body"])
    # Then it is the same request, and the PBX was asked once
    assert retry["request_id"] == first["request_id"]
    assert len(devices.pbx) == 1
    # When the same order is called on another number
    other = invoke(_click2call_php(userfield="order-42", phone="0907654321"))
    # Then that is a new call, as at the PBX click2call.php replaces (not 422 IDEMPOTENCY_KEY_REUSED)
    assert other["statusCode"] == 200, other["body"]
    assert json.loads(other["body"])["request_id"] != first["request_id"]
    assert len(devices.pbx) == 2
    # And a retry is recognized only for a short window: the same order called again later rings again
    remaining = _idempotency_records_expire_in()
    assert len(remaining) == 2
    assert all(0 < seconds <= CLICK2CALL_PHP_RETRY_SECONDS + 1 for seconds in remaining)


def test_click2call_php_takes_a_userfield_as_long_as_the_api_does(devices: Devices, invoke: Any) -> None:
    # Given a CRM whose userfield is as long as the API allows
    devices.state = _state(DeviceType.SOFTPHONE, voice=None)
    answer = invoke(_click2call_php(userfield="x" * MAX_USERFIELD))
    # Then the call is placed (not refused for an Idempotency-Key header the CRM never sent)
    assert answer["statusCode"] == 200, answer["body"]
    assert len(devices.pbx) == 1
