"""Parsing seed 004 requests: query, JSON and form fields, the secret's four places, field validation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ctibridge.calls.models import EventKind, normalize_status
from ctibridge.request_fields import FieldError, UnsupportedMediaType, query_fields
from ctibridge.webhooks import auth
from ctibridge.webhooks.models import (
    WebhookValidationError,
    collect_params,
    parse_calldate,
    parse_event,
)
from tests.support.aws import load_event

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CALL_LOG = {
    "callid": "1565944170.123",
    "calldate": "2019-08-16 15:29:30",
    "extension": "101",
    "phone": "0904824242",
    "duration": 23,
    "billsec": 11,
    "status": "ANSWERED",
    "recording": "https://pbx.example.com/rec/1.wav",
    "userfield": "order-8812",
}


def _parse(kind: EventKind, fields: dict[str, Any], zone: ZoneInfo = HCM) -> Any:
    return parse_event(kind, fields, zone=zone, received_at=NOW)


# ---------------------------------------------------------------- where the fields are


@pytest.mark.parametrize(
    ("case", "kind", "callid"),
    [
        ("incoming_call", EventKind.INCOMING, "1565944170.123"),
        ("outgoing_call", EventKind.OUTGOING, "1565944200.124"),
        ("call_answered", EventKind.ANSWERED, "1565944170.123"),
        ("call_answered_no_answer", EventKind.ANSWERED, "1565944300.125"),
        ("call_answered_form_basic", EventKind.ANSWERED, "1565944400.126"),
        ("incoming_call_post_bearer", EventKind.INCOMING, "1565944500.127"),
        ("outgoing_call_api_key", EventKind.OUTGOING, "1565944600.128"),
        ("call_answered_base64", EventKind.ANSWERED, "1565944700.129"),
    ],
)
def test_every_sample_request_shape_yields_its_event_and_secret(
    case: str, kind: EventKind, callid: str
) -> None:
    # Given a sample of each request shape a PBX may send (events/pbx_webhooks)
    event = load_event("pbx_webhooks", case)
    # When its fields and secret are collected
    request = collect_params(event)
    secret = auth.presented_secret(request.params, event["headers"])
    parsed = _parse(kind, {k: v for k, v in request.params.items() if k != "secret"})
    # Then the event parses and the secret is found wherever the PBX put it
    assert request.body_error is None
    assert secret == "demo-secret"
    assert parsed.callid == callid
    assert parsed.kind is kind


def test_json_numbers_keep_their_literal_digits() -> None:
    # A numeric callid in JSON must not lose its trailing zero to float parsing
    event = {
        "body": json.dumps({"callid": 1565944170.1230}).replace("1565944170.123", "1565944170.1230"),
        "headers": {"content-type": "application/json"},
    }
    assert collect_params(event).params["callid"] == "1565944170.1230"


def test_body_fields_win_over_query_fields() -> None:
    event = {
        "queryStringParameters": {"secret": "s", "phone": "1"},
        "body": "phone=0904824242",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    }
    assert collect_params(event).params == {"secret": "s", "phone": "0904824242"}


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("{not json", "application/json", WebhookValidationError),
        ("[1, 2]", "application/json", WebhookValidationError),
        ("<xml/>", "application/xml", UnsupportedMediaType),
    ],
)
def test_unreadable_bodies_are_reported_not_raised(body: str, content_type: str, error: type) -> None:
    # The secret must be checked first, so a bad body is only remembered here
    request = collect_params({"body": body, "headers": {"content-type": content_type}})
    assert isinstance(request.body_error, error)


# ---------------------------------------------------------------- the secret


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({"secret": "s1"}, {}, "s1"),
        ({}, {"x-api-key": "s2"}, "s2"),
        ({}, {"Authorization": "Bearer s3"}, "s3"),
        ({}, {"authorization": "Basic " + base64.b64encode(b"demo:s4").decode()}, "s4"),
        ({}, {"authorization": "Basic " + base64.b64encode(b"s5").decode()}, "s5"),
        ({"secret": "s1"}, {"authorization": "Bearer other"}, "s1"),  # the first place present wins
        ({}, {"authorization": "Basic !!!"}, None),
        ({}, {"authorization": "Digest abc"}, None),
        ({}, {}, None),
    ],
)
def test_presented_secret(params: dict[str, str], headers: dict[str, str], expected: str | None) -> None:
    assert auth.presented_secret(params, headers) == expected


@pytest.mark.parametrize("presented", [None, "", "demo-secreT", "demo-secret ", "x" * 600])
def test_verify_refuses_anything_but_the_secret(presented: str | None) -> None:
    with pytest.raises(auth.WebhookSecretInvalid):
        auth.verify(presented, SecretStr("demo-secret"))


def test_verify_accepts_the_secret() -> None:
    auth.verify("demo-secret", SecretStr("demo-secret"))


# ---------------------------------------------------------------- fields


def test_call_log_fields_are_normalized() -> None:
    # When the seed's call log is parsed for a tenant in Ho Chi Minh City
    event = _parse(EventKind.ANSWERED, {**CALL_LOG, "duration": "23", "status": " no anser "})
    # Then the calldate is UTC, numbers are ints, the status canonical and the raw values kept
    assert event.calldate == datetime(2019, 8, 16, 8, 29, 30, tzinfo=UTC)
    assert event.calldate_local == "2019-08-16 15:29:30"
    assert (event.duration, event.billsec) == (23, 11)
    assert (event.status, event.status_raw) == ("NO ANSWER", "no anser")
    assert (event.phone, event.phone_e164) == ("0904824242", "+84904824242")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("ANSWERED", "ANSWERED"),
        ("NO ANSER", "NO ANSWER"),
        ("no answer", "NO ANSWER"),
        ("BUSY", "BUSY"),
        ("FAILED", "FAILED"),
        ("CANCEL", "CANCEL"),
        ("CANCELLED", "CANCEL"),
        ("canceled", "CANCEL"),
        ("CONGESTION", "CONGESTION"),
        ("VOICEMAIL", "VOICEMAIL"),
        ("transferred  out", "TRANSFERRED OUT"),
    ],
)
def test_statuses_are_canonical_and_unknown_ones_kept(raw: str, canonical: str) -> None:
    assert normalize_status(raw) == canonical
    assert _parse(EventKind.ANSWERED, {**CALL_LOG, "status": raw}).status == canonical


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callid", ""),
        ("callid", "has space"),
        ("phone", "090xxxx242"),
        ("extension", ""),
        ("extension", "10 1"),
        ("calldate", "16/08/2019 15:29"),
        ("calldate", "2019-02-30 10:00:00"),
        ("duration", "-1"),
        ("duration", "12s"),
        ("billsec", "1.5"),
        ("status", ""),
        ("recording", "ftp://pbx/rec.wav"),
        ("recording", "not a url"),
        ("userfield", "x" * 3000),
    ],
)
def test_malformed_fields_are_named(field: str, value: Any) -> None:
    with pytest.raises(WebhookValidationError) as raised:
        _parse(EventKind.ANSWERED, {**CALL_LOG, field: value})
    assert raised.value.details["field"] == field
    assert raised.value.http_status == 400
    assert str(value) not in raised.value.message or value == ""  # input is never echoed


@pytest.mark.parametrize("field", ["callid", "phone", "extension", "calldate", "status"])
def test_missing_fields_are_named(field: str) -> None:
    fields = {k: v for k, v in CALL_LOG.items() if k != field}
    with pytest.raises(WebhookValidationError) as raised:
        _parse(EventKind.ANSWERED, fields)
    assert raised.value.details["field"] == field


@pytest.mark.parametrize("field", ["callid", "phone", "extension"])
def test_ring_events_need_their_three_fields(field: str) -> None:
    fields = {
        k: v for k, v in {"callid": "1", "phone": "0904824242", "extension": "101"}.items() if k != field
    }
    with pytest.raises(WebhookValidationError) as raised:
        _parse(EventKind.INCOMING, fields)
    assert raised.value.details["field"] == field


def test_optional_fields_may_be_empty_or_absent() -> None:
    fields = {k: v for k, v in CALL_LOG.items() if k not in ("duration", "billsec", "userfield")}
    event = _parse(EventKind.ANSWERED, {**fields, "recording": ""})
    assert (event.duration, event.billsec, event.recording, event.userfield) == (0, 0, None, None)


@pytest.mark.parametrize(("value", "text"), [(42, "42"), ({"order": 7}, '{"order":7}'), (True, "true")])
def test_userfield_may_be_any_json_value(value: Any, text: str) -> None:
    assert _parse(EventKind.ANSWERED, {**CALL_LOG, "userfield": value}).userfield == text


def test_calldate_with_an_offset_or_epoch_is_honoured() -> None:
    assert parse_calldate("2019-08-16T15:29:30+07:00", ZoneInfo("UTC")) == datetime(
        2019, 8, 16, 8, 29, 30, tzinfo=UTC
    )
    assert parse_calldate("2019-08-16 08:29:30Z", HCM) == datetime(2019, 8, 16, 8, 29, 30, tzinfo=UTC)
    assert parse_calldate("1565944170", HCM) == datetime.fromtimestamp(1565944170, UTC)


# ---------------------------------------------------------------- properties

ZONES = ["Asia/Ho_Chi_Minh", "UTC", "Asia/Tokyo", "Europe/Paris", "America/New_York", "Australia/Adelaide"]


@settings(deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    zone=st.sampled_from(ZONES),
)
def test_calldate_round_trips_through_the_tenant_timezone(moment: datetime, zone: str) -> None:
    # Given a UTC instant, written by a PBX as local "Y-m-d H:i:s" in the tenant's timezone
    tz = ZoneInfo(zone)
    instant = moment.replace(tzinfo=UTC)
    local = instant.astimezone(tz)
    written = local.strftime("%Y-%m-%d %H:%M:%S")
    # When it is parsed back
    parsed = parse_calldate(written, tz)
    # Then it is that instant; only the second pass of a DST overlap (fold=1) reads as the first pass
    difference = abs(parsed - instant)
    if local.fold:
        assert difference == timedelta(hours=1)
    else:
        assert difference == timedelta(0)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=40),
    st.sampled_from(["0904824242", "101", "2019-08-16 15:29:30", "ANSWERED", "https://x/y.wav"]),
)


@settings(deadline=None)
@given(
    st.dictionaries(st.sampled_from([*CALL_LOG, "secret", "other"]), _scalars, max_size=12),
    st.sampled_from(list(EventKind)),
)
def test_any_fields_parse_or_fail_with_a_named_field(fields: dict[str, Any], kind: EventKind) -> None:
    # Whatever a PBX sends, the parser answers an event or a 400 naming a field; never anything else
    try:
        event = _parse(kind, fields)
    except WebhookValidationError as error:
        named = error.details.get("field")
    else:
        named = "(parsed)"
        assert event.kind is kind
        assert event.callid.strip() == event.callid
    assert named


@settings(deadline=None)
@given(
    st.binary(max_size=300),
    st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "", "text/plain", "multipart/form-data"]
    ),
)
def test_any_body_is_collected_or_reported(body: bytes, content_type: str) -> None:
    event = {
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "headers": {"content-type": content_type},
    }
    request = collect_params(event)
    assert isinstance(request.params, dict)


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["callid", "phone", "userfield", "secret"]), st.binary(max_size=6)),
        max_size=6,
    )
)
def test_any_query_string_is_read_exactly_or_refused_naming_a_field(pairs: list[tuple[str, bytes]]) -> None:
    # Given any query string a PBX may send (any bytes, any field repeated), and its parameters as API
    # Gateway hands them on: decoded with U+FFFD for what is not UTF-8, repeated ones joined by commas
    raw = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in pairs)
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    event = {"rawQueryString": raw, "queryStringParameters": parameters}
    # When its fields are read
    try:
        fields = query_fields(event)
    except FieldError as error:
        refused = error.details["field"]
    else:
        refused = None
        # Then every field is exactly the one value that was sent for it...
        assert fields == {name: value.decode("utf-8") for name, value in pairs}
    # ... or it is refused naming one of the fields sent
    assert refused is None or refused in {name for name, _ in pairs}
