"""PBX call events: popups to the right tabs and the CRM screen pop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ctibridge.realtime import call_events, presence, screen_pop
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.realtime import Connect, FakeManagementApi, open_tab

CRM_URL = "https://crm.example.com/api/lookup"


def _event(callid: str = "1700000000.1", phone: str = "0901234567", **extra: Any) -> dict[str, Any]:
    """What the webhook path hands over (issue 5's data)."""
    return {
        "callid": callid,
        "phone": phone,
        "phone_e164": "+84901234567",
        "extension": "101",
        "direction": "inbound",
        "customer": "demo",
        **extra,
    }


@pytest.fixture
def tabs(gateway: FakeManagementApi, ws_connect: Connect) -> FakeManagementApi:
    for connection_id in ("a", "b"):
        open_tab(gateway, ws_connect, "demo", "101", connection_id)
    open_tab(gateway, ws_connect, "demo", "102", "c")
    open_tab(gateway, ws_connect, "acme", "101", "d")
    return gateway


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch, admin: TenantAdmin) -> Iterator[dict[str, Any]]:
    """The demo tenant's CRM lookup, answering from ``behaviour`` (delay, status, body)."""
    behaviour: dict[str, Any] = {
        "delay": 0.0,
        "status": 200,
        "body": {"name": "Nguyen Van A", "url": "https://crm.example.com/c/42", "id": 42},
        "seen": [],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        behaviour["seen"].append(dict(request.url.params))
        time.sleep(behaviour["delay"])  # MockTransport has no timeouts: this is the slow CRM
        return httpx.Response(behaviour["status"], json=behaviour["body"])

    admin.update_tenant("demo", crm_lookup_url=CRM_URL)
    repository.clear_cache()  # the tenant cache (60 s) would hide the change for a minute
    client = httpx.Client(transport=httpx.MockTransport(answer))
    monkeypatch.setattr(screen_pop, "_http", lambda: client)
    monkeypatch.setattr(screen_pop, "_resolve", lambda host, port: ["93.184.216.34"])  # a public address
    yield behaviour
    client.close()


def test_ringing_pops_up_in_every_tab_of_the_extension_only(tabs: FakeManagementApi) -> None:
    # When the PBX says a call rings 101 of demo
    call_events.send_popup("demo", "101", "ringing", _event()).follow_up()
    # Then both tabs of demo/101 get call.ringing with the call's fields
    for tab in ("a", "b"):
        popup = tabs.last(tab)
        assert popup["type"] == "call.ringing"
        assert popup["v"] == 1
        assert {
            k: popup[k] for k in ("callid", "phone", "phone_e164", "extension", "direction", "customer")
        } == {
            "callid": "1700000000.1",
            "phone": "0901234567",
            "phone_e164": "+84901234567",
            "extension": "101",
            "direction": "inbound",
            "customer": "demo",
        }
        assert popup["contact"] is None  # this tenant has no CRM lookup
    # And neither another agent nor the same extension of another tenant hears of it
    assert tabs.types("c") == []
    assert tabs.types("d") == []


def test_ended_and_outgoing_calls_reach_the_tabs_with_their_data(tabs: FakeManagementApi) -> None:
    # When a call ends (seed 004 call_answered), with its log
    call_events.send_popup(
        "demo",
        "101",
        "ended",
        _event(callid="c-1", status="ANSWERED", duration=23, billsec=11, recording="https://pbx/r.wav"),
    ).follow_up()
    # Then every tab of the agent gets call.ended with the log's figures
    ended = tabs.last("a")
    assert ended["type"] == "call.ended"
    assert (ended["status"], ended["duration"], ended["billsec"], ended["recording"]) == (
        "ANSWERED",
        23,
        11,
        "https://pbx/r.wav",
    )
    # When the agent dials out from the IP phone
    call_events.send_popup("demo", "101", "outgoing", _event(callid="c-2", direction="outbound")).follow_up()
    assert tabs.last("b")["type"] == "call.outgoing"
    # And the popups leave the agent's state alone: that is the call-state queue's job
    assert presence.get_state("demo", "101").call.state == "idle"


def test_an_invalid_event_is_logged_not_raised(tabs: FakeManagementApi) -> None:
    call_events.send_popup("demo", "101", "ringing", {"phone": "0901"}).follow_up()  # no callid
    assert tabs.types("a") == []


def test_popup_for_an_agent_with_no_tab_is_a_no_op(tabs: FakeManagementApi) -> None:
    call_events.send_popup("demo", "103", "ringing", _event()).follow_up()
    assert all(tabs.types(t) == [] for t in "abcd")


def test_the_crm_contact_follows_the_popup(tabs: FakeManagementApi, crm: dict[str, Any]) -> None:
    # Given the tenant has a CRM lookup URL that knows the caller
    # When the call rings
    call_events.send_popup("demo", "101", "ringing", _event()).follow_up()
    # Then each tab gets the popup, then (or within it) the contact
    for tab in ("a", "b"):
        frames = tabs.frames[tab]
        contacts = [f["contact"] for f in frames if f["type"] == "call.contact"] + [
            f["contact"] for f in frames if f["type"] == "call.ringing" and f["contact"]
        ]
        assert frames[0]["type"] == "call.ringing"
        assert contacts == [{"name": "Nguyen Van A", "url": "https://crm.example.com/c/42", "id": "42"}]
    # And the CRM was asked with the number as the PBX sent it, and in E.164
    assert crm["seen"] == [{"phone": "0901234567", "phone_e164": "+84901234567"}]


def test_a_slow_crm_never_delays_the_popup(tabs: FakeManagementApi, crm: dict[str, Any]) -> None:
    # Given a CRM that takes 3 s to answer
    crm["delay"] = 3.0
    popup_at: dict[str, float] = {}
    original = tabs.post_to_connection

    def timed(ConnectionId: str, Data: bytes) -> dict[str, Any]:
        popup_at.setdefault(ConnectionId, time.monotonic())
        return original(ConnectionId=ConnectionId, Data=Data)

    tabs.post_to_connection = timed  # type: ignore[method-assign]
    # When the call rings
    started = time.monotonic()
    call_events.send_popup("demo", "101", "ringing", _event()).follow_up()
    returned = time.monotonic() - started
    # Then the popups went out at once, without the contact
    assert max(popup_at.values()) - started < 0.3
    assert [f["type"] for f in tabs.frames["a"]] == ["call.ringing"]
    assert tabs.last("a")["contact"] is None
    # And the webhook path was held no longer than the lookup's bound
    assert returned < screen_pop.LOOKUP_TIMEOUT_SECONDS + 0.4


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": "boom"}),
        (404, {}),
        (200, ["not", "an", "object"]),
        (200, {"name": "x" * 1000}),
        (200, {}),
    ],
)
def test_a_failing_crm_costs_only_the_contact(
    tabs: FakeManagementApi, crm: dict[str, Any], status: int, body: Any
) -> None:
    crm["status"], crm["body"] = status, body
    call_events.send_popup("demo", "101", "ringing", _event()).follow_up()
    assert [f["type"] for f in tabs.frames["a"]] == ["call.ringing"]


def test_a_crm_link_that_is_not_a_web_link_is_dropped(tabs: FakeManagementApi, crm: dict[str, Any]) -> None:
    crm["body"] = {"name": "Eve", "url": "javascript:alert(1)"}
    call_events.send_popup("demo", "101", "ringing", _event()).follow_up()
    contacts = [f["contact"] for f in tabs.frames["a"] if f.get("contact")]
    assert contacts == [{"name": "Eve", "url": None, "id": None}]


def test_lookup_refuses_urls_that_are_not_http() -> None:
    assert screen_pop.lookup("file:///etc/passwd", "0901") is None
