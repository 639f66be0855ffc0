"""The webphone's actions: dispatch by ``action``, one voice tab, status and device persisted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ctibridge.realtime import presence
from ctibridge.tenants.models import DeviceType
from tests.support.realtime import Connect, FakeManagementApi, open_tab

Send = Callable[[str, dict[str, Any] | str], dict[str, Any]]


@pytest.fixture
def tabs(gateway: FakeManagementApi, ws_connect: Connect) -> FakeManagementApi:
    """Agent 101 of demo with three tabs (conn-1 holds voice), 102 with one, acme's 101 with one."""
    for connection_id in ("conn-1", "conn-2", "conn-3"):
        open_tab(gateway, ws_connect, "demo", "101", connection_id)
    open_tab(gateway, ws_connect, "demo", "102", "conn-102")
    open_tab(gateway, ws_connect, "acme", "101", "conn-acme")
    return gateway


def test_ping_answers_pong_with_the_id(tabs: FakeManagementApi, ws_message: Send) -> None:
    # When a tab pings
    assert ws_message("conn-2", {"action": "ping", "id": "k-7"}) == {"statusCode": 200}
    # Then it alone gets the pong with its id
    assert tabs.last("conn-2")["type"] == "pong"
    assert tabs.last("conn-2")["id"] == "k-7"
    assert tabs.types("conn-1") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"action": "transferCall", "to": "102"}, "UNKNOWN_ACTION"),
        ({"no": "action"}, "INVALID_MESSAGE"),
        ("not json", "INVALID_MESSAGE"),
        ("[1, 2]", "INVALID_MESSAGE"),
        ({"action": "status"}, "VALIDATION_ERROR"),
        ({"action": "status", "ready": "perhaps"}, "VALIDATION_ERROR"),
        ({"action": "device", "device_type": 3}, "VALIDATION_ERROR"),
        ({"action": "device", "device_type": 9}, "VALIDATION_ERROR"),
        ({"action": "ping", "v": 2}, "VALIDATION_ERROR"),
        ({"action": "ping", "id": "x" * 10_000}, "MESSAGE_TOO_LARGE"),
    ],
)
def test_bad_frames_get_an_error_to_the_sender_only(
    tabs: FakeManagementApi, ws_message: Send, body: dict[str, Any] | str, code: str
) -> None:
    # When a tab sends a frame the server cannot serve
    assert ws_message("conn-2", body) == {"statusCode": 200}
    # Then it gets an error with a stable code, and nobody else hears anything
    error = tabs.last("conn-2")
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["v"] == 1
    assert tabs.types("conn-1") == []
    assert tabs.types("conn-3") == []


def test_an_unknown_action_is_named_in_the_error(tabs: FakeManagementApi, ws_message: Send) -> None:
    # When a tab sends an action the server does not know
    ws_message("conn-2", {"action": "transferCall", "to": "102"})
    # Then the error names the action it sent, so the client knows which frame was refused
    error = tabs.last("conn-2")
    assert (error["code"], error["action"]) == ("UNKNOWN_ACTION", "transferCall")


def test_a_long_unknown_action_is_named_cut_short(tabs: FakeManagementApi, ws_message: Send) -> None:
    ws_message("conn-2", {"action": "x" * 500})
    assert tabs.last("conn-2")["action"] == "x" * 64


def test_validation_errors_do_not_echo_the_input(tabs: FakeManagementApi, ws_message: Send) -> None:
    ws_message("conn-2", {"action": "device", "device_type": 3, "mobile": "<img src=x>"})
    assert "<img" not in tabs.last("conn-2")["message"]


