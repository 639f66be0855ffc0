"""Click-to-call on the local stack: each device route, every error code, retries, userfield round trip.

The CRM calls ``POST /v1/calls/outbound`` (or the seed's ``click2call.php``); the browser device gets a
``call.dial`` over its WebSocket, softphone and mobile devices go through the PBX simulator's
``click2call.php``, which records what it got and plays the call back through the webhooks.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ctibridge.realtime import presence
from ctibridge.tenants.models import DeviceType
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.agents import Tab, login
from tests.support.crm_server import CrmServer
from tests.support.local_stack import RunningStack
from tests.support.ports import free_port
from tests.support.realtime import wait_for_call_state

DEMO_API_KEY = "demo-api-key"
C2C = "c2ctest"  # a tenant of this module: softphone/mobile agents, a deny list, its own API key
C2C_API_KEY = "c2ctest-api-key-0123456789"
DOWN = "c2cdown"  # a tenant whose PBX is unreachable
DOWN_API_KEY = "c2cdown-api-key-0123456789"


@pytest.fixture(scope="module")
def local(stack_env: RunningStack) -> RunningStack:
    """The stack, with this module's tenants provisioned in its moto."""
    admin = TenantAdmin(stack_env.table_name, stack_env.stage)
    if admin.repository.get_tenant(C2C, consistent=True) is None:
        admin.create_tenant(
            C2C,
            C2C,
            api_key=C2C_API_KEY,
            pbx_click2call_url=f"{stack_env.pbx_url}/wsapi/{C2C}/click2call.php",
            callout_deny_prefixes=["1900", "+841900"],
        )
        admin.add_agent(C2C, "201", device_type=DeviceType.SOFTPHONE)
        admin.add_agent(C2C, "202", device_type=DeviceType.MOBILE, mobile="0912345678")
        admin.add_agent(C2C, "203")
        admin.create_tenant(
            DOWN, DOWN, api_key=DOWN_API_KEY, pbx_click2call_url=f"http://127.0.0.1:{free_port()}"
        )
        admin.add_agent(DOWN, "301", device_type=DeviceType.SOFTPHONE)
    return stack_env


@pytest.fixture(autouse=True)
def idle_demo_agents(local: RunningStack) -> None:
    """Other modules share the stack and may leave demo agents in a call: end it as the PBX would."""
    for extension in ("101", "102"):
        state = presence.get_state("demo", extension)
        if state.busy and state.call.callid:
            call_log(local, state.call.callid, extension, "", status="NO ANSWER")
            wait_for_call_state("demo", extension, "idle")


def outbound(
    stack: RunningStack, body: dict[str, Any], *, key: str = DEMO_API_KEY, idempotency_key: str | None = None
) -> httpx.Response:
    headers = {"X-Api-Key": key}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return httpx.post(f"{stack.http_url}/v1/calls/outbound", json=body, headers=headers, timeout=15)


