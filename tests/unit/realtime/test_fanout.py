"""Fan-out to an agent's tabs: the right tabs only, concurrently, gone tabs cleaned, others unharmed."""

from __future__ import annotations

import time

from ctibridge import connections, keys
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import Status
from tests.support.realtime import Connect, FakeManagementApi, open_tab


def test_send_to_agent_reaches_every_tab_of_that_agent_only(
    gateway: FakeManagementApi, ws_connect: Connect
) -> None:
    # Given two tabs of demo/101, one of demo/102 and one of acme/101 (same extension, other tenant)
    open_tab(gateway, ws_connect, "demo", "101", "a")
    open_tab(gateway, ws_connect, "demo", "101", "b")
    open_tab(gateway, ws_connect, "demo", "102", "c")
    open_tab(gateway, ws_connect, "acme", "101", "d")
    # When a message goes to demo/101
    delivered = fanout.send_to_agent("demo", "101", Status(ready=False))
    # Then both of its tabs have it, nobody else
    assert delivered == 2
    assert gateway.types("a") == ["status"]
    assert gateway.types("b") == ["status"]
    assert gateway.types("c") == []
    assert gateway.types("d") == []


def test_a_gone_tab_is_forgotten_and_the_others_still_get_the_message(
    gateway: FakeManagementApi, ws_connect: Connect
) -> None:
    # Given three tabs; the first (voice holder) was closed without a $disconnect reaching us
    for connection_id in ("a", "b", "c"):
        open_tab(gateway, ws_connect, "demo", "101", connection_id)
    gateway.open.discard("a")
    # When a message goes to the agent
    outcome = fanout.deliver_to_agent("demo", "101", Status(ready=True))
    # Then the two open tabs got it
    assert sorted(c.connection_id for c in outcome.delivered) == ["b", "c"]
    assert [c.connection_id for c in outcome.gone] == ["a"]
    # And the gone tab's items (agent item, reverse item, state member) are removed; the others stay
    assert connections.get("a") is None
    assert sorted(c.connection_id for c in connections.for_agent("demo", "101")) == ["b", "c"]
    state = presence.get_state("demo", "101")
    assert sorted(state.connections) == ["b", "c"]
    # And as it held voice, voice is free and the open tabs are told
    assert state.voice_connection is None
    assert gateway.last("b")["type"] == "voice"
    assert gateway.last("b")["reason"] == "released"


def test_a_failing_post_does_not_stop_the_others_nor_forget_the_tab(
    gateway: FakeManagementApi, ws_connect: Connect
) -> None:
    # Given three tabs, posts to one of them are throttled
    for connection_id in ("a", "b", "c"):
        open_tab(gateway, ws_connect, "demo", "101", connection_id)
    gateway.fail.add("b")
    # When a message goes out
    outcome = fanout.deliver_to_agent("demo", "101", Status(ready=True))
    # Then the other two got it, and the throttled tab is kept (it is not gone)
    assert sorted(c.connection_id for c in outcome.delivered) == ["a", "c"]
    assert [c.connection_id for c in outcome.failed] == ["b"]
    assert connections.get("b") is not None


def test_posts_to_many_tabs_go_out_concurrently(gateway: FakeManagementApi, ws_connect: Connect) -> None:
    # Given eight tabs, and a gateway that takes 100 ms per post
    for index in range(8):
        open_tab(gateway, ws_connect, "demo", "101", f"tab-{index}")
    gateway.delay = 0.1
    # When a message goes to the agent
    delivered = fanout.send_to_agent("demo", "101", Status(ready=True))
    # Then all got it, the posts overlapping rather than one after another (counted by the gateway, not
    # timed: a loaded machine stretches times, not the overlap)
    assert delivered == 8
    assert gateway.most_in_flight > 1, gateway.most_in_flight


def test_expired_tab_items_are_skipped_without_a_post(
    gateway: FakeManagementApi, ws_connect: Connect, table: object
) -> None:
    # Given a tab whose items outlived API Gateway's 2-hour maximum (TTL deletion is lazy)
    open_tab(gateway, ws_connect, "demo", "101", "old")
    table.update_item(  # type: ignore[attr-defined]
        Key=keys.agent_connection("demo", "101", "old"),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    # When a message goes out
    delivered = fanout.send_to_agent("demo", "101", Status(ready=True))
    # Then nothing is posted to it
    assert delivered == 0
    assert gateway.types("old") == []


def test_send_to_connection_forgets_a_gone_connection(
    gateway: FakeManagementApi, ws_connect: Connect
) -> None:
    open_tab(gateway, ws_connect, "demo", "101", "a")
    gateway.open.discard("a")
    assert fanout.send_to_connection("a", Status(ready=True)) is False
    assert connections.get("a") is None
    assert connections.for_agent("demo", "101") == []


def test_the_fan_out_reads_what_posting_needs_and_the_full_read_the_rest(
    gateway: FakeManagementApi, ws_connect: Connect
) -> None:
    # Given two tabs of one login
    open_tab(gateway, ws_connect, "demo", "101", "a")
    open_tab(gateway, ws_connect, "demo", "101", "b")
    full = {c.connection_id: c for c in connections.for_agent("demo", "101")}
    assert all(c.session_id for c in full.values())
    # When the tabs are read for a post
    posting = {c.connection_id: c for c in connections.for_agent("demo", "101", only_for_posting=True)}
    # Then they are the same tabs with everything a post and a gone tab's cleanup use, and no more
    assert posting.keys() == full.keys()
    for connection_id, connection in posting.items():
        assert connection.session_id is None
        assert connection == full[connection_id].model_copy(update={"session_id": None, "device_type": None})
