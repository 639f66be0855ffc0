"""The calls API for the CRM: filters, pagination, presigned recordings, tenant isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from ctibridge.calls.repository import CallRepository, StoredRecording
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.aws import http_event
from tests.support.calls import ACME_API_KEY, Invoke, RecordingResources, call_log, ring

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City
DEMO = {"x-api-key": "demo-api-key"}
ACME = {"authorization": f"Bearer {ACME_API_KEY}"}


@pytest.fixture
def calls(tenants: TenantAdmin, aws: RecordingResources) -> CallRepository:
    repository = CallRepository("ctibridge-test")
    for n in range(5):
        repository.record_event(
            "demo",
            call_log(
                f"c{n}",
                calldate=T0
                + timedelta(hours=n * 6),  # local: c0 08:00, c1 14:00, c2 20:00 May 1; c3, c4 May 2
                extension="101" if n % 2 == 0 else "102",
                status="ANSWERED" if n < 3 else "BUSY",
                phone="0904824242" if n < 4 else "0911234567",
                e164="+84904824242" if n < 4 else "+84911234567",
            ),
        )
    repository.record_event("demo", ring("c0"))
    repository.record_event("acme", call_log("a0", calldate=T0))
    # c0's recording is stored
    boto3.client("s3").put_object(Bucket=aws.bucket, Key="recordings/demo/2024/05/01/c0.wav", Body=b"RIFF")
    repository.save_recording(
        "demo",
        "c0",
        "https://pbx.example.com/rec/c-1.wav",
        StoredRecording("recordings/demo/2024/05/01/c0.wav", 4, "f" * 64, "audio/wav"),
    )
    return repository


def list_calls(api: Invoke, headers: dict[str, str], **query: str) -> dict[str, Any]:
    return api(http_event("GET", "/v1/calls", headers=headers, query=query or None))


def get_call(api: Invoke, headers: dict[str, str], callid: str) -> dict[str, Any]:
    return api(
        http_event(
            "GET",
            f"/v1/calls/{callid}",
            route="/v1/calls/{callid}",
            headers=headers,
            path_parameters={"callid": callid},
        )
    )


def ids(response: dict[str, Any]) -> list[str]:
    assert response["statusCode"] == 200, response["body"]
    return [item["callid"] for item in json.loads(response["body"])["items"]]


def test_lists_and_filters(calls_api: Invoke, calls: CallRepository) -> None:
    assert ids(list_calls(calls_api, DEMO)) == ["c4", "c3", "c2", "c1", "c0"]
    assert ids(list_calls(calls_api, DEMO, phone="+84904824242")) == ["c3", "c2", "c1", "c0"]
    assert ids(list_calls(calls_api, DEMO, extension="102")) == ["c3", "c1"]
    assert ids(list_calls(calls_api, DEMO, status="busy")) == ["c4", "c3"]
    # Dates are days of the tenant's timezone; times without an offset are its local times
    assert ids(list_calls(calls_api, DEMO, **{"from": "2024-05-01", "to": "2024-05-01"})) == [
        "c2",
        "c1",
        "c0",
    ]
    assert ids(list_calls(calls_api, DEMO, **{"from": "2024-05-01T14:00:00"})) == ["c4", "c3", "c2", "c1"]
    assert ids(list_calls(calls_api, DEMO, **{"to": "2024-05-01T01:00:00Z"})) == []
    assert ids(list_calls(calls_api, DEMO, **{"to": "2024-05-01T01:00:00.001Z"})) == ["c0"]


def test_a_listed_call(calls_api: Invoke, calls: CallRepository) -> None:
    item = json.loads(list_calls(calls_api, DEMO, limit="5")["body"])["items"][-1]
    assert item["callid"] == "c0"
    assert item["direction"] == "inbound"
    assert item["calldate"] == "2024-05-01T01:00:00Z"
    assert item["recording"]["state"] == "stored"
    assert item["recording"]["url"] is None  # presigned only on the call itself
    assert "recording_url" not in item  # the PBX's URL may carry its credentials


def test_pages_with_cursors(calls_api: Invoke, calls: CallRepository) -> None:
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        response = list_calls(calls_api, DEMO, **query)
        page = json.loads(response["body"])
        assert len(page["items"]) <= 2
        seen += [item["callid"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        query["cursor"] = page["next_cursor"]
    assert seen == ["c4", "c3", "c2", "c1", "c0"]


def test_a_call_with_a_presigned_recording(
    calls_api: Invoke, calls: CallRepository, aws: RecordingResources
) -> None:
    response = get_call(calls_api, DEMO, "c0")
    assert response["statusCode"] == 200
    recording = json.loads(response["body"])["recording"]
    assert recording["state"] == "stored"
    assert (recording["size"], recording["sha256"], recording["content_type"]) == (4, "f" * 64, "audio/wav")
    url = urlsplit(recording["url"])
    params = parse_qs(url.query)
    assert url.path.endswith("/recordings/demo/2024/05/01/c0.wav")
    assert params["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert params["X-Amz-Expires"] == ["300"]
    assert recording["url_expires_at"]


def test_one_tenant_never_reads_another_tenants_calls(calls_api: Invoke, calls: CallRepository) -> None:
    # acme's key lists acme's calls only, even filtered by demo's phone or extension
    assert ids(list_calls(calls_api, ACME)) == ["a0"]
    assert ids(list_calls(calls_api, ACME, phone="0911234567")) == []
    assert ids(list_calls(calls_api, ACME, extension="102")) == []
    # and cannot read one of demo's calls by its callid
    response = get_call(calls_api, ACME, "c0")
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["code"] == "CALL_NOT_FOUND"
    # nor continue a listing with demo's cursor
    cursor = json.loads(list_calls(calls_api, DEMO, limit="1")["body"])["next_cursor"]
    response = list_calls(calls_api, ACME, limit="1", cursor=cursor)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == "INVALID_CURSOR"


BAD_REQUESTS = [
    ({}, {}, 401, "API_KEY_MISSING"),
    ({"x-api-key": "wrong"}, {}, 401, "API_KEY_INVALID"),
    (DEMO, {"limit": "0"}, 400, "VALIDATION_ERROR"),
    (DEMO, {"limit": "201"}, 400, "VALIDATION_ERROR"),
    (DEMO, {"from": "yesterday"}, 400, "VALIDATION_ERROR"),
    (DEMO, {"from": "2024-05-02", "to": "2024-05-01"}, 400, "VALIDATION_ERROR"),
    (DEMO, {"phone": "not a phone"}, 400, "VALIDATION_ERROR"),
    (DEMO, {"cursor": "garbage"}, 400, "INVALID_CURSOR"),
]


def test_bad_requests(calls_api: Invoke, calls: CallRepository) -> None:
    for headers, query, status, code in BAD_REQUESTS:
        response = list_calls(calls_api, headers, **query)
        assert response["statusCode"] == status, (query, response["body"])
        assert json.loads(response["body"])["code"] == code


def test_an_unknown_call_is_404(calls_api: Invoke, calls: CallRepository) -> None:
    assert get_call(calls_api, DEMO, "nope")["statusCode"] == 404