def follow(stack: RunningStack, request_id: str, key: str = DEMO_API_KEY) -> dict[str, Any]:
    answer = httpx.get(
        f"{stack.http_url}/v1/calls/outbound/{request_id}", headers={"X-Api-Key": key}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def wait_for_status(
    stack: RunningStack, request_id: str, status: str, key: str = DEMO_API_KEY
) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        current = follow(stack, request_id, key)
        if current["status"] == status or time.monotonic() > deadline:
            assert current["status"] == status, current
            return current
        time.sleep(0.2)


def pbx_requests(stack: RunningStack) -> list[dict[str, Any]]:
    return httpx.get(f"{stack.pbx_url}/_requests", timeout=5).json()["requests"]  # type: ignore[no-any-return]


def call_log(
    stack: RunningStack, callid: str, extension: str, userfield: str, status: str = "ANSWERED"
) -> None:
    body = {
        "callid": callid,
        "calldate": datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S"),
        "extension": extension,
        "phone": "0901234567",
        "duration": 30,
        "billsec": 21,
        "status": status,
        "recording": "",
        "userfield": userfield,
    }
    answer = httpx.post(
        f"{stack.http_url}/wsapi/demo/call_answered", params={"secret": "demo-secret"}, json=body, timeout=10
    )
    assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------- browser device


def test_browser_route_dials_in_the_voice_tab_and_the_userfield_comes_back(local: RunningStack) -> None:
    with Tab(local, login(local, "101")) as tab:
        tab.sync()
        # When the CRM asks for a call for agent 101 (browser device)
        answer = outbound(local, {"extension": "101", "phone": "0901234567", "userfield": "order-77"})
        # Then it is accepted, routed to the browser and dialing
        assert answer.status_code == 202, answer.text
        created = answer.json()
        assert (created["route"], created["status"], created["userfield"]) == (
            "browser",
            "dialing",
            "order-77",
        )
        assert answer.headers["location"] == f"/v1/calls/outbound/{created['request_id']}"
        # and the voice tab is told to dial, with a SIP Call-ID carrying the request
        dial = tab.recv_type("call.dial")
        assert dial["request_id"] == created["request_id"]
        assert dial["phone"] == "0901234567"
        assert dial["call_id"] == f"ctb-{created['request_id']}"
        # When the webphone reports progress, the CRM sees it
        tab.send({"action": "callout.result", "request_id": created["request_id"], "status": "ringing"})
        wait_for_status(local, created["request_id"], "ringing")
        # When the PBX's call log comes back with that Call-ID as userfield
        callid = f"c2c-{uuid.uuid4().hex[:10]}"
        call_log(local, callid, "101", dial["call_id"])
        # Then the request is answered and linked to the call
        done = wait_for_status(local, created["request_id"], "answered")
        assert done["callid"] == callid
        # and the call log shows the request and the CRM's own userfield
        call = httpx.get(
            f"{local.http_url}/v1/calls/{callid}", headers={"X-Api-Key": DEMO_API_KEY}, timeout=10
        )
        assert call.status_code == 200, call.text
        assert call.json()["outbound_request_id"] == created["request_id"]
        assert call.json()["userfield"] == call.json()["crm_userfield"] == "order-77"


def test_a_crm_retry_with_the_same_idempotency_key_never_dials_twice(local: RunningStack) -> None:
    with Tab(local, login(local, "101")) as tab:
        tab.sync()
        key = uuid.uuid4().hex
        body = {"extension": "101", "phone": "0907654321"}
        first = outbound(local, body, idempotency_key=key)
        second = outbound(local, body, idempotency_key=key)
        assert first.status_code == second.status_code == 202
        assert first.json()["request_id"] == second.json()["request_id"]
        dials = [f for f in tab.drain(1.0) if f["type"] == "call.dial"]
        assert [d["request_id"] for d in dials] == [first.json()["request_id"]]
        # the same key with another body is refused, and dials nothing
        other = outbound(local, {**body, "phone": "0900000000"}, idempotency_key=key)
        assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        assert [f for f in tab.drain(0.5) if f["type"] == "call.dial"] == []


def test_webphone_reports_a_sip_failure_with_its_code(local: RunningStack) -> None:
    with Tab(local, login(local, "101")) as tab:
        tab.sync()
        created = outbound(local, {"extension": "101", "phone": "0901111111"}).json()
        tab.recv_type("call.dial")
        tab.send(
            {
                "action": "callout.result",
                "request_id": created["request_id"],
                "status": "failed",
                "error_code": "IPCC_NOT_CONNECT_CUSTOMER",
                "sip_code": 486,
            }
        )
        failed = wait_for_status(local, created["request_id"], "failed")
        assert (failed["error_code"], failed["sip_code"]) == ("IPCC_NOT_CONNECT_CUSTOMER", 486)


def test_webphone_callout_action_places_the_call_like_the_crm(local: RunningStack) -> None:
    # Seed csCallout(number): the voice tab asks; it is also the tab that dials.
    with Tab(local, login(local, "101")) as tab:
        tab.sync()
        tab.send({"action": "callout", "phone": "0902222222"})
        dial = tab.recv_type("call.dial")
        accepted = tab.recv_type("callout.accepted")
        assert accepted["request_id"] == dial["request_id"]
        assert accepted["route"] == "browser"
        # and a number the tenant may not call is refused with the seed's code
        tab.send({"action": "callout", "phone": "abc"})
        error = tab.recv_type("error")
        assert (error["code"], error["action"]) == ("INVALID_PHONE_NUMBER", "callout")


# ---------------------------------------------------------------- softphone and mobile devices


def test_softphone_route_calls_the_pbx_click2call_and_the_call_log_closes_it(local: RunningStack) -> None:
    # Given agent 102 switched to its softphone (seed changeDevice(2)) from a tab
    with Tab(local, login(local, "102")) as tab:
        tab.sync()
        tab.send({"action": "device", "device_type": 2})
        assert tab.recv_type("device")["device_type"] == 2
        try:
            httpx.delete(f"{local.pbx_url}/_requests", timeout=5)
            # When the CRM asks for a call
            answer = outbound(local, {"extension": "102", "phone": "0903333333", "userfield": "ticket-9"})
            assert answer.status_code == 202, answer.text
            created = answer.json()
            assert created["route"] == "softphone"
            # Then the PBX got seed 004's click2call.php request, with our token as userfield
            (request,) = pbx_requests(local)
            assert request["secret_ok"] is True
            assert request["params"] == {
                "secret": "***",
                "extension": "102",
                "phone": "0903333333",
                "userfield": f"ctb-{created['request_id']}",
            }
            # and the call the simulator plays back (outgoing_call, then the call log) answers the request
            done = wait_for_status(local, created["request_id"], "answered")
            call = httpx.get(
                f"{local.http_url}/v1/calls/{done['callid']}", headers={"X-Api-Key": DEMO_API_KEY}, timeout=10
            ).json()
            assert call["crm_userfield"] == "ticket-9"
        finally:
            tab.send({"action": "device", "device_type": 1})
            tab.recv_type("device")


def test_mobile_route_rings_the_agents_mobile_through_the_pbx(local: RunningStack) -> None:
    httpx.delete(f"{local.pbx_url}/_requests", timeout=5)
    answer = outbound(local, {"extension": "202", "phone": "0904444444"}, key=C2C_API_KEY)
    assert answer.status_code == 202, answer.text
    assert answer.json()["route"] == "mobile"
    (request,) = pbx_requests(local)
    assert request["customer"] == C2C
    assert request["params"]["extension"] == "0912345678"
    assert request["params"]["phone"] == "0904444444"


def test_seed_click2call_php_places_a_call_for_the_crm(local: RunningStack) -> None:
    httpx.delete(f"{local.pbx_url}/_requests", timeout=5)
    params = {"secret": C2C_API_KEY, "extension": "201", "phone": "0905555555", "userfield": uuid.uuid4().hex}
    answer = httpx.get(f"{local.http_url}/wsapi/{C2C}/click2call.php", params=params, timeout=15)
    # answered as the seed PBX would: 200 and a success status, our request id beside it
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "success"
    assert answer.json()["route"] == "softphone"
    # the same userfield again is the same request: a seed CRM's retry does not dial twice
    again = httpx.get(f"{local.http_url}/wsapi/{C2C}/click2call.php", params=params, timeout=15)
    assert again.json()["request_id"] == answer.json()["request_id"]
    assert len(pbx_requests(local)) == 1


# ---------------------------------------------------------------- refusals: the seeds' codes


@pytest.mark.parametrize(
    ("key", "body", "status", "code"),
    [
        # agent 203 is a browser agent with no tab open
        (C2C_API_KEY, {"extension": "203", "phone": "0901234567"}, 409, "IPCC_NOT_CONNECT_AGENT_ID"),
        # no such agent
        (C2C_API_KEY, {"extension": "299", "phone": "0901234567"}, 404, "IPCC_NOT_CONNECT_AGENT_ID"),
        # premium numbers are denied for this tenant, in any spelling
        (C2C_API_KEY, {"extension": "201", "phone": "19001234"}, 403, "CALLOUT_PERMISSION_DENY"),
        (C2C_API_KEY, {"extension": "201", "phone": "+84 1900 123456"}, 403, "CALLOUT_PERMISSION_DENY"),
        # the PBX does not answer
        (DOWN_API_KEY, {"extension": "301", "phone": "0901234567"}, 502, "ERROR_CALLOUT_CONNECT"),
        # bad input
        (C2C_API_KEY, {"extension": "201", "phone": "not a number"}, 400, "INVALID_PHONE_NUMBER"),
        (C2C_API_KEY, {"extension": "201"}, 400, "VALIDATION_ERROR"),
        # no or wrong credentials
        ("wrong-key", {"extension": "201", "phone": "0901234567"}, 401, "API_KEY_INVALID"),
    ],
)
def test_refusals_carry_the_seed_codes(
    local: RunningStack, key: str, body: dict[str, Any], status: int, code: str
) -> None:
    answer = outbound(local, body, key=key)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert "message" in answer.json()


def test_an_agent_in_a_call_is_busy(local: RunningStack) -> None:
    callid = f"busy-{uuid.uuid4().hex[:8]}"
    with Tab(local, login(local, "101")) as tab:
        tab.sync()
        ring = httpx.get(
            f"{local.http_url}/wsapi/demo/incoming_call",
            params={"secret": "demo-secret", "phone": "0908888888", "extension": "101", "callid": callid},
            timeout=10,
        )
        assert ring.status_code == 200
        tab.recv_type("call.ringing")
        wait_for_call_state("demo", "101", "ringing", callid=callid)
        try:
            answer = outbound(local, {"extension": "101", "phone": "0901234567"})
            assert (answer.status_code, answer.json()["code"]) == (409, "CALLOUT_AGENT_BUSY")
        finally:
            call_log(local, callid, "101", "", status="NO ANSWER")


def test_a_pbx_failure_is_still_followable(local: RunningStack) -> None:
    answer = outbound(local, {"extension": "301", "phone": "0901234567"}, key=DOWN_API_KEY)
    request_id = answer.json()["request_id"]
    failed = follow(local, request_id, DOWN_API_KEY)
    assert (failed["status"], failed["error_code"]) == ("failed", "ERROR_CALLOUT_CONNECT")
    # and another tenant's key can't read it
    other = httpx.get(
        f"{local.http_url}/v1/calls/outbound/{request_id}", headers={"X-Api-Key": C2C_API_KEY}, timeout=10
    )
    assert (other.status_code, other.json()["code"]) == (404, "OUTBOUND_REQUEST_NOT_FOUND")


def test_click2call_php_refuses_another_tenants_key(local: RunningStack) -> None:
    params = {"secret": C2C_API_KEY, "extension": "101", "phone": "0901234567"}
    answer = httpx.get(f"{local.http_url}/wsapi/demo/click2call.php", params=params, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (401, "API_KEY_INVALID")
    assert answer.json()["status"] == "error"


# ---------------------------------------------------------------- a seed 004 CRM gets its userfield back


def test_a_seed004_crm_gets_its_own_userfield_back_after_a_click_to_call(local: RunningStack) -> None:
    # Given a tenant whose CRM (on loopback) was written for seed 004, and its agent's webphone tab
    customer = f"c2cs{uuid.uuid4().hex[:8]}"
    access_key, pbx_secret, api_key = (f"{part}-{uuid.uuid4().hex}" for part in ("jwt", "pbx", "api"))
    admin = TenantAdmin(local.table_name, local.stage)
    admin.create_tenant(customer, customer, jwt_access_key=access_key, pbx_secret=pbx_secret, api_key=api_key)
    admin.add_agent(customer, "401")
    crm = CrmServer().start()
    try:
        crm_cli(
            local,
            "crm",
            "endpoint",
            "add",
            customer,
            crm.url,
            "--allow-private-network",
            "--format",
            "seed004",
        )
        with Tab(local, login(local, "401", domain=customer, key=access_key)) as tab:
            tab.sync()
            # When the CRM calls click2call.php with its own userfield, on the webphone's host
            order = f"order-{uuid.uuid4().hex[:6]}"
            params = {"secret": api_key, "extension": "401", "phone": "0901234567", "userfield": order}
            answer = httpx.get(f"{local.web_url}/wsapi/{customer}/click2call.php", params=params, timeout=15)
            assert (answer.status_code, answer.json()["status"]) == (200, "success"), answer.text
            request_id = answer.json()["request_id"]
            # and the PBX's call log comes back with the SIP Call-ID the webphone dialled as userfield
            dial = tab.recv_type("call.dial")
            callid = f"c2cs-{uuid.uuid4().hex[:10]}"
            log = {
                "callid": callid,
                "calldate": datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S"),
                "extension": "401",
                "phone": "0901234567",
                "duration": 30,
                "billsec": 21,
                "status": "ANSWERED",
                "recording": "",
                "userfield": dial["call_id"],
            }
            sent = httpx.post(
                f"{local.http_url}/wsapi/{customer}/call_answered",
                params={"secret": pbx_secret},
                json=log,
                timeout=10,
            )
            assert sent.status_code == 200, sent.text
        # Then the CRM's seed 004 call_answered carries its own userfield, never our token
        crm.wait_for(lambda c: any(r.path.endswith("/call_answered") for r in c.accepted()), timeout=30)
        (forwarded,) = [r for r in crm.accepted() if r.path.endswith("/call_answered")]
        assert forwarded.json()["userfield"] == order
        assert forwarded.json()["callid"] == callid
        # and the calls API shows it as userfield, in the list and the item, with the request beside it
        headers = {"X-Api-Key": api_key}
        listed = httpx.get(f"{local.http_url}/v1/calls", headers=headers, timeout=10).json()["items"]
        (item,) = [c for c in listed if c["callid"] == callid]
        assert (item["userfield"], item["outbound_request_id"]) == (order, request_id)
        one = httpx.get(f"{local.http_url}/v1/calls/{callid}", headers=headers, timeout=10).json()
        assert (one["userfield"], one["outbound_request_id"]) == (order, request_id)
        assert wait_for_status(local, request_id, "answered", key=api_key)["userfield"] == order
    finally:
        crm.stop()


def test_a_call_without_click_to_call_keeps_the_pbx_userfield(local: RunningStack) -> None:
    # Given a call log whose userfield is the PBX's own (no click-to-call placed it)
    callid = f"plain-{uuid.uuid4().hex[:10]}"
    call_log(local, callid, "102", "pbx-queue-7")
    # Then the calls API shows it unchanged, with no request
    one = httpx.get(f"{local.http_url}/v1/calls/{callid}", headers={"X-Api-Key": DEMO_API_KEY}, timeout=10)
    assert (one.json()["userfield"], one.json()["outbound_request_id"]) == ("pbx-queue-7", None)


def crm_cli(stack: RunningStack, *argv: str) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--table", stack.table_name, "--stage", stack.stage, *argv, "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]
