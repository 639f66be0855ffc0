"""A filtered ``GET /v1/calls`` fills its pages (up to ``limit``) or ends: never an empty page with more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctibridge.calls import query as calls_query
from ctibridge.calls import repository as calls_repository
from ctibridge.calls.repository import CallRepository
from tests.support.calls import RecordingResources, call_log

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
BUSY_EVERY = 7


@pytest.fixture
def calls(aws: RecordingResources) -> CallRepository:
    """40 calls of demo, one minute apart; every 7th (c0, c7, ... c35) is BUSY, the others ANSWERED."""
    repository = CallRepository("ctibridge-test")
    for n in range(40):
        repository.record_event(
            "demo",
            call_log(
                f"c{n:02d}",
                calldate=T0 + timedelta(minutes=n),
                status="BUSY" if n % BUSY_EVERY == 0 else "ANSWERED",
            ),
        )
    return repository


def walk(repository: CallRepository, **filters: object) -> list[list[str]]:
    """Every page of a listing, following the cursors, as lists of callids."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(50):
        page = repository.list_calls("demo", calls_query.CallQuery(cursor=cursor, **filters))  # type: ignore[arg-type]
        pages.append([call.callid for call in page.items])
        cursor = page.next_cursor
        if not cursor:
            return pages
    raise AssertionError("the cursors never ended")


def test_a_filtered_listing_fills_every_page_but_the_last(calls: CallRepository) -> None:
    # When the CRM lists BUSY calls two at a time (they are 1 in 7 of the partition)
    pages = walk(calls, status="BUSY", limit=2)
    # Then every page but the last is full, none is empty, and every BUSY call comes once, newest first
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [c for p in pages for c in p] == ["c35", "c28", "c21", "c14", "c07", "c00"]


def test_a_filtered_page_holding_every_match_ends(calls: CallRepository) -> None:
    # When the page is larger than what matches
    pages = walk(calls, status="BUSY", limit=50)
    # Then one page holds them all, with no cursor to an empty page
    assert pages == [["c35", "c28", "c21", "c14", "c07", "c00"]]


def test_a_query_reading_past_the_page_skips_nothing(
    calls: CallRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given each Query evaluates 20 items, so one Query matches more BUSY calls than a page of 1 holds
    monkeypatch.setattr(calls_repository, "FILTERED_READ_LIMIT", 20)
    # When the CRM walks the BUSY calls one at a time
    pages = walk(calls, status="BUSY", limit=1)
    # Then the cursor is the last returned call's: nothing read past a page is lost
    assert pages == [["c35"], ["c28"], ["c21"], ["c14"], ["c07"], ["c00"]]


def test_a_sparse_filter_reads_on_instead_of_answering_an_empty_page(
    calls: CallRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given small Queries (3 items each): the only match of an extension filter is the oldest call
    monkeypatch.setattr(calls_repository, "FILTERED_READ_LIMIT", 3)
    calls.record_event("demo", call_log("old", calldate=T0 - timedelta(days=1), status="FAILED"))
    # When the CRM lists FAILED calls
    pages = walk(calls, status="FAILED", limit=5)
    # Then the first page reads past the 40 non-matching calls (14 Queries, more than a full page's
    # budget of 5) and finds it, instead of answering [] with a cursor
    assert pages == [["old"]]


def test_an_unfiltered_listing_still_pages_exactly(calls: CallRepository) -> None:
    pages = walk(calls, limit=15)
    assert [len(p) for p in pages] == [15, 15, 10]
    assert len({c for p in pages for c in p}) == 40
