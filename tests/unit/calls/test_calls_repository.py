"""The call repository: listing by date, phone and extension (newest first), cursors, recordings; no Scan."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctibridge import aws
from ctibridge.calls.query import CallQuery, InvalidCursor, InvalidFilter
from ctibridge.calls.repository import CallRepository, StoredRecording
from tests.support.calls import RecordingResources, call_log, counting_aws_calls, ring

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def repo(aws: RecordingResources) -> CallRepository:
    repository = CallRepository("ctibridge-test")
    # Six calls of demo, an hour apart: c0 oldest ... c5 newest; two phones, two extensions, statuses.
    for n in range(6):
        phone, e164 = ("0904824242", "+84904824242") if n % 2 == 0 else ("0911234567", "+84911234567")
        repository.record_event(
            "demo",
            call_log(
                f"c{n}",
                calldate=T0 + timedelta(hours=n),
                phone=phone,
                e164=e164,
                extension="101" if n < 3 else "102",
                status="ANSWERED" if n != 4 else "NO ANSWER",
            ),
        )
    # The same callid and phone in another tenant must never show up in demo's lists.
    repository.record_event("acme", call_log("c0", calldate=T0))
    return repository


def _ids(repository: CallRepository, tenant: str = "demo", **filters: object) -> list[str]:
    return [c.callid for c in repository.list_calls(tenant, CallQuery(**filters)).items]  # type: ignore[arg-type]


def test_lists_newest_first_by_date_phone_and_extension(repo: CallRepository) -> None:
    assert _ids(repo) == ["c5", "c4", "c3", "c2", "c1", "c0"]
    # A search by phone finds the calls whatever form the number is written in
    assert _ids(repo, phone="090 482 4242") == ["c4", "c2", "c0"]
    assert _ids(repo, phone="+84911234567") == ["c5", "c3", "c1"]
    assert _ids(repo, extension="101") == ["c2", "c1", "c0"]
    assert _ids(repo, phone="0904824242", extension="102") == ["c4"]
    assert _ids(repo, status="no answer") == ["c4"]
    assert _ids(repo, "acme") == ["c0"]


def test_time_bounds_are_from_inclusive_to_exclusive(repo: CallRepository) -> None:
    assert _ids(repo, start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=4)) == ["c3", "c2"]
    assert _ids(repo, start=T0 + timedelta(hours=4)) == ["c5", "c4"]
    assert _ids(repo, end=T0 + timedelta(hours=1)) == ["c0"]
    assert _ids(repo, extension="102", start=T0 + timedelta(hours=4)) == ["c5", "c4"]
    with pytest.raises(InvalidFilter):
        repo.list_calls("demo", CallQuery(start=T0, end=T0))


FILTERS: list[dict[str, Any]] = [
    {},
    {"phone": "0904824242"},
    {"extension": "102"},
    {"status": "ANSWERED"},
    {"phone": "0911234567", "extension": "101"},
]


def test_pages_cover_every_call_exactly_once(repo: CallRepository) -> None:
    for filters in FILTERS:
        for limit in (1, 2, 4):
            # Given the full answer in one page
            everything = _ids(repo, **filters)
            # When the same query is paged through with its cursors
            seen: list[str] = []
            cursor = None
            for _ in range(20):
                page = repo.list_calls("demo", CallQuery(limit=limit, cursor=cursor, **filters))
                assert len(page.items) <= limit
                seen += [c.callid for c in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
            # Then the pages, in order, are that answer
            assert seen == everything, (filters, limit)


def _cursor(repo: CallRepository, **filters: object) -> str:
    page = repo.list_calls("demo", CallQuery(limit=1, **filters))  # type: ignore[arg-type]
    assert page.next_cursor
    return page.next_cursor


def _tampered(cursor: str, change: dict[str, object]) -> str:
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for path, value in change.items():
        target = document
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def test_a_cursor_of_another_tenant_or_query_is_refused(repo: CallRepository) -> None:
    cursor = _cursor(repo)
    # Another tenant presenting demo's cursor
    with pytest.raises(InvalidCursor):
        repo.list_calls("acme", CallQuery(cursor=cursor))
    # A cursor of one filter used with another
    with pytest.raises(InvalidCursor):
        repo.list_calls("demo", CallQuery(cursor=cursor, extension="101"))
    with pytest.raises(InvalidCursor):
        repo.list_calls("demo", CallQuery(cursor=_cursor(repo, phone="0904824242"), phone="0911234567"))
    # Forged cursors: claiming to be acme's, pointing into acme's partition, or garbage
    forged = [
        _tampered(cursor, {"t": "acme"}),
        _tampered(cursor, {"k.PK": "TENANT#acme#CALL#c0"}),
        _tampered(cursor, {"k.GSI1PK": "TENANT#acme#CALLS"}),
        _tampered(cursor, {"k.extra": "x"}),
        "not-a-cursor!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
    ]
    for bad in forged:
        with pytest.raises(InvalidCursor):
            repo.list_calls("demo", CallQuery(cursor=bad))


def test_no_scan_anywhere(repo: CallRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.reset()
    with counting_aws_calls(monkeypatch) as counter:
        # When every read and write of the repository runs
        repo.record_event("demo", ring("c9"))
        repo.record_event("demo", ring("c9"))
        repo.get("demo", "c9")
        for filters in FILTERS:
            repo.list_calls("demo", CallQuery(limit=2, **filters))
        repo.save_recording("demo", "c0", "https://x/y.wav", StoredRecording("k", 1, "0" * 64, "audio/wav"))
        repo.mark_recording_failed("demo", "c0", "https://x/y.wav", "RECORDING_HTTP_403")
    # Then only key-addressed operations were used
    assert set(counter.counts) <= {"dynamodb.UpdateItem", "dynamodb.GetItem", "dynamodb.Query"}
    assert counter.counts["dynamodb.UpdateItem"] == 4


def test_a_duplicate_answers_the_stored_record_in_one_call(
    repo: CallRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.reset()
    with counting_aws_calls(monkeypatch) as counter:
        result = repo.record_event("demo", call_log("c0", calldate=T0, status="ANSWERED", extension="101"))
    assert not result.new
    assert result.call.callid == "c0"
    assert result.call.status == "ANSWERED"
    assert counter.of("dynamodb") == 1


def test_recordings_attach_only_to_the_current_url(repo: CallRepository) -> None:
    stored = StoredRecording("recordings/demo/2024/05/01/c0.wav", 10, "a" * 64, "audio/wav")
    url = "https://pbx.example.com/rec/c-1.wav"  # what call_log() sends
    # A recording fetched from an URL the call no longer has is not attached
    assert not repo.save_recording("demo", "c0", "https://old/url.wav", stored)
    # The current one is, and a later permanent failure for it cannot hide it
    assert repo.save_recording("demo", "c0", url, stored)
    assert not repo.mark_recording_failed("demo", "c0", url, "RECORDING_HTTP_403")
    call = repo.get("demo", "c0")
    assert call is not None
    assert call.recording_state.value == "stored"
    assert (call.recording_s3_key, call.recording_size, call.recording_sha256) == (
        stored.s3_key,
        10,
        "a" * 64,
    )
    # And a call of another tenant with the same callid is untouched
    other = repo.get("acme", "c0")
    assert other is not None
    assert other.recording_state.value == "pending"
