"""$connect authenticates before writing anything; $connect/$disconnect keep the tab items right."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from ctibridge import connections, keys
from ctibridge.auth import sessions
from ctibridge.realtime import presence
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.realtime import Connect, FakeManagementApi, all_items, open_tab, session_token


def _connection_items(table: Any) -> list[dict[str, Any]]:
    return [i for i in all_items(table) if str(i["SK"]).startswith("CONN") or i["SK"] == keys.AGENT_STATE_SK]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 401),
        ({"tab": "t1"}, 401),
        ({"token": "not-a-session-token"}, 401),
        ({"token": "A" * 43}, 401),  # well-formed, unknown
        ({"token": "A" * 600}, 401),
    ],
)
def test_connect_refuses_a_bad_token_before_writing(
    ws_connect: Connect, table: Any, query: dict[str, str], status: int
) -> None:
    # Given a query string without a valid session token
    before = all_items(table)
    # When the webphone opens the WebSocket
    answer = ws_connect("demo", "101", "conn-bad", query=query)
    # Then the handshake is refused and the table is untouched
    assert answer == {"statusCode": status}
    assert all_items(table) == before


def test_connect_refuses_an_expired_session(ws_connect: Connect, table: Any) -> None:
    # Given a session token whose session expired a minute ago
    token = session_token("demo", "101")
    table.update_item(
        Key=keys.session(sessions.hash_token(token)),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 60},
    )
    before = all_items(table)
    # When it is used to connect
    answer = ws_connect("demo", "101", "conn-late", token=token)
    # Then 401, nothing written
    assert answer == {"statusCode": 401}
    assert all_items(table) == before


def test_connect_refuses_a_revoked_session(ws_connect: Connect, admin: TenantAdmin, table: Any) -> None:
    # Given a session of agent 101, then an operator revokes 101's sessions
    token = session_token("demo", "101")
    admin.update_agent("demo", "101", revoke_sessions=True)
    before = all_items(table)
    # When the old token connects
    answer = ws_connect("demo", "101", "conn-revoked", token=token)
    # Then 401, nothing written
    assert answer == {"statusCode": 401}
    assert all_items(table) == before


def test_connect_refuses_a_malformed_tab_id(ws_connect: Connect, table: Any) -> None:
    # Given a live token but a tab id that is not one
    token = session_token("demo", "101")
    before = all_items(table)
    # When it connects
    answer = ws_connect("demo", "101", "conn-x", query={"token": token, "tab": "<script>"})
    # Then 400, nothing written
    assert answer == {"statusCode": 400}
    assert all_items(table) == before


def test_connect_records_both_items_and_the_first_tab_takes_voice(ws_connect: Connect, table: Any) -> None:
    # When agent 101 opens a first tab, then a second one
    assert ws_connect("demo", "101", "conn-1", tab="tab-a") == {"statusCode": 200}
    assert ws_connect("demo", "101", "conn-2", tab="tab-b") == {"statusCode": 200}
    # Then each tab is in the agent's partition and in a reverse item, with a TTL
    tabs = {c.connection_id: c for c in connections.for_agent("demo", "101")}
    assert set(tabs) == {"conn-1", "conn-2"}
    assert tabs["conn-1"].tab == "tab-a"
    reverse = connections.get("conn-2")
    assert reverse is not None
    assert (reverse.tenant_id, reverse.ipphone, reverse.tab) == ("demo", "101", "tab-b")
    assert 2 * 3600 < reverse.expires_at - reverse.connected_at <= 2 * 3600 + 600
    # And the first tab holds voice (seed: "the first tab to log in has voice"), the second does not
    state = presence.get_state("demo", "101")
    assert state.voice_connection == "conn-1"
    assert state.voice_tab == "tab-a"
    assert set(state.connections) == {"conn-1", "conn-2"}
    # And nothing was recorded for anybody else
    assert connections.for_agent("demo", "102") == []
    assert connections.for_agent("acme", "101") == []


def test_disconnect_forgets_the_tab_and_releases_voice_to_nobody(
    gateway: FakeManagementApi, ws_connect: Connect, ws_disconnect: Callable[[str], Any], table: Any
) -> None:
    # Given two open tabs of 101, the first holding voice
    open_tab(gateway, ws_connect, "demo", "101", "conn-1")
    open_tab(gateway, ws_connect, "demo", "101", "conn-2")
    # When the voice tab closes
    gateway.open.discard("conn-1")
    assert ws_disconnect("conn-1") == {"statusCode": 200}
    # Then its items are gone, the other tab stays
    assert connections.get("conn-1") is None
    assert [c.connection_id for c in connections.for_agent("demo", "101")] == ["conn-2"]
    # And voice is free (not handed over), and the remaining tab is told so
    state = presence.get_state("demo", "101")
    assert state.voice_connection is None
    assert state.connections == ("conn-2",)
    assert gateway.last("conn-2") | {"ts": None} == {
        "type": "voice",
        "v": 1,
        "ts": None,
        "enabled": False,
        "holder_tab": None,
        "reason": "released",
    }
    # And a later tab takes the free voice when it connects
    open_tab(gateway, ws_connect, "demo", "101", "conn-3")
    assert presence.voice_connection("demo", "101") == "conn-3"


def test_disconnect_of_an_unknown_connection_is_a_no_op(
    ws_disconnect: Callable[[str], Any], table: Any
) -> None:
    before = all_items(table)
    assert ws_disconnect("never-connected") == {"statusCode": 200}
    assert all_items(table) == before


def test_a_voice_holder_that_vanished_without_disconnect_is_replaced_at_connect(
    ws_connect: Connect, table: Any
) -> None:
    # Given a tab that holds voice but whose $disconnect was lost (its items expired)
    assert ws_connect("demo", "101", "conn-old")["statusCode"] == 200
    old = connections.get("conn-old")
    assert old is not None
    expired = old.model_copy(update={"expires_at": 1})
    table.update_item(
        Key=keys.agent_state("demo", "101"),
        UpdateExpression="SET tabs = :dead",
        ExpressionAttributeValues={":dead": {expired.member}},
    )
    # When a new tab connects
    assert ws_connect("demo", "101", "conn-new")["statusCode"] == 200
    # Then it takes voice, and the stale member was pruned
    assert presence.voice_connection("demo", "101") == "conn-new"
    state_item = table.get_item(Key=keys.agent_state("demo", "101"))["Item"]
    assert expired.member not in state_item["tabs"]
