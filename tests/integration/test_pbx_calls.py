"""PBX webhooks, call logs, recordings and the calls API on the real local stack (seed 004).

Every test uses its own callids or phone numbers: the stack is shared by the whole session.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_local.pbx_simulator import PbxDriver, make_wav
from tests.support.local_stack import RunningStack

SECRET = "demo-secret"
API_KEY = "demo-api-key"
T = TypeVar("T")


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http_url, timeout=20.0) as client:
        yield client


@pytest.fixture(scope="module")
def driver(stack: RunningStack) -> Iterator[PbxDriver]:
    with PbxDriver(stack.http_url, "demo", SECRET, pbx_url=stack.pbx_url, ring_seconds=0.05) as pbx:
        yield pbx


def new_callid() -> str:
    return f"{time.time():.4f}-{uuid.uuid4().hex[:8]}"


def new_phone() -> str:
    return "09" + str(uuid.uuid4().int)[:8]


def get_call(http: httpx.Client, callid: str, api_key: str = API_KEY) -> httpx.Response:
    return http.get(f"/v1/calls/{callid}", headers={"X-Api-Key": api_key})


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_recording(http: httpx.Client, callid: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = get_call(http, callid)
        if response.status_code != 200:
            return None
        call: dict[str, Any] = response.json()
        return call if call["recording"]["state"] == state else None

    return wait_for(check, timeout, f"recording of {callid} to be {state}")


# ---------------------------------------------------------------- every request shape of seed 004


def test_seed_request_shapes(http: httpx.Client) -> None:
    callid, outgoing = new_callid(), new_callid()
    basic = base64.b64encode(f"demo:{SECRET}".encode()).decode()
    requests: list[tuple[str, str, dict[str, Any]]] = [
        # §1.1, verbatim
        (
            "GET",
            f"/wsapi/demo/incoming_call?secret={SECRET}&phone=0904824242&extension=101&callid={callid}",
            {},
        ),
        # §1.2, verbatim
        (
            "GET",
            f"/wsapi/demo/outgoing_call?secret={SECRET}&phone=0911234567&extension=102&callid={outgoing}",
            {},
        ),
        # §1.3: POST with ?secret= and the JSON body, the seed's "NO ANSER" spelling
        (
            "POST",
            f"/wsapi/demo/call_answered?secret={SECRET}",
            {
                "json": {
                    "callid": outgoing,
                    "calldate": "2019-08-16 15:29:30",
                    "extension": "102",
                    "phone": "0911234567",
                    "duration": 23,
                    "billsec": 0,
                    "status": "NO ANSER",
                    "recording": "",
                    "userfield": 42,
                }
            },
        ),
        # the options the seed lists: form parameters, Basic, Bearer, API key
        (
            "POST",
            "/wsapi/demo/call_answered",
            {
                "data": {
                    "callid": callid,
                    "calldate": "2019-08-16 15:29:30",
                    "extension": "101",
                    "phone": "0904824242",
                    "duration": "40",
                    "billsec": "31",
                    "status": "ANSWERED",
                    "recording": "",
                    "userfield": "",
                },
                "headers": {"Authorization": f"Basic {basic}"},
            },
        ),
        (
            "POST",
            "/wsapi/demo/incoming_call",
            {
                "json": {"phone": "0904824242", "extension": "101", "callid": callid},
                "headers": {"Authorization": f"Bearer {SECRET}"},
            },
        ),
        (
            "GET",
            f"/wsapi/demo/incoming_call?phone=0904824242&extension=103&callid={callid}",
            {"headers": {"X-Api-Key": SECRET}},
        ),
        # the seed's PUT, and a PHP script's curl POSTFIELDS array (multipart/form-data)
        (
            "PUT",
            f"/wsapi/demo/incoming_call?secret={SECRET}",
            {"json": {"phone": "0904824242", "extension": "104", "callid": callid}},
        ),
        (
            "POST",
            "/wsapi/demo/incoming_call",
            {
                "files": {
                    k: (None, v)
                    for k, v in {
                        "secret": SECRET,
                        "phone": "0904824242",
                        "extension": "105",
                        "callid": callid,
                    }.items()
                }
            },
        ),
    ]
    for method, url, kwargs in requests:
        response = http.request(method, url, **kwargs)
        assert response.status_code == 200, (url, response.text)
        assert response.json()["code"] == "OK"
    first = get_call(http, callid).json()
    assert (first["status"], first["direction"], first["billsec"]) == ("ANSWERED", "inbound", 31)
    assert first["calldate"] == "2019-08-16T08:29:30Z"  # 15:29:30 in Ho Chi Minh City
    assert first["rang_extensions"] == ["101", "103", "104", "105"]
    second = get_call(http, outgoing).json()
    assert (second["status"], second["status_raw"], second["direction"]) == (
        "NO ANSWER",
        "NO ANSER",
        "outbound",
    )
    assert (second["phone_e164"], second["userfield"]) == ("+84911234567", "42")


def test_a_retry_is_idempotent(http: httpx.Client, driver: PbxDriver) -> None:
    result = driver.play("retry", phone=new_phone())
    # Every event was delivered twice; the second of each answers 200 as a duplicate
    assert [d.status for d in result.deliveries] == [200, 200, 200, 200]
    assert [d.body["duplicate"] for d in result.deliveries] == [False, True, False, True]
    before = get_call(http, result.callid).json()
    # And one more delivery of the call log, later, changes nothing either
    log = next(d for d in result.deliveries if d.kind == "call_answered")
    again = driver.send("call_answered", log.fields, method="POST", style="json")
    assert again.body["duplicate"] is True
    after = get_call(http, result.callid).json()
    assert after["updated_at"] == before["updated_at"]
    assert after["status"] == before["status"] == "ANSWERED"


def test_a_reordered_call_is_one_correct_record(http: httpx.Client, driver: PbxDriver) -> None:
    result = driver.play("reorder", phone=new_phone(), extension="102")
    assert [d.kind for d in result.deliveries] == ["call_answered", "incoming_call"]
    call = wait_recording(http, result.callid, "stored")
    assert (call["direction"], call["status"], call["extension"]) == ("inbound", "ANSWERED", "102")
    assert call["started_at"].startswith(call["calldate"][:19])


@pytest.mark.parametrize(
    ("scenario", "status", "direction", "recording"),
    [
        ("no-answer", "NO ANSWER", "inbound", "none"),
        ("busy", "BUSY", "outbound", "none"),
        ("outgoing", "ANSWERED", "outbound", "stored"),
    ],
)
def test_simulator_scenarios(
    http: httpx.Client, driver: PbxDriver, scenario: str, status: str, direction: str, recording: str
) -> None:
    result = driver.play(scenario, phone=new_phone())
    assert result.ok
    call = wait_recording(http, result.callid, recording)
    assert (call["status"], call["direction"]) == (status, direction)


# ---------------------------------------------------------------- bad input


def test_bad_requests_store_nothing_and_never_log_the_secret(http: httpx.Client, stack: RunningStack) -> None:
    callid = new_callid()
    log: dict[str, Any] = {
        "callid": callid,
        "calldate": "2024-05-01 08:00:00",
        "extension": "101",
        "phone": "0904824242",
        "duration": 1,
        "billsec": 0,
        "status": "BUSY",
        "recording": "",
        "userfield": "",
    }
    cases: list[tuple[int, str, str, dict[str, Any]]] = [
        (401, "POST", f"/wsapi/demo/call_answered?secret=wrong-{SECRET}", {"json": log}),
        (401, "POST", "/wsapi/demo/call_answered", {"json": log}),
        (404, "POST", f"/wsapi/nobody/call_answered?secret={SECRET}", {"json": log}),
        (400, "POST", f"/wsapi/demo/call_answered?secret={SECRET}", {"json": {**log, "phone": "090xxxx242"}}),
        (
            400,
            "POST",
            f"/wsapi/demo/call_answered?secret={SECRET}",
            {"json": {**log, "calldate": "tomorrow"}},
        ),
        (400, "GET", f"/wsapi/demo/incoming_call?secret={SECRET}&phone=0904824242&callid={callid}", {}),
        (
            413,
            "POST",
            f"/wsapi/demo/call_answered?secret={SECRET}",
            {"json": {**log, "userfield": "x" * 70_000}},
        ),
        # a field twice with two values, a value that is not UTF-8, JSON nested past the recursion limit
        (
            400,
            "GET",
            f"/wsapi/demo/incoming_call?secret={SECRET}&phone=0904824242&extension=101&callid={callid}&callid=2",
            {},
        ),
        (
            400,
            "GET",
            f"/wsapi/demo/incoming_call?secret={SECRET}&phone=0904824242&extension=101&callid={callid}%FF",
            {},
        ),
        (
            400,
            "POST",
            f"/wsapi/demo/call_answered?secret={SECRET}",
            {
                "content": '{"callid": ' + "[" * 20_000 + "]" * 20_000 + "}",
                "headers": {"content-type": "application/json"},
            },
        ),
    ]
    for status, method, url, kwargs in cases:
        response = http.request(method, url, **kwargs)
        assert response.status_code == status, (url, response.text)
        body = response.json()
        assert set(body) >= {"code", "message"}
        if status == 400:
            assert body["field"] in ("phone", "calldate", "extension", "callid", "body")
    assert get_call(http, callid).status_code == 404
    assert SECRET not in stack.logs()


# ---------------------------------------------------------------- recordings


def test_a_recording_goes_from_the_pbx_to_s3(
    http: httpx.Client, driver: PbxDriver, stack: RunningStack
) -> None:
    # Given an answered call whose recording the simulator serves (a WAV it generates)
    result = driver.play("answered", phone=new_phone(), recording_seconds=2)
    assert result.recording is not None
    original = httpx.get(result.recording).content
    assert original == make_wav(result.callid, 2.0)
    # When the fetcher has run
    call = wait_recording(http, result.callid, "stored")
    # Then the object in S3 is the PBX's file: same bytes, same SHA-256, under the tenant's prefix
    recording = call["recording"]
    assert recording["sha256"] == hashlib.sha256(original).hexdigest()
    assert (recording["size"], recording["content_type"]) == (len(original), "audio/wav")
    downloaded = httpx.get(recording["url"])
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == recording["sha256"]
    keys = stack.client("s3").list_objects_v2(
        Bucket=stack.resource_name("RecordingsBucket"), Prefix="recordings/demo/"
    )["Contents"]
    assert any(k["Key"].endswith(f"/{result.callid}.wav") for k in keys)


def test_a_recording_not_ready_yet_is_retried(http: httpx.Client, driver: PbxDriver) -> None:
    # Given a PBX that answers 503 the first two times (the file is still being written)
    callid = new_callid()
    url = f"{driver.pbx_url}/recordings/{callid}.wav?seconds=1&fail=2"
    driver.send(
        "call_answered",
        {
            "callid": callid,
            "calldate": "2024-05-01 08:00:00",
            "extension": "101",
            "phone": new_phone(),
            "duration": 9,
            "billsec": 5,
            "status": "ANSWERED",
            "recording": url,
            "userfield": "",
        },
        method="POST",
        style="json",
    )
    # Then it is pending meanwhile, and stored after the backoff (1 s, then 2 s on this stack)
    assert get_call(http, callid).json()["recording"]["state"] == "pending"
    call = wait_recording(http, callid, "stored", timeout=60)
    assert call["recording"]["sha256"] == hashlib.sha256(make_wav(callid, 1.0)).hexdigest()


@pytest.mark.parametrize(
    "target",
    [
        "moto",  # loopback, like the simulator, but not allowed for the tenant
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1/rec.wav",
    ],
)
def test_ssrf_is_refused(http: httpx.Client, driver: PbxDriver, stack: RunningStack, target: str) -> None:
    callid = new_callid()
    url = f"{stack.moto_url}/ctibridge-dev-recordingsbucket/x.wav" if target == "moto" else target
    response = driver.send(
        "call_answered",
        {
            "callid": callid,
            "calldate": "2024-05-01 08:00:00",
            "extension": "101",
            "phone": new_phone(),
            "duration": 9,
            "billsec": 5,
            "status": "ANSWERED",
            "recording": url,
            "userfield": "",
        },
        method="POST",
        style="json",
    )
    assert response.status == 200  # the call log itself is fine
    call = wait_recording(http, callid, "failed")
    assert call["recording"]["error"] == "RECORDING_HOST_FORBIDDEN"


# ---------------------------------------------------------------- the calls API


@pytest.fixture(scope="module")
def other_tenant(stack_env: RunningStack) -> dict[str, str]:
    """A second tenant, created with the operators' tools against the stack's moto."""
    customer = f"t{uuid.uuid4().hex[:10]}"
    secret, api_key = f"{customer}-pbx-secret", f"{customer}-api-key"
    TenantAdmin(stack_env.table_name, stack_env.stage).create_tenant(
        customer, customer, pbx_secret=secret, api_key=api_key, timezone="UTC"
    )
    return {"customer": customer, "secret": secret, "api_key": api_key}


def test_calls_api_pages_and_isolates_tenants(
    http: httpx.Client, stack: RunningStack, other_tenant: dict[str, str]
) -> None:
    # Given seven calls of the new tenant and one of demo with the same phone number
    phone = new_phone()
    with PbxDriver(
        stack.http_url,
        other_tenant["customer"],
        other_tenant["secret"],
        pbx_url=stack.pbx_url,
        ring_seconds=0.0,
        timezone="UTC",
    ) as pbx:
        played = [pbx.play("no-answer", phone=phone, extension="201").callid for _ in range(7)]
    with PbxDriver(stack.http_url, "demo", SECRET, pbx_url=stack.pbx_url, ring_seconds=0.0) as pbx:
        demo_call = pbx.play("no-answer", phone=phone).callid
    headers = {"X-Api-Key": other_tenant["api_key"]}

    def listing(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(20):
            query = {**params, **({"cursor": cursor} if cursor else {})}
            page = http.get("/v1/calls", params=query, headers=headers).json()
            assert len(page["items"]) <= int(params.get("limit", 50))
            seen += [item["callid"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen
        raise AssertionError("too many pages")

    # When the tenant pages through its calls, by date, by phone and by extension
    by_date, by_phone, by_extension = (
        listing(limit=3),
        listing(limit=2, phone=phone),
        listing(limit=4, extension="201"),
    )
    # Then it sees exactly its seven calls, newest first, and never demo's
    assert sorted(by_date) == sorted(played)
    assert by_phone == by_date
    assert by_extension == by_date
    assert demo_call not in by_date
    # And demo's call, demo's listing and demo's cursors are out of its reach
    assert get_call(http, demo_call, other_tenant["api_key"]).status_code == 404
    demo_page = http.get(
        "/v1/calls", params={"limit": 1, "phone": phone}, headers={"X-Api-Key": API_KEY}
    ).json()
    assert [item["callid"] for item in demo_page["items"]] == [demo_call]
    response = http.get("/v1/calls", params={"cursor": demo_page["next_cursor"] or "x"}, headers=headers)
    assert response.status_code == 400
    # And the new tenant's PBX secret is not demo's
    wrong = http.get(
        f"/wsapi/demo/incoming_call?secret={other_tenant['secret']}&phone=1&extension=1&callid=x"
    )
    assert wrong.status_code == 401


# ---------------------------------------------------------------- the simulator's click2call.php


def test_click2call_reaches_the_simulator_which_plays_the_call_back(
    http: httpx.Client, stack: RunningStack
) -> None:
    pbx = httpx.Client(base_url=stack.pbx_url, timeout=10.0)
    phone = new_phone()
    # When the bridge (here: the test, as seed 004 §2.1 says) asks the PBX to call out
    response = pbx.get(
        "/wsapi/demo/click2call.php",
        params={"secret": "demo-c2c-secret", "extension": "101", "phone": phone, "userfield": "deal-9"},
    )
    # Then the PBX accepts, remembers the request, and its outgoing call reaches the bridge with the userfield
    assert response.status_code == 200
    callid = response.json()["callid"]
    requests = pbx.get("/_requests").json()["requests"]
    mine = [r for r in requests if r["params"].get("phone") == phone]
    assert mine
    assert mine[0]["params"]["secret"] == "***"
    assert mine[0]["secret_ok"] is True
    call = wait_recording(http, callid, "stored")
    assert (call["direction"], call["userfield"], call["extension"]) == ("outbound", "deal-9", "101")
    # A wrong secret is refused like a PBX would
    assert (
        pbx.get(
            "/wsapi/demo/click2call.php", params={"secret": "no", "extension": "1", "phone": "1"}
        ).status_code
        == 401
    )
    pbx.close()
