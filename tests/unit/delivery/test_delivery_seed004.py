"""The seed004 format: what a CRM written for seed 004 receives is what the seed's PBX would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ctibridge.calls.models import EventKind
from ctibridge.delivery import events, seed004
from ctibridge.delivery.models import EventType
from ctibridge.tenants.models import Tenant
from ctibridge.webhooks.models import parse_event

TENANT = Tenant(tenant_id="shop1", domain="shop1", timezone="Asia/Ho_Chi_Minh")
RECEIVED = datetime(2019, 8, 16, 8, 29, 31, tzinfo=UTC)
CRM = "https://crm.example.com"
SECRET = "crm-s3cret"


def crm_request(kind: EventKind, pbx_fields: dict[str, Any], base: str = CRM) -> httpx.Request:
    """What the CRM receives when the PBX sends ``pbx_fields`` for ``kind`` to CTI Bridge."""
    call_event = parse_event(kind, pbx_fields, zone=ZoneInfo(TENANT.timezone), received_at=RECEIVED)
    outbound = events.from_call_event(TENANT, call_event)
    built = seed004.build_request(base, TENANT.tenant_id, SECRET, outbound)
    return httpx.Request(
        built.method, built.url, params=built.params, headers=built.headers, content=built.content
    )


@pytest.mark.parametrize(
    ("kind", "name", "phone", "extension"),
    [
        (EventKind.INCOMING, "incoming_call", "0901234567", "101"),  # seed 004 §1.1
        (EventKind.OUTGOING, "outgoing_call", "0911234567", "102"),  # seed 004 §1.2
    ],
)
def test_ring_events_are_the_seeds_get_requests(
    kind: EventKind, name: str, phone: str, extension: str
) -> None:
    # Given the PBX's ring event, as seed 004 shows it
    fields = {"phone": phone, "extension": extension, "callid": "1565944170.1230"}
    # When it is forwarded to a seed004 endpoint
    request = crm_request(kind, fields)
    # Then the CRM gets the seed's URL, parameter for parameter and in the seed's order
    assert request.method == "GET"
    assert str(request.url) == (
        f"{CRM}/wsapi/shop1/{name}?secret={SECRET}&phone={phone}&extension={extension}&callid=1565944170.1230"
    )
    assert request.content == b""


@pytest.mark.parametrize("status", ["ANSWERED", "NO ANSER", "BUSY"])
def test_call_log_is_the_seeds_post_field_for_field(status: str) -> None:
    # Given the PBX's call log, as seed 004 §1.3 shows it (its own "NO ANSER" spelling included)
    body = {
        "callid": "1565944170.1230",
        "calldate": "2019-08-16 15:29:30",
        "extension": "101",
        "phone": "0909876242",
        "duration": 23,
        "billsec": 11,
        "status": status,
        "recording": "https://pbx.example.com/monitor/2019/08/16/1565944170.1230.wav",
        "userfield": "order-42",
    }
    # When it is forwarded to a seed004 endpoint
    request = crm_request(EventKind.ANSWERED, body)
    # Then the CRM gets POST .../call_answered?secret=... with exactly the PBX's JSON
    assert request.method == "POST"
    assert str(request.url) == f"{CRM}/wsapi/shop1/call_answered?secret={SECRET}"
    assert request.headers["content-type"] == "application/json"
    received = json.loads(request.content)
    assert list(received) == list(seed004.CALL_LOG_FIELDS) == list(body)
    assert received == body
    assert isinstance(received["duration"], int)
    assert isinstance(received["billsec"], int)


def test_call_log_dates_are_the_tenants_local_time_whatever_the_pbx_sent() -> None:
    # Given a PBX that sends its calldate in UTC ISO form
    body = {
        "callid": "c1",
        "calldate": "2019-08-16T08:29:30Z",
        "extension": "101",
        "phone": "0909876242",
        "status": "ANSWERED",
    }
    # When forwarded
    received = json.loads(crm_request(EventKind.ANSWERED, body).content)
    # Then the CRM gets the seed's "Y-m-d H:i:s" in the tenant's timezone, and strings for what was absent
    assert received["calldate"] == "2019-08-16 15:29:30"
    assert (received["duration"], received["billsec"], received["recording"], received["userfield"]) == (
        0,
        0,
        "",
        "",
    )


def test_recording_credentials_are_not_forwarded() -> None:
    # Given a recording URL with the PBX's credentials in it
    body = {
        "callid": "c1",
        "calldate": "2019-08-16 15:29:30",
        "extension": "101",
        "phone": "0909876242",
        "status": "ANSWERED",
        "recording": "https://admin:pw@pbx.example.com/rec/c1.wav",
    }
    # When forwarded, Then the CRM gets the URL without them
    assert (
        json.loads(crm_request(EventKind.ANSWERED, body).content)["recording"]
        == "https://pbx.example.com/rec/c1.wav"
    )


def test_base_path_and_crm_parameters_are_kept() -> None:
    # Given a CRM whose base has a path and its own identifying parameter (seed: "tham số môi trường")
    fields = {"phone": "0901234567", "extension": "101", "callid": "c1"}
    # When forwarded
    request = crm_request(EventKind.INCOMING, fields, base="https://crm.example.com/api/?tenant=7")
    # Then the seed's path follows the base path, the seed's parameters come first, the CRM's after
    assert str(request.url) == (
        "https://crm.example.com/api/wsapi/shop1/incoming_call"
        f"?secret={SECRET}&phone=0901234567&extension=101&callid=c1&tenant=7"
    )


def test_events_without_a_seed_request_are_refused() -> None:
    # Given a recording.ready event
    event = events.recording_ready("shop1", "c1", s3_key="k", size=1, sha256="ab", content_type="audio/wav")
    # When a seed004 request is asked for, Then there is none
    assert event.type is EventType.RECORDING_READY
    with pytest.raises(seed004.NotInSeed):
        seed004.build_request(CRM, "shop1", SECRET, event)