def test_enable_voice_moves_voice_to_the_tab_and_tells_every_other_tab(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    # Given conn-1 holds voice (first tab)
    assert presence.voice_connection("demo", "101") == "conn-1"
    # When the third tab asks for voice (seed csEnableCall)
    ws_message("conn-3", {"action": "enableVoice"})
    # Then it holds voice, and is told so
    assert presence.voice_connection("demo", "101") == "conn-3"
    assert tabs.last("conn-3") | {"ts": None} == {
        "type": "voice",
        "v": 1,
        "ts": None,
        "enabled": True,
        "holder_tab": "conn-3",
        "reason": "enabled",
    }
    # And each other tab of the agent is told it lost voice, and which tab has it
    for other in ("conn-1", "conn-2"):
        assert tabs.last(other)["type"] == "voice"
        assert tabs.last(other)["enabled"] is False
        assert tabs.last(other)["holder_tab"] == "conn-3"
        assert tabs.last(other)["reason"] == "taken"
    # And other agents and tenants hear nothing
    assert tabs.types("conn-102") == []
    assert tabs.types("conn-acme") == []


def test_only_one_tab_holds_voice_whatever_the_order(tabs: FakeManagementApi, ws_message: Send) -> None:
    # When tabs take voice in turn
    for connection_id in ("conn-2", "conn-1", "conn-3", "conn-2"):
        ws_message(connection_id, {"action": "enableVoice"})
        # Then exactly that one reports voice in its state snapshot
        holders = []
        for tab in ("conn-1", "conn-2", "conn-3"):
            ws_message(tab, {"action": "sync"})
            if tabs.last(tab)["voice"]:
                holders.append(tab)
        assert holders == [connection_id]


def test_status_off_and_on_persist_and_reach_every_tab(tabs: FakeManagementApi, ws_message: Send) -> None:
    # When the agent switches Off in one tab (seed changeCallStatus)
    ws_message("conn-2", {"action": "status", "ready": False})
    # Then the state says not ready, so click-to-call and transfer skip the agent
    state = presence.get_state("demo", "101")
    assert state.ready is False
    assert state.available is False
    # And every tab shows it
    for tab in ("conn-1", "conn-2", "conn-3"):
        assert tabs.last(tab)["type"] == "status"
        assert tabs.last(tab)["ready"] is False
    # When back On
    ws_message("conn-1", {"action": "status", "ready": True})
    assert presence.get_state("demo", "101").ready is True
    assert presence.get_state("demo", "101").available is True
    # And the other agent is untouched
    assert presence.get_state("demo", "102").ready is True
    assert tabs.types("conn-102") == []


def test_device_changes_persist_and_reset_to_the_agent_default(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    # When the agent forwards calls to a mobile (seed changeDevice(3, '093...'))
    ws_message("conn-1", {"action": "device", "device_type": 3, "mobile": "0931234567"})
    # Then the state carries it, for click-to-call to dial the right device
    state = presence.get_state("demo", "101")
    assert (state.device_type, state.mobile) == (DeviceType.MOBILE, "0931234567")
    assert tabs.last("conn-3") | {"ts": None} == {
        "type": "device",
        "v": 1,
        "ts": None,
        "device_type": 3,
        "mobile": "0931234567",
    }
    # When it switches to a softphone, the mobile is dropped
    ws_message("conn-1", {"action": "device", "device_type": 2, "mobile": "0931234567"})
    state = presence.get_state("demo", "101")
    assert (state.device_type, state.mobile) == (DeviceType.SOFTPHONE, None)
    # When the page resets the device (seed reConfigDeviceType), the agent's configured one is back
    ws_message("conn-2", {"action": "resetDevice"})
    state = presence.get_state("demo", "101")
    assert (state.device_type, state.mobile) == (DeviceType.BROWSER, None)
    assert tabs.last("conn-1")["device_type"] == 1


def test_sync_answers_the_state_snapshot(tabs: FakeManagementApi, ws_message: Send) -> None:
    ws_message("conn-2", {"action": "sync"})
    snapshot = tabs.last("conn-2")
    assert snapshot["type"] == "state"
    assert snapshot["tenant_id"] == "demo"
    assert snapshot["ipphone"] == "101"
    assert snapshot["tab"] == "conn-2"
    assert snapshot["voice"] is False
    assert snapshot["voice_tab"] == "conn-1"
    assert snapshot["tabs"] == 3
    assert snapshot["ready"] is True
    assert snapshot["call"]["state"] == "idle"


def test_call_state_from_the_webphone(tabs: FakeManagementApi, ws_message: Send) -> None:
    # Given a call ringing agent 101
    presence.record_call_event("demo", "101", "ringing", "c-1", "0901234567", "inbound")
    # When the browser answers it (seed csAcceptCall)
    ws_message("conn-1", {"action": "callState", "callid": "c-1", "state": "in_call"})
    # Then the agent is in call, and every tab knows
    state = presence.get_state("demo", "101")
    assert (state.call.state, state.call.callid, state.call.phone) == ("in_call", "c-1", "0901234567")
    assert state.available is False
    assert tabs.last("conn-2")["type"] == "call.state"
    assert tabs.last("conn-2")["state"] == "in_call"
    # When it hangs up
    ws_message("conn-1", {"action": "callState", "callid": "c-1", "state": "idle"})
    assert presence.get_state("demo", "101").call.state == "idle"
    # And a late "answered" for that ended call changes nothing; the sender gets the truth
    ws_message("conn-1", {"action": "callState", "callid": "c-1", "state": "in_call"})
    assert presence.get_state("demo", "101").call.state == "idle"
    assert tabs.last("conn-1")["type"] == "state"


def test_a_frame_from_an_unrecorded_connection_is_refused(
    gateway: FakeManagementApi, ws_message: Send, table: Any
) -> None:
    # Given a connection the table does not know (its items expired, or it never connected)
    gateway.open.add("conn-ghost")
    # When it asks for voice
    ws_message("conn-ghost", {"action": "enableVoice"})
    # Then it is told to reconnect
    assert gateway.last("conn-ghost")["code"] == "NOT_CONNECTED"


def test_callout_result_reports_for_the_connections_own_agent(
    tabs: FakeManagementApi, ws_message: Send, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the click-to-call service records reports
    from ctibridge.click2call import service

    reports: list[tuple[Any, ...]] = []
    monkeypatch.setattr(service, "report", lambda *args: reports.append(args))
    # When the voice tab of demo/101 reports a failed call-out, claiming nothing about who it is
    ws_message(
        "conn-1",
        {
            "action": "callout.result",
            "request_id": "r-1",
            "status": "failed",
            "error_code": "E",
            "sip_code": 486,
        },
    )
    # Then the report is filed for demo/101 (from the connection record), and no error goes back
    assert len(reports) == 1
    tenant_id, ipphone, request_id, status, error_code, sip_code = reports[0]
    assert (tenant_id, ipphone, request_id, str(status), error_code, sip_code) == (
        "demo",
        "101",
        "r-1",
        "failed",
        "E",
        486,
    )
    assert tabs.types("conn-1") == []


def test_an_unknown_action_json_cannot_carry_is_named_all_the_same(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    # When a tab sends an action with a lone surrogate (valid JSON text, not encodable as UTF-8)
    ws_message("conn-2", '{"action": "nope\\ud800"}')
    # Then it still gets its error frame naming the action (the echo used to crash the function)
    error = tabs.last("conn-2")
    assert (error["type"], error["code"], error["action"]) == ("error", "UNKNOWN_ACTION", "nope?")


def test_a_frame_too_large_names_the_action_api_gateway_routed(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    ws_message("conn-2", {"action": "status", "ready": True, "pad": "x" * 10_000})
    error = tabs.last("conn-2")
    assert (error["code"], error["action"]) == ("MESSAGE_TOO_LARGE", "status")
    # And nothing was stored from it
    assert presence.get_state("demo", "101").ready is True


def test_a_failure_nobody_foresaw_is_an_error_frame_naming_the_action(
    tabs: FakeManagementApi, ws_message: Send, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a defect in the state read (fault injected)
    def broken(tenant_id: str, ipphone: str) -> None:
        raise KeyError("call_since")

    monkeypatch.setattr(presence, "get_state", broken)
    # When a tab syncs
    assert ws_message("conn-2", {"action": "sync"}) == {"statusCode": 200}
    # Then it gets INTERNAL_ERROR for its sync, not API Gateway's bare "Internal server error"
    error = tabs.last("conn-2")
    assert (error["type"], error["code"], error["action"]) == ("error", "INTERNAL_ERROR", "sync")
    assert "call_since" not in error["message"]
