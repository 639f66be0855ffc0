"""Listing calls: which index answers a filter, time bounds, and opaque pagination cursors.

Every list is a Query on one tenant-scoped index partition, newest first:

* ``phone``     → GSI2 ``TENANT#{t}#PHONE#{e164}`` (extension, if also given, as a filter)
* ``extension`` → GSI3 ``TENANT#{t}#EXT#{ext}``
* neither       → GSI1 ``TENANT#{t}#CALLS``

``from``/``to`` bound the sort key (``from`` inclusive, ``to`` exclusive); ``status`` is a filter
expression. A cursor is DynamoDB's LastEvaluatedKey, base64url-encoded with the partition and filters
it belongs to; a cursor made for another tenant, another partition or other filters is refused, so a
cursor can never steer a query outside the caller's own partition.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from ctibridge import keys, phones
from ctibridge.calls.models import format_timestamp, normalize_status
from ctibridge.errors import BadRequest
from ctibridge.lazy import Attr, ConditionBase, Key
from ctibridge.model import Model

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidCursor(BadRequest):
    code = "INVALID_CURSOR"
    message = "The cursor is invalid or belongs to another query."


class InvalidFilter(BadRequest):
    code = "VALIDATION_ERROR"
    message = "A filter is invalid."


class CallQuery(Model):
    """Filters of ``GET /v1/calls``, already parsed (times are aware datetimes)."""

    phone: str | None = None
    extension: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    status: str | None = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


@dataclass(frozen=True)
class IndexQuery:
    """A Query on one index partition; ``fingerprint`` ties cursors to the filters."""

    index: str
    partition_attribute: str
    partition: str
    sort_attribute: str
    key_condition: ConditionBase
    filter: ConditionBase | None
    fingerprint: str


def parse_time_bound(value: str, zone: ZoneInfo, *, field: str, end: bool) -> datetime:
    """``from``/``to`` of the API: ISO 8601 (naive means the tenant's local time) or a date.

    A date alone means the whole day in the tenant's timezone: ``from=2024-05-01`` starts at local
    midnight, ``to=2024-05-01`` ends at the next midnight, so ``from=D&to=D`` lists day D.
    """
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, time(), tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFilter(f"{field}: expected an ISO 8601 date or date-time.", field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def build(tenant_id: str, query: CallQuery) -> IndexQuery:
    """The index query answering ``query`` for ``tenant_id``."""
    filters: list[ConditionBase] = []
    if query.phone:
        try:
            phone_key = phones.search_key(query.phone)
        except phones.InvalidPhoneNumber:
            raise InvalidFilter("phone: not a phone number.", field="phone") from None
        if phone_key is None:
            raise InvalidFilter("phone: a withheld number cannot be searched.", field="phone")
        index, partition = keys.CALL_INDEX_BY_PHONE, keys.calls_by_phone_pk(tenant_id, phone_key)
        if query.extension:
            # The extension the call is listed under (the call log's, else the first ring's).
            filters.append(Attr("GSI3PK").eq(keys.calls_by_extension_pk(tenant_id, query.extension)))
    elif query.extension:
        index, partition = (
            keys.CALL_INDEX_BY_EXTENSION,
            keys.calls_by_extension_pk(tenant_id, query.extension),
        )
    else:
        index, partition = keys.CALL_INDEX_BY_DATE, keys.calls_by_date_pk(tenant_id)
    status = normalize_status(query.status) if query.status else None
    if status:
        filters.append(Attr("status").eq(status))

    pk_attr, sk_attr = f"{index}PK", f"{index}SK"
    condition: ConditionBase = Key(pk_attr).eq(partition)
    if query.start and query.end and query.start >= query.end:
        raise InvalidFilter("from: must be before to.", field="from")
    # Sort keys are "{timestamp}#{callid}": "{from}" sorts before every key of that millisecond, and
    # "{to}" before every key *at* ``to``, so BETWEEN gives exactly [from, to).
    lower = format_timestamp(query.start) if query.start else None
    upper = format_timestamp(query.end) if query.end else None
    if lower and upper:
        condition = condition & Key(sk_attr).between(lower, upper)
    elif lower:
        condition = condition & Key(sk_attr).gte(lower)
    elif upper:
        condition = condition & Key(sk_attr).lt(upper)

    combined: ConditionBase | None = None
    for f in filters:
        combined = f if combined is None else combined & f
    fingerprint = hashlib.sha256(
        json.dumps(
            [index, partition, lower, upper, status, query.extension if query.phone else None]
        ).encode()
    ).hexdigest()[:16]
    return IndexQuery(index, pk_attr, partition, sk_attr, condition, combined, fingerprint)


def encode_cursor(tenant_id: str, plan: IndexQuery, last_evaluated_key: dict[str, Any]) -> str:
    document = {"v": 1, "t": tenant_id, "f": plan.fingerprint, "k": last_evaluated_key}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(tenant_id: str, plan: IndexQuery, cursor: str) -> dict[str, str]:
    """The ExclusiveStartKey in ``cursor``, after checking it belongs to this tenant and query."""
    if len(cursor) > 2048:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(document, dict) or document.get("v") != 1:
        raise InvalidCursor()
    if document.get("t") != tenant_id or document.get("f") != plan.fingerprint:
        raise InvalidCursor()
    key = document.get("k")
    expected = {"PK", "SK", plan.partition_attribute, plan.sort_attribute}
    if not isinstance(key, dict) or set(key) != expected or not all(isinstance(v, str) for v in key.values()):
        raise InvalidCursor()
    if not key["PK"].startswith(keys.call_pk_prefix(tenant_id)) or key["SK"] != keys.CALL_SK:
        raise InvalidCursor()
    if key[plan.partition_attribute] != plan.partition:
        raise InvalidCursor()
    return {str(k): str(v) for k, v in key.items()}
