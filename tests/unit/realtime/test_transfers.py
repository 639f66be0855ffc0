"""Call transfers on the bridge side (seed 002): who can take a call, ask, answer, expire, cancel, queues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ctibridge import keys
from ctibridge.realtime import presence, transfers
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.realtime import Connect, FakeManagementApi, open_tab

Send = Callable[[str, dict[str, Any] | str], dict[str, Any]]


@pytest.fixture
def tabs(gateway: FakeManagementApi, ws_connect: Connect, admin: TenantAdmin) -> FakeManagementApi:
    """demo 101 (conn-101, on a call), demo 102 with two tabs, acme's 101; demo also has 103 offline."""
    admin.add_agent("demo", "103", display_name="Agent 103")
    open_tab(gateway, ws_connect, "demo", "101", "conn-101")
    open_tab(gateway, ws_connect, "demo", "102", "conn-102")
    open_tab(gateway, ws_connect, "demo", "102", "conn-102b")
    open_tab(gateway, ws_connect, "acme", "101", "conn-acme")
    return gateway


def _ask(tabs: FakeManagementApi, ws_message: Send, to: str = "102") -> str:
    ws_message(
        "conn-101", {"action": "transfer.agent", "ipphone": to, "callid": "1700.42", "phone": "0904824242"}
    )
    pending = tabs.last("conn-101")
    assert pending["type"] == "transfer.pending", pending
    return str(pending["transfer_id"])


def _frames(tabs: FakeManagementApi, connection_id: str, kind: str) -> list[dict[str, Any]]:
    return [frame for frame in tabs.frames[connection_id] if frame["type"] == kind]


