"""``ctibridge calls list|show``: the operator's view of a tenant's stored calls (as GET /v1/calls)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ctibridge.calls.repository import CallRepository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.calls import RecordingResources, call_log, ring
from tests.unit.calls.conftest import STAGE, TABLE

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City, the demo tenant's timezone


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--table", TABLE, "--stage", STAGE, *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> Any:
    code, out, err = run("--json", *argv)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def stored(tenants: TenantAdmin, aws: RecordingResources) -> None:
    calls = CallRepository(TABLE)
    # demo: a call the PBX logged (ext 101, answered), a call that has only rung so far (ext 102), and
    # acme: a call of another tenant
    calls.record_event("demo", ring("logged", extension="101", at=T0))
    calls.record_event("demo", call_log("logged", calldate=T0, extension="101", billsec=65))
    calls.record_event("demo", ring("rang", extension="102", at=datetime(2024, 5, 1, 2, 30, tzinfo=UTC)))
    calls.record_event("acme", call_log("other", calldate=T0))


def test_the_list_is_the_tenants_newest_first_on_the_tenants_clock(stored: None) -> None:
    code, out, err = run("calls", "list", "demo")
    assert code == 0, err
    header, first, second, *rest = out.splitlines()
    assert header.split() == [
        "WHEN",
        "DIRECTION",
        "PHONE",
        "EXTENSION",
        "STATUS",
        "BILLSEC",
        "RECORDING",
        "CALLID",
    ]
    # One clock for both rows (Asia/Ho_Chi_Minh): the rung call's UTC instant and the PBX's calldate
    assert first.split()[:6] == ["2024-05-01", "09:30:00", "inbound", "0904824242", "102", "RINGING"]
    assert first.split()[-1] == "rang"
    assert second.split()[:7] == ["2024-05-01", "08:00:00", "inbound", "0904824242", "101", "ANSWERED", "65"]
    assert second.split()[-1] == "logged"
    assert rest == []  # acme's call is not listed


def test_filters_and_pages_are_the_calls_apis(stored: None) -> None:
    assert [c["callid"] for c in run_json("calls", "list", "demo", "--extension", "101")["items"]] == [
        "logged"
    ]
    assert [c["callid"] for c in run_json("calls", "list", "demo", "--status", "RINGING")["items"]] == [
        "rang"
    ]
    assert run_json("calls", "list", "demo", "--from", "2024-05-02")["items"] == []
    # A page of one, then the next one with the cursor the first printed
    code, out, _ = run("calls", "list", "demo", "--limit", "1")
    assert code == 0
    cursor = out.rsplit("more: --cursor ", 1)[1].strip()
    page = run_json("calls", "list", "demo", "--limit", "1", "--cursor", cursor)
    assert [c["callid"] for c in page["items"]] == ["logged"]
    assert page["next_cursor"] is None


def test_show_is_one_call_of_that_tenant_only(stored: None) -> None:
    call = run_json("calls", "show", "demo", "logged")
    assert call["callid"] == "logged"
    assert call["billsec"] == 65
    assert call["recording"]["state"] == "pending"
    assert call["recording"]["url"] is None  # nothing presigned by the CLI
    # Another tenant's call is not found through this one
    code, _, err = run("calls", "show", "demo", "other")
    assert (code, err.strip()) == (3, "ctibridge: error: CALL_NOT_FOUND: No such call.")


@pytest.mark.parametrize(
    ("argv", "exit_code", "code"),
    [
        (("calls", "list", "nosuch"), 3, "TENANT_NOT_FOUND"),
        (("calls", "list", "demo", "--from", "2024-13-01"), 2, "VALIDATION_ERROR"),
        (("calls", "list", "demo", "--cursor", "not-a-cursor"), 2, "INVALID_CURSOR"),
        (("calls", "list", "demo", "--limit", "0"), 2, "INVALID_VALUE"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code(
    stored: None, argv: tuple[str, ...], exit_code: int, code: str
) -> None:
    status, out, err = run("--json", *argv)
    assert status == exit_code
    assert out == ""
    assert json.loads(err)["error"]["code"] == code
