"""The merge of a call's events: any order, any duplication, one correct call record.

``calls.merge.apply`` is the executable rule; the last test checks DynamoDB (moto) does exactly what
``apply`` says, for random event sequences, through the repository's single conditional UpdateItem.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from ctibridge import aws
from ctibridge.calls import merge
from ctibridge.calls.models import DIALING, RINGING, CallEvent, CallRecord, EventKind, format_timestamp
from ctibridge.calls.repository import CallRepository
from tests.support.aws import create_table_from_template
from tests.support.calls import call_log, ring

TENANT = "demo"
BASE = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@st.composite
def call_events(draw: st.DrawFn) -> tuple[list[CallEvent], list[CallEvent]]:
    """(the distinct events of one call, their deliveries in arrival order with retries)."""
    callid = draw(st.sampled_from(["1565944170.123", "c-1", "a/b#c"]))
    ring_kind = draw(st.sampled_from([None, EventKind.INCOMING, EventKind.OUTGOING]))
    answered = draw(st.booleans()) or ring_kind is None
    ring_extensions = draw(
        st.lists(st.sampled_from(["101", "102", "103"]), min_size=1, max_size=3, unique=True)
    )
    events: list[CallEvent] = []
    if ring_kind is not None:
        # A ring group rings several extensions of the same call only when the call log follows (else
        # "first ring wins" makes the extension order-dependent by design; see the example test below).
        for extension in ring_extensions if answered else ring_extensions[:1]:
            events.append(ring(callid, kind=ring_kind, extension=extension))
    if answered:
        events.append(
            call_log(
                callid,
                extension=draw(st.sampled_from(["101", "102"])),
                status=draw(st.sampled_from(["ANSWERED", "NO ANSWER", "BUSY", "WEIRD"])),
                recording=draw(st.sampled_from([None, "https://pbx/rec.wav"])),
                userfield=draw(st.sampled_from([None, "order-1"])),
                calldate=BASE - timedelta(seconds=draw(st.integers(0, 3600))),
            )
        )
    copies = [e for e in events for _ in range(draw(st.integers(1, 3)))]
    order = draw(st.permutations(copies))
    # Deliveries arrive one second apart; a retry is the same content, received later.
    deliveries = [
        dataclasses.replace(e, received_at=BASE + timedelta(seconds=i)) for i, e in enumerate(order)
    ]
    return events, deliveries


def fold(deliveries: list[CallEvent]) -> tuple[dict[str, Any], int]:
    """The item after every delivery, and how many deliveries were new (not duplicates)."""
    item: dict[str, Any] | None = None
    new = 0
    for event in deliveries:
        after = merge.apply(item, merge.plan(TENANT, event))
        if after is not None:
            item, new = after, new + 1
    assert item is not None
    return item, new


@settings(deadline=None)
@given(call_events())
def test_any_order_and_duplication_make_one_correct_record(
    case: tuple[list[CallEvent], list[CallEvent]],
) -> None:
    events, deliveries = case
    # When every delivery, duplicates included, is merged in arrival order
    item, new = fold(deliveries)
    # Then each distinct event was applied exactly once
    assert new == len(events)
    assert item["event_ids"] == frozenset(e.event_id for e in events)
    rings = [e for e in events if e.kind.is_ring]
    log = next((e for e in events if e.kind is EventKind.ANSWERED), None)
    first_arrival = {
        e.event_id: min(d.received_at for d in deliveries if d.event_id == e.event_id) for e in events
    }
    # And the call log is authoritative for what it carries (read as the API reads the item)
    call = CallRecord.from_item({**item, "event_ids": set(item["event_ids"])})
    assert (call.tenant_id, call.callid) == (TENANT, deliveries[0].callid)
    if log is not None:
        assert log.calldate is not None
        assert call.status == log.status
        assert (call.extension, call.phone) == (log.extension, log.phone)
        assert call.started_at == format_timestamp(log.calldate)
        assert (call.duration, call.billsec) == (log.duration, log.billsec)
        assert call.recording_url == log.recording
        assert call.userfield == log.userfield
    else:
        first_ring = min(rings, key=lambda e: first_arrival[e.event_id])
        assert call.status == (DIALING if first_ring.kind is EventKind.OUTGOING else RINGING)
        assert call.extension == first_ring.extension
        assert call.started_at == format_timestamp(first_arrival[first_ring.event_id])
    # And the ring events give the direction and the extensions that rang
    if rings:
        first_ring = min(rings, key=lambda e: first_arrival[e.event_id])
        assert call.direction == ("outbound" if first_ring.kind is EventKind.OUTGOING else "inbound")
        assert set(call.rang_extensions) == {e.extension for e in rings}
    else:
        assert call.direction is None
    # And every index sort key is the one call time, so the three listings agree
    sort_key = f"{call.started_at}#{call.callid}"
    assert item["GSI1SK"] == item["GSI2SK"] == item["GSI3SK"] == sort_key
    assert item["GSI3PK"] == f"TENANT#{TENANT}#EXT#{call.extension}"
    first = min(rings, key=lambda e: first_arrival[e.event_id]) if rings else log
    assert first is not None
    assert call.first_seen_at == format_timestamp(first_arrival[first.event_id])


@settings(deadline=None)
@given(call_events(), st.randoms(use_true_random=False))
def test_the_record_does_not_depend_on_the_order(
    case: tuple[list[CallEvent], list[CallEvent]], rnd: Any
) -> None:
    events, deliveries = case
    # Given the same deliveries in another order (arrival times reassigned: a first arrival is earliest)
    shuffled = list(deliveries)
    rnd.shuffle(shuffled)
    shuffled = [
        dataclasses.replace(e, received_at=BASE + timedelta(seconds=i)) for i, e in enumerate(shuffled)
    ]
    first, _ = fold(deliveries)
    second, _ = fold(shuffled)
    # Then the calls read the same, but for when events arrived (and, without a call log, the time
    # the call is sorted by: the first ring's arrival)
    ignored = {"first_seen_at", "updated_at"}
    if not any(e.kind is EventKind.ANSWERED for e in events):
        ignored |= {"started_at"}
    views = [CallRecord.from_item(item).model_dump(exclude=ignored) for item in (first, second)]
    assert views[0] == views[1]
    index_keys = ("GSI1PK", "GSI2PK", "GSI3PK")
    assert [first.get(k) for k in index_keys] == [second.get(k) for k in index_keys]


@settings(deadline=None)
@given(call_events())
def test_a_duplicate_changes_nothing(case: tuple[list[CallEvent], list[CallEvent]]) -> None:
    events, deliveries = case
    item, _ = fold(deliveries)
    for event in events:
        retry = dataclasses.replace(event, received_at=BASE + timedelta(days=1))
        assert merge.apply(item, merge.plan(TENANT, retry)) is None


def test_without_a_call_log_the_first_ring_of_a_ring_group_wins() -> None:
    # Given a call ringing 101 then 102 (a ring group), no call log yet
    item, _ = fold([ring(extension="101", at=BASE), ring(extension="102", at=BASE + timedelta(seconds=1))])
    # Then the call shows the first extension rung, and both in rang_extensions
    call = CallRecord.from_item(item)
    assert call.extension == "101"
    assert call.rang_extensions == ["101", "102"]


def test_a_corrected_call_log_is_a_new_event_and_wins() -> None:
    # Given a call log, then the PBX sends a corrected one for the same callid
    item, new = fold([call_log(billsec=11, at=BASE), call_log(billsec=12, at=BASE + timedelta(seconds=5))])
    # Then both were applied and the later one holds
    assert new == 2
    assert CallRecord.from_item(item).billsec == 12


@pytest.fixture(scope="module")
def merge_table() -> Iterator[CallRepository]:
    # One moto table for every example (starting moto per example costs ~0.7 s); examples use their
    # own callids, so they do not see each other.
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        create_table_from_template("merge-test")
        yield CallRepository("merge-test")


_example = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=call_events())
def test_dynamodb_merges_exactly_as_the_rule_says(
    merge_table: CallRepository, case: tuple[list[CallEvent], list[CallEvent]]
) -> None:
    _, deliveries = case
    suffix = f"-{next(_example)}"
    deliveries = [dataclasses.replace(e, callid=e.callid + suffix) for e in deliveries]
    expected, new = fold(deliveries)
    # When the deliveries go through the repository's one conditional UpdateItem each
    results = [merge_table.record_event(TENANT, event) for event in deliveries]
    stored = aws.table("merge-test").get_item(Key=merge.plan(TENANT, deliveries[0]).key)
    # Then DynamoDB holds what the rule computes, and duplicates were recognized as such
    assert sum(r.new for r in results) == new
    item = {k: (frozenset(v) if isinstance(v, set) else v) for k, v in stored["Item"].items()}
    assert item == expected
