"""Real-time popups, presence and call state on the local stack, with real WebSocket clients.

Agents log in through the seed login (POST /{domain}/thirdParty/login), open tabs on
``ws_url?token=<user.token>&tab=...``, and the PBX's webhooks (GET /wsapi/{customer}/incoming_call...)
must pop up in exactly the right tabs.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ctibridge import connections
from ctibridge.realtime import presence
from ctibridge.tenants.models import DeviceType
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.agents import Tab, login
from tests.support.local_stack import RunningStack
from tests.support.realtime import SlowCrm, wait_for_call_state

DEMO_KEY = "demo-access-key"
DEMO_SECRET = "demo-secret"
OTHER = "rtother"  # a second tenant, for isolation
OTHER_KEY = "rtother-access-key-0123456789abcdef"
OTHER_SECRET = "rtother-pbx-secret-0123456789"
RECV_TIMEOUT = 10.0  # generous: the suite may share a loaded machine


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def local(stack_env: RunningStack) -> RunningStack:
    """This process talks to the stack's moto too (to read presence as click-to-call would)."""
    return stack_env


@pytest.fixture(scope="module")
def other_tenant(local: RunningStack) -> str:
    """A second tenant with its own agent 101: same extension as demo's, must never see demo's calls."""
    admin = TenantAdmin(local.table_name, local.stage)
    if admin.repository.get_tenant(OTHER, consistent=True) is None:
        admin.create_tenant(OTHER, OTHER, jwt_access_key=OTHER_KEY, pbx_secret=OTHER_SECRET, timezone="UTC")
        admin.add_agent(OTHER, "101", display_name="Other 101")
    return OTHER


