"""The agent's call state under at-least-once, unordered PBX events (several calls interleaved)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from ctibridge import aws
from ctibridge.realtime import presence
from tests.support.aws import create_table_from_template

CALLS = ("c1", "c2", "c3")
# One call's events: PBX ring, PBX end, and the webphone's answer; each may come twice.
EVENT = st.tuples(st.sampled_from(["ringing", "answered", "ended"]), st.sampled_from(CALLS))


def _apply(kind: str, callid: str) -> None:
    if kind == "answered":
        presence.set_call_state("demo", "101", callid, "in_call")
    else:
        presence.record_call_event("demo", "101", kind, callid, "0901234567", "inbound")  # type: ignore[arg-type]


def _table() -> Iterator[Any]:
    with mock_aws():
        aws.reset()
        yield create_table_from_template("ctibridge-test")
        aws.reset()


@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example builds a table: no shrinking
    suppress_health_check=[HealthCheck.too_slow],
)
@given(events=st.lists(EVENT, min_size=1, max_size=10))
def test_once_every_call_has_ended_the_agent_is_idle_whatever_the_order(
    events: list[tuple[str, str]],
) -> None:
    # Given several calls' events in any order, repeated, each call ending at some point
    ended = {callid for kind, callid in events if kind == "ended"}
    events = events + [("ended", callid) for callid in {c for _, c in events} - ended]
    for _ in _table():
        # When they all arrive
        for kind, callid in events:
            _apply(kind, callid)
        state = presence.get_state("demo", "101")
        # Then the agent is idle: a late ring of an ended call never brings it back
        assert state.call.state == "idle"
        assert state.call.callid is None
        # And a new call still rings
        presence.record_call_event("demo", "101", "ringing", "c-new", "0901", "inbound")
        assert presence.get_state("demo", "101").call.state == "ringing"


def test_ring_after_end_of_the_same_call_is_ignored_even_after_another_call_ended() -> None:
    for _ in _table():
        # Given c1 ended before its ring arrived, and c2 rang and ended meanwhile
        _apply("ended", "c1")
        _apply("ringing", "c2")
        _apply("ended", "c2")
        # When c1's late ring arrives
        _apply("ringing", "c1")
        # Then the agent stays idle
        assert presence.get_state("demo", "101").call.state == "idle"
