"""Delivery states and attempts in the table (keys in ``ctibridge.keys``); no Scan anywhere.

* The **state** of a delivery (one event to one endpoint) is claimed by a conditional UpdateItem
  before anything is sent: the claim fails if the delivery already succeeded (the worker then sends
  nothing: SQS's at-least-once cannot make the CRM receive an event twice) or if another worker holds
  the lease. It also keeps the event itself, for replays of a time range.
* Every HTTP request of every attempt is an **attempt** item (status, HTTP status, latency, error),
  listed per tenant and status for ``GET /v1/deliveries``.

Both expire with the table's TTL (``DELIVERY_RECORD_TTL_DAYS``, 30 days by default).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ConfigDict

from ctibridge import aws, keys
from ctibridge.delivery.models import DeliveryMessage, OutboundEvent, format_timestamp
from ctibridge.errors import BadRequest
from ctibridge.lazy import Key, TypeDeserializer
from ctibridge.model import Model

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_deserializer = TypeDeserializer()


class DeliveryStatus(StrEnum):
    DELIVERING = "delivering"  # leased by a worker now
    RETRYING = "retrying"  # the last attempt failed; SQS brings it back after the backoff
    DELIVERED = "delivered"
    FAILED = "failed"  # retried for the whole window; in the dead-letter queue
    SKIPPED = "skipped"  # the endpoint no longer exists or no longer takes this event


class AttemptStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class InvalidCursor(BadRequest):
    code = "INVALID_CURSOR"
    message = "The cursor is invalid or belongs to another query."


@dataclass(frozen=True)
class Claim:
    granted: bool
    attempt: int = 0  # this attempt's number (1 for the first, across replays too)
    already_delivered: bool = False
    delivered_targets: frozenset[str] = frozenset()  # parallel mode: URLs (by hash) already done


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of one attempt."""

    target: int  # index of the URL in the endpoint's list
    url: str  # without the query string (a seed 004 query carries the secret)
    status: AttemptStatus
    attempted_at: datetime
    latency_ms: int
    http_status: int | None = None
    error_code: str | None = None
    error: str | None = None
    retry_after_seconds: int | None = None  # the CRM's Retry-After (429, 503): the retry waits that long


@dataclass(frozen=True)
class Outcome:
    """What the worker decided after an attempt, written on its attempt items."""

    will_retry: bool = False
    next_attempt_at: datetime | None = None
    dead_lettered: bool = False


class AttemptView(Model):
    """An attempt as ``GET /v1/deliveries`` answers it."""

    model_config = ConfigDict(extra="ignore")

    delivery_id: str
    event_id: str
    event_type: str
    callid: str | None = None
    endpoint_id: str
    url: str
    attempt: int
    target: int
    status: AttemptStatus
    http_status: int | None = None
    latency_ms: int
    error_code: str | None = None
    error: str | None = None
    attempted_at: str
    will_retry: bool = False
    next_attempt_at: str | None = None
    dead_lettered: bool = False


class AttemptPage(Model):
    items: list[AttemptView]
    next_cursor: str | None = None