def test_transfer_agents_lists_the_tenants_available_agents_but_the_requester(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    # When agent 101 asks who can take its call (seed getTransferAgent)
    ws_message("conn-101", {"action": "transfer.agents"})
    # Then it hears of 102 only: not itself, not offline 103, not acme's 101
    answer = tabs.last("conn-101")
    assert answer["type"] == "transfer.agents"
    assert answer["agents"] == [{"ipphone": "102", "display_name": "Agent 102", "device_type": 1}]


def test_busy_or_not_ready_agents_are_not_offered(tabs: FakeManagementApi, ws_message: Send) -> None:
    # Given 102 is not ready
    ws_message("conn-102", {"action": "status", "ready": False})
    # When 101 asks
    ws_message("conn-101", {"action": "transfer.agents"})
    # Then nobody is offered, and a transfer to 102 is refused with the seed's code
    assert tabs.last("conn-101")["agents"] == []
    ws_message("conn-101", {"action": "transfer.agent", "ipphone": "102"})
    error = tabs.last("conn-101")
    assert (error["type"], error["code"], error["action"]) == (
        "error",
        "TRANSFER_CALL_FAILED",
        "transfer.agent",
    )
    # And a busy agent (a call ringing) is not offered either
    ws_message("conn-102", {"action": "status", "ready": True})
    presence.record_call_event("demo", "102", "ringing", "c-9", "0901", "inbound")
    ws_message("conn-101", {"action": "transfer.agents"})
    assert tabs.last("conn-101")["agents"] == []


def test_a_transfer_request_reaches_every_tab_of_the_target(
    tabs: FakeManagementApi, ws_message: Send, table: Any
) -> None:
    # When 101 asks 102 to take its call (seed csTransferCallAgent('102'))
    transfer_id = _ask(tabs, ws_message)
    # Then both of 102's tabs get the request, with the call and who drops it
    for tab in ("conn-102", "conn-102b"):
        request = tabs.last(tab)
        assert request["type"] == "transfer.request"
        assert request["transfer_id"] == transfer_id
        assert (request["from_ipphone"], request["from_name"]) == ("101", "Agent 101")
        assert (request["callid"], request["phone"]) == ("1700.42", "0904824242")
    # And the request is one pending item with a deadline 10 s ahead and a TTL
    item = table.get_item(Key=keys.transfer("demo", transfer_id))["Item"]
    assert item["status"] == "pending"
    assert item["from_connection"] == "conn-101"
    assert 9_000 <= int(item["deadline_ms"]) - transfers._now_ms() <= 10_000
    assert int(item["expires_at"]) > int(item["deadline_ms"]) // 1000
    # And acme's agent heard nothing
    assert tabs.types("conn-acme") == []


def test_accept_tells_the_requesting_tab_ok_and_closes_the_prompt_everywhere(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    # Given a pending request to 102
    transfer_id = _ask(tabs, ws_message)
    # When one of 102's tabs accepts (seed responseTransferAgent(1))
    ws_message("conn-102b", {"action": "transfer.respond", "transfer_id": transfer_id, "accept": True})
    # Then the requesting tab gets OK with the extension to transfer the call to
    response = tabs.last("conn-101")
    assert response["type"] == "transfer.response"
    assert (response["status"], response["reason"], response["target"]) == ("OK", "accepted", "102")
    # And every tab of 102 closes its prompt
    assert tabs.last("conn-102")["type"] == "transfer.closed"
    assert tabs.last("conn-102b") | {"ts": None} == {
        "type": "transfer.closed",
        "v": 1,
        "ts": None,
        "transfer_id": transfer_id,
        "status": "accepted",
    }
    # When the other tab answers too late (reject), the first answer stands
    ws_message("conn-102", {"action": "transfer.respond", "transfer_id": transfer_id, "accept": False})
    assert tabs.last("conn-102")["status"] == "accepted"
    assert len(_frames(tabs, "conn-101", "transfer.response")) == 1


def test_reject_tells_the_requesting_tab_nok(tabs: FakeManagementApi, ws_message: Send) -> None:
    transfer_id = _ask(tabs, ws_message)
    # When 102 rejects (seed responseTransferAgent(0))
    ws_message("conn-102", {"action": "transfer.respond", "transfer_id": transfer_id, "accept": False})
    # Then 101 hears NOK
    response = tabs.last("conn-101")
    assert (response["type"], response["status"], response["reason"]) == (
        "transfer.response",
        "NOK",
        "rejected",
    )


def test_an_answer_after_the_deadline_expires_the_transfer(
    tabs: FakeManagementApi, ws_message: Send, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request nobody answered for 10 s
    transfer_id = _ask(tabs, ws_message)
    later = transfers._now_ms() + 10_500
    monkeypatch.setattr(transfers, "_now_ms", lambda: later)
    # When 102 accepts now
    ws_message("conn-102", {"action": "transfer.respond", "transfer_id": transfer_id, "accept": True})
    # Then it is too late: the requester hears NOK (expired) and 102's tabs close the prompt
    response = tabs.last("conn-101")
    assert (response["status"], response["reason"]) == ("NOK", "expired")
    assert tabs.last("conn-102")["type"] == "transfer.closed"
    assert tabs.last("conn-102")["status"] == "expired"
    assert tabs.last("conn-102b")["status"] == "expired"


def test_only_the_target_may_answer(tabs: FakeManagementApi, ws_message: Send) -> None:
    transfer_id = _ask(tabs, ws_message)
    # When the requester itself, or another tenant's agent with the same extension, answers
    for intruder in ("conn-101", "conn-acme"):
        ws_message(intruder, {"action": "transfer.respond", "transfer_id": transfer_id, "accept": True})
        # Then it is refused, and the request is still pending
        assert (tabs.last(intruder)["type"], tabs.last(intruder)["code"]) == ("error", "TRANSFER_NOT_FOUND")
    assert _frames(tabs, "conn-101", "transfer.response") == []


def test_the_requester_can_cancel_and_a_later_answer_is_closed(
    tabs: FakeManagementApi, ws_message: Send
) -> None:
    transfer_id = _ask(tabs, ws_message)
    # When 101 gives up (its own timer ran out)
    ws_message("conn-101", {"action": "transfer.cancel", "transfer_id": transfer_id})
    # Then 102's tabs close the prompt
    assert tabs.last("conn-102")["status"] == "cancelled"
    # And 102's late accept changes nothing: it is told the request is closed, 101 hears nothing
    ws_message("conn-102", {"action": "transfer.respond", "transfer_id": transfer_id, "accept": True})
    assert (tabs.last("conn-102")["type"], tabs.last("conn-102")["status"]) == (
        "transfer.closed",
        "cancelled",
    )
    assert _frames(tabs, "conn-101", "transfer.response") == []


@pytest.mark.parametrize(
    ("ipphone", "why"),
    [("101", "to the agent who has it"), ("103", "not available"), ("999", "no agent 999")],
)
def test_transfers_to_self_offline_or_unknown_agents_fail(
    tabs: FakeManagementApi, ws_message: Send, ipphone: str, why: str
) -> None:
    ws_message("conn-101", {"action": "transfer.agent", "ipphone": ipphone})
    error = tabs.last("conn-101")
    assert (error["type"], error["code"]) == ("error", "TRANSFER_CALL_FAILED")
    assert why in error["message"]


def test_a_target_whose_tabs_are_all_gone_is_not_asked(tabs: FakeManagementApi, ws_message: Send) -> None:
    # Given 102's tabs closed without a $disconnect (API Gateway answers 410)
    tabs.open -= {"conn-102", "conn-102b"}
    # When 101 asks 102
    ws_message("conn-101", {"action": "transfer.agent", "ipphone": "102"})
    # Then the transfer fails at once instead of waiting 10 s for nobody
    assert tabs.last("conn-101")["code"] == "TRANSFER_CALL_FAILED"


def test_queue_transfers_resolve_the_queue_number(
    tabs: FakeManagementApi, ws_message: Send, admin: TenantAdmin
) -> None:
    # Given the tenant maps queue "sales" to 8001
    admin.repository.update_tenant("demo", {"transfer_queues": {"sales": "8001"}})
    transfers.repository.clear_cache()
    # When 101 transfers to queue "sales", to queue "8002" (an extension itself), to an unknown queue
    ws_message("conn-101", {"action": "transfer.queue", "queue_id": "sales"})
    assert tabs.last("conn-101") | {"ts": None} == {
        "type": "transfer.target",
        "v": 1,
        "ts": None,
        "queue_id": "sales",
        "target": "8001",
    }
    ws_message("conn-101", {"action": "transfer.queue", "queue_id": "8002"})
    assert tabs.last("conn-101")["target"] == "8002"
    ws_message("conn-101", {"action": "transfer.queue", "queue_id": "support"})
    assert tabs.last("conn-101")["code"] == "TRANSFER_CALL_FAILED"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "transfer.agent"},
        {"action": "transfer.agent", "ipphone": "../102"},
        {"action": "transfer.respond", "transfer_id": "x", "accept": True},
        {"action": "transfer.respond", "transfer_id": "abcdefgh12"},
        {"action": "transfer.queue", "queue_id": "a b"},
    ],
)
def test_malformed_transfer_frames_are_validation_errors(
    tabs: FakeManagementApi, ws_message: Send, body: dict[str, Any]
) -> None:
    ws_message("conn-101", body)
    assert tabs.last("conn-101")["code"] == "VALIDATION_ERROR"
