"""The three seed 004 events as pydantic models, and the parsing of a request into them.

A PBX may send an event with GET, POST or PUT, its fields in the query string, a JSON body or a form
body, URL-encoded or multipart (seed 004: "Tùy chọn RESTful API (GET / POST / PUT...)", "Tùy chọn tham
số (JSON, URL Query Params)"). ``collect_params`` merges them (body over query), read by
``ctibridge.request_fields``; the models validate and normalize:

* ``phone``: E.164 via libphonenumber (default region VN), the raw value kept;
* ``calldate``: "Y-m-d H:i:s" (or ISO 8601, or epoch seconds) in the tenant's timezone → UTC;
* ``duration``/``billsec``: integers or numeric strings;
* ``status``: canonical spelling (``NO ANSER`` → ``NO ANSWER``), unknown values kept;
* ``recording``: an http(s) URL or empty; ``userfield``: any string (numbers/objects stringified).

Field errors become ``400 VALIDATION_ERROR`` naming the field; input values are never echoed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ctibridge import phones, request_fields
from ctibridge.calls.models import CallEvent, EventKind, normalize_status
from ctibridge.errors import CtiError
from ctibridge.model import Model
from ctibridge.request_fields import FieldError

MAX_FIELD_CHARS = 1024
MAX_USERFIELD_CHARS = 2048
MAX_URL_CHARS = 2048
MAX_SECONDS = 10_000_000  # ~115 days: anything above is a PBX bug, not a call
_CALLID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces (Asterisk uniqueid, UUIDs...)
_EXTENSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.*#+-]{0,31}$")
_INTEGER = re.compile(r"^\d+(\.0*)?$")
_CALLDATE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_EPOCH = re.compile(r"^\d{9,10}$")


# A field the PBX sent that is invalid: the same 400 as a field that cannot be read at all.
WebhookValidationError = FieldError


# ---------------------------------------------------------------- field types


def _text(value: Any) -> Any:
    """Scalars as text: JSON numbers are kept as their literal text (see ``collect_params``)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _callid(value: Any) -> str:
    value = _text(value)
    if not isinstance(value, str) or not _CALLID.match(value.strip()):
        raise ValueError("must be 1 to 128 printable characters without spaces")
    return value.strip()


def _extension(value: Any) -> str:
    value = _text(value)
    if not isinstance(value, str) or not _EXTENSION.match(value.strip()):
        raise ValueError("must be an extension: 1 to 32 letters, digits or _ . * # + -")
    return value.strip()


def _phone(value: Any) -> phones.Phone:
    value = _text(value)
    if not isinstance(value, str):
        raise ValueError("must be a phone number")
    try:
        return phones.normalize(value)
    except phones.InvalidPhoneNumber as error:
        raise ValueError(str(error)) from None


def _seconds(value: Any) -> int:
    value = _text(value)
    if value is None or value == "":
        return 0
    if not isinstance(value, str) or not _INTEGER.match(value.strip()):
        raise ValueError("must be a non-negative whole number of seconds")
    seconds = int(value.strip().split(".")[0])
    if seconds > MAX_SECONDS:
        raise ValueError("is out of range")
    return seconds