@dataclass(frozen=True)
class DeliveryState:
    tenant_id: str
    delivery_id: str
    endpoint_id: str
    event: OutboundEvent
    status: DeliveryStatus
    attempts: int
    delivered_targets: frozenset[str] = field(default_factory=frozenset)
    last_error: str | None = None
    last_http_status: int | None = None
    updated_at: str | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _state_from_item(item: dict[str, Any]) -> DeliveryState:
    return DeliveryState(
        tenant_id=str(item["tenant_id"]),
        delivery_id=str(item["delivery_id"]),
        endpoint_id=str(item["endpoint_id"]),
        event=OutboundEvent.model_validate_json(str(item["event"])),
        status=DeliveryStatus(str(item.get("status", DeliveryStatus.RETRYING))),
        attempts=int(item.get("attempts", 0)),
        delivered_targets=frozenset(str(t) for t in item.get("delivered_targets", ()) or ()),
        last_error=item.get("last_error"),
        last_http_status=int(item["last_http_status"]) if item.get("last_http_status") is not None else None,
        updated_at=item.get("updated_at"),
    )


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class DeliveryStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Any:
        return aws.table(self.table_name)

    # ------------------------------------------------------------ the worker

    def claim(self, message: DeliveryMessage, *, now: datetime, lease_seconds: int, expires_at: int) -> Claim:
        """Take the delivery for one attempt, unless it already succeeded or another worker has it."""
        event = message.event
        tenant = message.tenant
        names = {"#status": "status", "#event": "event", "#type": "type"}
        values: dict[str, Any] = {
            ":delivering": DeliveryStatus.DELIVERING.value,
            ":delivered": DeliveryStatus.DELIVERED.value,
            ":lease": _epoch(now) + lease_seconds,
            ":now_epoch": _epoch(now),
            ":now": format_timestamp(now),
            ":tenant": tenant,
            ":delivery": message.delivery_id,
            ":endpoint": message.endpoint_id,
            ":event_id": event.id,
            ":event_type": event.type.value,
            ":callid": event.callid,
            ":event": event.model_dump_json(),
            ":occurred": format_timestamp(event.occurred_at),
            ":expires": expires_at,
            ":kind": "delivery",
            ":g3pk": keys.delivery_states_pk(tenant),
            ":g3sk": keys.delivery_state_sort_key(format_timestamp(event.occurred_at), message.delivery_id),
            ":one": 1,
        }
        update = (
            "SET #status = :delivering, lease_until = :lease, updated_at = :now, tenant_id = :tenant, "
            "delivery_id = :delivery, endpoint_id = :endpoint, event_id = :event_id, "
            "event_type = :event_type, callid = :callid, #event = :event, occurred_at = :occurred, "
            "created_at = if_not_exists(created_at, :now), expires_at = :expires, #type = :kind, "
            "GSI3PK = :g3pk, GSI3SK = :g3sk ADD attempts :one"
        )
        lease_free = "(attribute_not_exists(lease_until) OR lease_until < :now_epoch)"
        if message.force:
            # A replay of a delivered event: send it again, to every URL.
            update += " REMOVE delivered_targets"
            condition = f"attribute_not_exists(PK) OR {lease_free}"
            del values[":delivered"]
        else:
            condition = f"attribute_not_exists(PK) OR (#status <> :delivered AND {lease_free})"
        try:
            response = self._table.update_item(
                Key=keys.delivery_state(tenant, message.delivery_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise
            raw: dict[str, Any] = dict(error.response.get("Item") or {})  # type: ignore[call-overload]
            old = {k: _deserializer.deserialize(v) for k, v in raw.items()}
            return Claim(granted=False, already_delivered=old.get("status") == DeliveryStatus.DELIVERED.value)
        item = response["Attributes"]
        return Claim(
            granted=True,
            attempt=int(item.get("attempts", 1)),
            delivered_targets=frozenset(str(t) for t in item.get("delivered_targets", ()) or ()),
        )

    def mark_target_delivered(self, tenant_id: str, delivery_id: str, target: str) -> None:
        """Parallel mode: remember a URL that has the event, so a retry sends only to the others."""
        self._table.update_item(
            Key=keys.delivery_state(tenant_id, delivery_id),
            UpdateExpression="ADD delivered_targets :t",
            ExpressionAttributeValues={":t": {target}},
        )

    def finish(
        self,
        tenant_id: str,
        delivery_id: str,
        status: DeliveryStatus,
        *,
        now: datetime,
        last_http_status: int | None = None,
        last_error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Release the lease with the attempt's result."""
        sets = ["#status = :status", "updated_at = :now"]
        removes = ["lease_until"]
        values: dict[str, Any] = {":status": status.value, ":now": format_timestamp(now)}
        for name, value in (
            ("last_http_status", last_http_status),
            ("last_error", last_error),
            ("next_attempt_at", format_timestamp(next_attempt_at) if next_attempt_at else None),
            ("delivered_at", format_timestamp(now) if status is DeliveryStatus.DELIVERED else None),
        ):
            if value is None:
                if name != "delivered_at":
                    removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        self._table.update_item(
            Key=keys.delivery_state(tenant_id, delivery_id),
            UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def record_attempts(
        self,
        message: DeliveryMessage,
        attempt: int,
        attempts: list[Attempt],
        outcome: Outcome,
        *,
        expires_at: int,
    ) -> None:
        """One item per HTTP request of this attempt, in the status indexes."""
        tenant = message.tenant
        event = message.event
        with self._table.batch_writer() as batch:
            for entry in attempts:
                at = format_timestamp(entry.attempted_at)
                sort_key = keys.delivery_attempt_sort_key(at, message.delivery_id, attempt, entry.target)
                item: dict[str, Any] = {
                    **keys.delivery_attempt(tenant, message.delivery_id, attempt, entry.target),
                    "type": "delivery_attempt",
                    "tenant_id": tenant,
                    "delivery_id": message.delivery_id,
                    "event_id": event.id,
                    "event_type": event.type.value,
                    "endpoint_id": message.endpoint_id,
                    "url": entry.url,
                    "attempt": attempt,
                    "target": entry.target,
                    "status": entry.status.value,
                    "latency_ms": entry.latency_ms,
                    "attempted_at": at,
                    "will_retry": outcome.will_retry,
                    "dead_lettered": outcome.dead_lettered,
                    "expires_at": expires_at,
                    "GSI1PK": keys.deliveries_by_status_pk(tenant, entry.status.value),
                    "GSI1SK": sort_key,
                    "GSI2PK": keys.deliveries_pk(tenant),
                    "GSI2SK": sort_key,
                }
                optional = {
                    "callid": event.callid,
                    "http_status": entry.http_status,
                    "error_code": entry.error_code,
                    "error": entry.error,
                    "next_attempt_at": format_timestamp(outcome.next_attempt_at)
                    if outcome.next_attempt_at
                    else None,
                }
                item.update({k: v for k, v in optional.items() if v is not None})
                batch.put_item(Item=item)

    # ------------------------------------------------------------ reads

    def get_state(self, tenant_id: str, delivery_id: str) -> DeliveryState | None:
        item = self._table.get_item(Key=keys.delivery_state(tenant_id, delivery_id), ConsistentRead=True).get(
            "Item"
        )
        return _state_from_item(item) if item else None

    def list_attempts(
        self,
        tenant_id: str,
        *,
        status: AttemptStatus | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> AttemptPage:
        """The tenant's attempts, newest first, optionally of one status."""
        if status is None:
            index, pk_attr, partition = keys.DELIVERY_INDEX_ALL, "GSI2PK", keys.deliveries_pk(tenant_id)
        else:
            index, pk_attr = keys.DELIVERY_INDEX_BY_STATUS, "GSI1PK"
            partition = keys.deliveries_by_status_pk(tenant_id, status.value)
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": Key(pk_attr).eq(partition),
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, MAX_LIMIT)),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(tenant_id, index, partition, cursor)
        response = self._table.query(**kwargs)
        items = [AttemptView.model_validate(_plain(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return AttemptPage(items=items, next_cursor=encode_cursor(tenant_id, index, last) if last else None)

    def states_between(self, tenant_id: str, start: datetime, end: datetime) -> Iterator[DeliveryState]:
        """Deliveries of events that occurred in [start, end), oldest first."""
        lower = format_timestamp(start)
        upper = format_timestamp(end)
        kwargs: dict[str, Any] = {
            "IndexName": keys.DELIVERY_STATE_INDEX,
            "KeyConditionExpression": Key("GSI3PK").eq(keys.delivery_states_pk(tenant_id))
            & Key("GSI3SK").between(lower, upper),
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                # BETWEEN is inclusive and "{upper}#..." sorts after "{upper}": keep [start, end).
                if str(item["GSI3SK"]) < upper:
                    yield _state_from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------- pagination cursors


def encode_cursor(tenant_id: str, index: str, last_evaluated_key: dict[str, Any]) -> str:
    document = {"v": 1, "t": tenant_id, "i": index, "k": _plain(last_evaluated_key)}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(tenant_id: str, index: str, partition: str, cursor: str) -> dict[str, str]:
    """The ExclusiveStartKey in ``cursor``, after checking it belongs to this tenant, index and partition."""
    if len(cursor) > 2048:
        raise InvalidCursor()
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(document, dict) or document.get("v") != 1:
        raise InvalidCursor()
    if document.get("t") != tenant_id or document.get("i") != index:
        raise InvalidCursor()
    key = document.get("k")
    pk_attr, sk_attr = f"{index}PK", f"{index}SK"
    if not isinstance(key, dict) or set(key) != {"PK", "SK", pk_attr, sk_attr}:
        raise InvalidCursor()
    if not all(isinstance(v, str) for v in key.values()):
        raise InvalidCursor()
    if not key["PK"].startswith(keys.delivery_partition_prefix(tenant_id)) or key[pk_attr] != partition:
        raise InvalidCursor()
    if not key["SK"].startswith(keys.DELIVERY_ATTEMPT_SK_PREFIX):
        raise InvalidCursor()
    return {str(k): str(v) for k, v in key.items()}
