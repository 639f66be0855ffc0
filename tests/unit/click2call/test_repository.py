"""Requests only ever move forward, whatever order the webphone and the PBX report in."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations
from typing import Any

import pytest
from moto import mock_aws

from ctibridge.click2call import repository
from ctibridge.click2call.models import OutboundRequest, Route, Source, Status, call_token, new_request_id
from tests.support.aws import create_table_from_template


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield create_table_from_template("ctibridge-test")


def _stored() -> OutboundRequest:
    request_id = new_request_id()
    request = OutboundRequest(
        request_id=request_id,
        tenant_id="demo",
        extension="101",
        phone="0901234567",
        source=Source.API,
        route=Route.BROWSER,
        call_token=call_token(request_id),
        userfield="order-42",
    )
    repository.put(request)
    return request


def test_put_then_get_round_trips(table: Any) -> None:
    stored = _stored()
    found = repository.get("demo", stored.request_id)
    assert found is not None
    assert (found.status, found.userfield, found.route) == (Status.QUEUED, "order-42", Route.BROWSER)
    # another tenant never sees it
    assert repository.get("acme", stored.request_id) is None


@pytest.mark.parametrize("reports", list(permutations([Status.DIALING, Status.RINGING, Status.ANSWERED])))
def test_any_report_order_ends_answered(table: Any, reports: tuple[Status, ...]) -> None:
    stored = _stored()
    for status in reports:
        repository.advance("demo", stored.request_id, status)
    final = repository.get("demo", stored.request_id)
    assert final is not None
    assert final.status is Status.ANSWERED


def test_a_failure_is_final_and_keeps_its_code(table: Any) -> None:
    stored = _stored()
    repository.advance(
        "demo", stored.request_id, Status.FAILED, error_code="IPCC_NOT_CONNECT_CUSTOMER", sip_code=486
    )
    assert repository.advance("demo", stored.request_id, Status.RINGING) is None
    final = repository.get("demo", stored.request_id)
    assert final is not None
    assert (final.status, final.error_code, final.sip_code) == (
        Status.FAILED,
        "IPCC_NOT_CONNECT_CUSTOMER",
        486,
    )


def test_same_status_may_add_the_pbx_callid(table: Any) -> None:
    stored = _stored()
    repository.advance("demo", stored.request_id, Status.ANSWERED)
    updated = repository.advance("demo", stored.request_id, Status.ANSWERED, callid="pbx-1")
    assert updated is not None
    assert updated.callid == "pbx-1"


def test_unknown_request_changes_nothing(table: Any) -> None:
    assert repository.advance("demo", new_request_id(), Status.DIALING) is None