def _recording(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise ValueError("must be an http(s) URL or empty")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL or empty")
    return value


def _userfield(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    value = _text(value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_USERFIELD_CHARS:
        raise ValueError(f"must be at most {MAX_USERFIELD_CHARS} characters")
    return value


def _status(value: Any) -> str:
    value = _text(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError("must be a call status such as ANSWERED or NO ANSWER")
    return value.strip()


CallId = Annotated[str, PlainValidator(_callid)]
Extension = Annotated[str, PlainValidator(_extension)]
PhoneField = Annotated[phones.Phone, PlainValidator(_phone)]
Seconds = Annotated[int, BeforeValidator(_seconds)]
RecordingUrl = Annotated[str | None, PlainValidator(_recording)]
UserField = Annotated[str | None, PlainValidator(_userfield)]
Status = Annotated[str, PlainValidator(_status)]


def parse_calldate(value: Any, zone: ZoneInfo) -> datetime:
    """The PBX's call start time as an aware UTC datetime.

    "Y-m-d H:i:s" (the seed's format) and naive ISO 8601 are local times of the tenant's timezone; an
    explicit offset or Z is honoured; 9-10 digits are epoch seconds.
    """
    value = _text(value)
    if not isinstance(value, str):
        raise ValueError("must be a date-time 'Y-m-d H:i:s'")
    text = value.strip()
    if _EPOCH.match(text):
        return datetime.fromtimestamp(int(text), UTC)
    if not _CALLDATE.match(text):
        raise ValueError("must be a date-time 'Y-m-d H:i:s'")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a valid date-time 'Y-m-d H:i:s'") from None
    if not 2000 <= moment.year <= 2100:
        raise ValueError("is out of range")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


# ---------------------------------------------------------------- the events


class RingEvent(Model):
    """``incoming_call`` and ``outgoing_call``: ``phone``, ``extension``, ``callid``."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, arbitrary_types_allowed=True)

    callid: CallId
    phone: PhoneField
    extension: Extension


class CallLogEvent(RingEvent):
    """``call_answered``: the call log sent when a call ends (answered or not)."""

    calldate: datetime
    calldate_local: str = Field(default="", exclude=True)
    duration: Seconds = 0
    billsec: Seconds = 0
    status: Status
    recording: RecordingUrl = None
    userfield: UserField = None

    @model_validator(mode="before")
    @classmethod
    def _keep_raw(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(_text(data.get("calldate")), str):
            data = {**data, "calldate_local": _text(data["calldate"]).strip()}
        return data

    @field_validator("calldate", mode="plain")
    @classmethod
    def _calldate(cls, value: Any, info: ValidationInfo) -> datetime:
        zone = (info.context or {}).get("zone") or ZoneInfo("Asia/Ho_Chi_Minh")
        return parse_calldate(value, zone)


def _field_error(error: ValidationError) -> WebhookValidationError:
    first = error.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "body"
    if first.get("type") == "missing":
        return WebhookValidationError(f"{field}: is required.", field=field)
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return WebhookValidationError(f"{field}: {message}.", field=field)


def parse_event(
    kind: EventKind, params: Mapping[str, Any], *, zone: ZoneInfo, received_at: datetime
) -> CallEvent:
    """Validate ``params`` as an event of ``kind``; raises ``WebhookValidationError`` naming the field."""
    try:
        if kind is EventKind.ANSWERED:
            log = CallLogEvent.model_validate(dict(params), context={"zone": zone})
        else:
            ring = RingEvent.model_validate(dict(params))
    except ValidationError as error:
        raise _field_error(error) from None
    if kind is not EventKind.ANSWERED:
        return CallEvent(
            kind=kind,
            callid=ring.callid,
            received_at=received_at,
            phone=ring.phone.raw,
            phone_e164=ring.phone.e164,
            phone_key=ring.phone.index_key,
            extension=ring.extension,
        )
    return CallEvent(
        kind=kind,
        callid=log.callid,
        received_at=received_at,
        phone=log.phone.raw,
        phone_e164=log.phone.e164,
        phone_key=log.phone.index_key,
        extension=log.extension,
        calldate=log.calldate,
        calldate_local=log.calldate_local,
        duration=log.duration,
        billsec=log.billsec,
        status=normalize_status(log.status),
        status_raw=log.status,
        recording=log.recording,
        userfield=log.userfield,
    )


# ---------------------------------------------------------------- request → parameters


class RequestParams(Model):
    """What a webhook request carries, before validation; ``body_error`` is raised after auth."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    params: dict[str, Any]
    body_error: CtiError | None = None


def collect_params(event: Mapping[str, Any]) -> RequestParams:
    """Query string and body fields of an API Gateway (payload 2.0) event, body winning on conflicts.

    JSON numbers are parsed as their literal text, so a numeric callid like ``1565944170.1230`` keeps
    every digit. A request that cannot be read (``ctibridge.request_fields``: not UTF-8, a field twice
    with two values, malformed JSON or form, an unsupported media type) is reported in ``body_error``
    instead of raised, so a bad secret still answers 401 before a malformed request answers 400.
    """
    try:
        params: dict[str, Any] = dict(request_fields.query_fields(event))
    except CtiError as error:
        # Unreadable, but the secret may be there: the values as API Gateway decoded them, for the 401.
        query = {str(k): v for k, v in (event.get("queryStringParameters") or {}).items()}
        return RequestParams(params=query, body_error=error)
    try:
        body = request_fields.body_fields(event, exact_numbers=True)
    except CtiError as error:
        # The secret may be in the query string or among the form's readable fields: keep them, so
        # the 401 still comes first.
        if isinstance(error, request_fields.FieldError):
            params.update(error.readable or {})
            error.readable = None  # the error is raised later: it must not carry the secret along
        return RequestParams(params=params, body_error=error)
    params.update(body)
    return RequestParams(params=params)