def webhook(
    stack: RunningStack,
    event: str,
    extension: str,
    callid: str,
    *,
    customer: str = "demo",
    secret: str = DEMO_SECRET,
) -> httpx.Response:
    params = {"secret": secret, "phone": "0901234567", "extension": extension, "callid": callid}
    answer = httpx.get(f"{stack.http_url}/wsapi/{customer}/{event}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def call_log(stack: RunningStack, extension: str, callid: str, *, status: str = "ANSWERED") -> httpx.Response:
    body = {
        "callid": callid,
        "calldate": datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S"),
        "extension": extension,
        "phone": "0901234567",
        "duration": 23,
        "billsec": 11,
        "status": status,
        "recording": "",
        "userfield": "order-42",
    }
    answer = httpx.post(
        f"{stack.http_url}/wsapi/demo/call_answered", params={"secret": DEMO_SECRET}, json=body, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer


def new_callid() -> str:
    return f"{time.time():.6f}"


def _connection_items(stack: RunningStack) -> int:
    """How many connection items the table holds (a test's view; the code never scans)."""
    dynamodb = stack.client("dynamodb")
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=stack.table_name,
        FilterExpression="begins_with(SK, :c)",
        ExpressionAttributeValues={":c": {"S": "CONN"}},
    )
    return sum(page["Count"] for page in pages)


# ---------------------------------------------------------------- $connect


@pytest.mark.parametrize("token", ["", "not-a-token", "A" * 43])
def test_bad_tokens_are_refused_at_connect_before_any_write(local: RunningStack, token: str) -> None:
    # Given the table's connection items now
    before = _connection_items(local)
    # When a client connects with a bad token
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{local.ws_url}?token={token}&tab=x", open_timeout=10)
    # Then the handshake is refused with 401 and nothing was written
    assert refused.value.response.status_code == 401
    assert _connection_items(local) == before


def test_a_logged_out_session_is_refused_at_connect(local: RunningStack) -> None:
    # Given a session that was logged out
    token = login(local, "102")
    answer = httpx.post(
        f"{local.http_url}/v1/sessions/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code in (200, 204), answer.text
    before = _connection_items(local)
    # When its token is used to connect
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{local.ws_url}?token={token}", open_timeout=10)
    # Then 401, and nothing was written
    assert refused.value.response.status_code == 401
    assert _connection_items(local) == before


# ---------------------------------------------------------------- popups


def test_a_ring_reaches_every_tab_of_the_agent_and_no_other_agent_or_tenant(
    local: RunningStack, other_tenant: str
) -> None:
    # Given demo/101 with two tabs, demo/102 with one, and the other tenant's 101 with one
    token_101 = login(local, "101")
    tabs_101 = [Tab(local, token_101), Tab(local, token_101)]
    tab_102 = Tab(local, login(local, "102"))
    tab_other = Tab(local, login(local, "101", domain=OTHER, key=OTHER_KEY))
    try:
        for tab in [*tabs_101, tab_102, tab_other]:
            tab.sync()
        # When the PBX says a call rings demo's 101
        callid = new_callid()
        webhook(local, "incoming_call", "101", callid)
        # Then both tabs of demo/101 pop up with the call
        for tab in tabs_101:
            popup = tab.recv_type("call.ringing")
            assert popup["callid"] == callid
            assert popup["phone"] == "0901234567"
            assert popup["extension"] == "101"
            assert popup["customer"] == "demo"
            assert popup["direction"] == "inbound"
            assert popup["v"] == 1
        # And neither demo/102 nor the other tenant's 101 hears a thing
        assert tab_102.drain() == []
        assert tab_other.drain() == []
        # When the other tenant's PBX rings its own 101, only that tab pops up
        webhook(local, "incoming_call", "101", new_callid(), customer=OTHER, secret=OTHER_SECRET)
        assert tab_other.recv_type("call.ringing")["customer"] == OTHER
        assert all(tab.drain() == [] for tab in tabs_101)
    finally:
        for tab in [*tabs_101, tab_102, tab_other]:
            tab.close()


def test_outgoing_and_ended_calls_update_the_tabs_and_the_agent_state(local: RunningStack) -> None:
    tab = Tab(local, login(local, "102"))
    try:
        tab.sync()
        # When a call rings 102
        callid = new_callid()
        webhook(local, "incoming_call", "102", callid)
        tab.recv_type("call.ringing")
        # Then click-to-call sees 102 ringing (the state follows the popup through the CallStateQueue)
        state = wait_for_call_state("demo", "102", "ringing", callid=callid)
        assert state.available is False
        # When the call's log arrives (the call ended)
        call_log(local, "102", callid)
        ended = tab.recv_type("call.ended")
        assert (ended["callid"], ended["status"], ended["duration"], ended["billsec"]) == (
            callid,
            "ANSWERED",
            23,
            11,
        )
        assert ended["userfield"] == "order-42"
        wait_for_call_state("demo", "102", "idle")
        # When 102 dials out from its IP phone
        out = new_callid()
        webhook(local, "outgoing_call", "102", out)
        assert tab.recv_type("call.outgoing")["callid"] == out
        wait_for_call_state("demo", "102", "in_call", callid=out)
        call_log(local, "102", out)
        tab.recv_type("call.ended")
        wait_for_call_state("demo", "102", "idle")
    finally:
        tab.close()


# ---------------------------------------------------------------- the agent's actions


def test_only_one_tab_holds_voice_and_the_others_are_told(local: RunningStack) -> None:
    # Given two tabs of 101 (demo's other tests may have left none open)
    token = login(local, "101")
    first, second = Tab(local, token, "voice-a"), Tab(local, token, "voice-b")
    try:
        states = {t.tab: t.sync() for t in (first, second)}
        holder = next((tab for tab, s in states.items() if s["voice"]), None)
        assert sum(s["voice"] for s in states.values()) <= 1
        # When the tab without voice asks for it (seed csEnableCall)
        taker, other = (second, first) if holder != second.tab else (first, second)
        taker.send({"action": "enableVoice"})
        # Then it gets voice, and the other tab is told it lost it
        won = taker.recv_type("voice")
        assert (won["enabled"], won["holder_tab"], won["reason"]) == (True, taker.tab, "enabled")
        lost = other.recv_type("voice")
        assert (lost["enabled"], lost["holder_tab"], lost["reason"]) == (False, taker.tab, "taken")
        assert taker.sync()["voice"] is True
        assert other.sync()["voice"] is False
        # And the state click-to-call reads names the taker's connection
        assert presence.get_state("demo", "101").voice_tab == taker.tab
    finally:
        first.close()
        second.close()


def test_status_and_device_persist_and_are_visible_to_click_to_call(local: RunningStack) -> None:
    token = login(local, "102")
    tab, other = Tab(local, token), Tab(local, token)
    try:
        tab.sync()
        other.sync()
        # When the agent goes Off (seed changeCallStatus)
        tab.send({"action": "status", "ready": False})
        assert other.recv_type("status")["ready"] is False
        assert presence.get_state("demo", "102").ready is False
        # When it forwards calls to its mobile (seed changeDevice(3, ...))
        tab.send({"action": "device", "device_type": 3, "mobile": "0931234567"})
        assert other.recv_type("device") | {"ts": None} == {
            "type": "device",
            "v": 1,
            "ts": None,
            "device_type": 3,
            "mobile": "0931234567",
        }
        state = presence.get_state("demo", "102")
        assert (state.device_type, state.mobile, state.ready) == (DeviceType.MOBILE, "0931234567", False)
        # And it survives the tabs: a new tab after a reconnect sees the same
        tab.close()
        other.close()
        later = Tab(local, login(local, "102"))
        snapshot = later.sync()
        assert (snapshot["ready"], snapshot["device_type"], snapshot["mobile"]) == (False, 3, "0931234567")
        # Back to normal for the other tests
        later.send({"action": "status", "ready": True})
        later.recv_type("status")
        later.send({"action": "resetDevice"})
        assert later.recv_type("device")["device_type"] == 1
        later.close()
    finally:
        tab.close()
        other.close()


def test_ping_and_unknown_actions(local: RunningStack) -> None:
    tab = Tab(local, login(local, "101"))
    try:
        tab.send({"action": "ping", "id": "p1"})
        assert tab.recv_type("pong")["id"] == "p1"
        tab.send({"action": "transferCall", "to": "102"})
        error = tab.recv_type("error")
        assert error["code"] == "UNKNOWN_ACTION"
        assert error["action"] == "transferCall"
    finally:
        tab.close()


# ---------------------------------------------------------------- stale connections


def test_a_closed_tab_is_forgotten_at_disconnect(local: RunningStack) -> None:
    token = login(local, "102")
    tab = Tab(local, token)
    tab.sync()
    connection_ids = set(presence.get_state("demo", "102").connections)
    tab.close()
    deadline = time.monotonic() + 5
    while set(presence.get_state("demo", "102").connections) & connection_ids and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(presence.get_state("demo", "102").connections) & connection_ids


def test_a_tab_whose_disconnect_was_lost_is_cleaned_by_the_next_popup(local: RunningStack) -> None:
    # Given an open tab of 102, and a recorded tab API Gateway no longer knows (lost $disconnect)
    tab = Tab(local, login(local, "102"))
    try:
        tab.sync()
        ghost = connections.new("GhostConn0000=", "demo", "102", "ghost-tab", 1)
        presence.connect(ghost)
        assert "GhostConn0000=" in presence.get_state("demo", "102").connections
        # When a call rings 102
        webhook(local, "incoming_call", "102", new_callid())
        # Then the open tab pops up all the same
        assert tab.recv_type("call.ringing")["extension"] == "102"
        # And the ghost (GoneException from @connections) is gone from the table
        assert connections.get("GhostConn0000=") is None
        assert "GhostConn0000=" not in presence.get_state("demo", "102").connections
        assert "GhostConn0000=" not in [c.connection_id for c in connections.for_agent("demo", "102")]
    finally:
        tab.close()


def test_after_a_websocket_restart_tabs_reconnect_and_get_popups(local: RunningStack) -> None:
    token = login(local, "101")
    tab = Tab(local, token)
    tab.sync()
    # When the WebSocket service restarts (every client dropped)
    local.restart_websocket()
    deadline = time.monotonic() + 15
    while True:
        try:
            tab = Tab(local, token)
            break
        except (OSError, InvalidStatus):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        tab.sync()
        # Then a popup reaches the reconnected tab
        callid = new_callid()
        webhook(local, "incoming_call", "101", callid)
        assert tab.recv_type("call.ringing")["callid"] == callid
    finally:
        tab.close()


# ---------------------------------------------------------------- screen pop


@pytest.mark.parametrize(("delay", "contact"), [(0.0, True), (3.0, False)])
def test_screen_pop_with_the_crm_contact_never_waits_for_a_slow_crm(
    local: RunningStack, delay: float, contact: bool
) -> None:
    # Given a tenant whose CRM lookup (on loopback) answers after ``delay`` seconds; a new tenant per
    # case, as the stack caches tenants for a minute
    crm = SlowCrm(delay, {"name": "Nguyen Van A", "url": "https://crm.example.com/c/7", "id": 7})
    customer = f"rtcrm{uuid.uuid4().hex[:8]}"
    admin = TenantAdmin(local.table_name, local.stage)
    admin.create_tenant(
        customer,
        customer,
        jwt_access_key=OTHER_KEY,
        pbx_secret=OTHER_SECRET,
        crm_lookup_url=crm.url,
        crm_hosts_allowed=[crm.host],  # a CRM on loopback: allowed by the tenant's configuration
        timezone="UTC",
    )
    admin.add_agent(customer, "101")
    tab = Tab(local, login(local, "101", domain=customer, key=OTHER_KEY))
    try:
        tab.sync()
        # When a call rings
        callid = new_callid()
        with ThreadPoolExecutor(1) as pbx:
            started = time.monotonic()
            sent = pbx.submit(
                httpx.get,
                f"{local.http_url}/wsapi/{customer}/incoming_call",
                params={"secret": OTHER_SECRET, "phone": "0901234567", "extension": "101", "callid": callid},
                timeout=10,
            )
            popup = tab.recv_type("call.ringing")
            popup_after = time.monotonic() - started
            answer = sent.result()
            answered_after = time.monotonic() - started
        frames = tab.drain(1.5 if contact else 0.5)
        # Then the popup did not wait for the CRM: it came before the webhook's answer (which waits
        # up to the lookup's 0.8 s bound)
        assert answer.status_code == 200
        assert popup["callid"] == callid
        assert popup_after <= answered_after
        if not contact:
            # And neither the popup nor the webhook waited for the slow CRM: both came before it answered
            # (an order of events, not a time bound: these tests share the machine with others)
            crm_answered_after = crm.first_answer() - started
            assert popup_after < crm_answered_after, (popup_after, crm_answered_after)
            assert answered_after < crm_answered_after, (answered_after, crm_answered_after)
        # And the contact followed when the CRM was quick, and never when it was slow
        contacts = [f["contact"] for f in [popup, *frames] if f.get("contact")]
        if contact:
            assert contacts == [{"name": "Nguyen Van A", "url": "https://crm.example.com/c/7", "id": "7"}]
        else:
            assert contacts == []
        assert crm.requests  # it was asked, with the number
        assert "phone=0901234567" in crm.requests[0]
    finally:
        tab.close()
        crm.close()
