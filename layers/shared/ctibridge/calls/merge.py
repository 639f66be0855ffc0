"""The merge rule of a call's events, as data: one plan per event, applied the same way in Python and
in DynamoDB.

A PBX delivers each call's events at least once and in any order (``call_answered`` may come before
``incoming_call``, or alone). Every event becomes ONE conditional ``UpdateItem`` on the call's item; the
rule that makes the result independent of order and of duplicates:

* **Duplicates change nothing.** Each event has a content id (``CallEvent.event_id``); the update is
  conditioned on the id not being in the item's ``event_ids`` set yet, so a retry fails the condition
  and writes nothing (the webhook still answers 200).
* **The call log is authoritative**: ``call_answered`` stores what it carries (phone, extension, status,
  calldate, durations, recording, userfield) as the item's ``log`` map, replacing an earlier log (a
  corrected log from the PBX wins).
* **Ring events fill gaps only**: the first ring event is kept as the ``ring`` map
  (``if_not_exists``) and gives the direction; its phone and extension show until a call log arrives.
  ``status`` (top level, for filters) is RINGING/DIALING only while no log said otherwise.
* **The time a call is sorted by** (every index sort key, read back as ``started_at``) is the call
  log's calldate when known, else the time the first event arrived. Ring events write the sort keys with
  ``if_not_exists(GSI1SK, ...)`` so all three index sort keys always stay equal.

The facts sit in two maps rather than a dozen attributes on purpose: a few clauses per update keep the
write cheap to evaluate (moto, which the local stack and the tests use, spends time per clause), and
``CallRecord.from_item`` reads the call as one flat record.

``apply`` is the executable specification (property-tested for any order and duplication of events);
``to_update_kwargs`` renders the same plan as DynamoDB expressions, and a test checks both agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ctibridge import keys
from ctibridge.calls.models import (
    CallEvent,
    format_timestamp,
    format_utc_seconds,
)

EVENT_IDS = "event_ids"
RANG_EXTENSIONS = "rang_extensions"
RING = "ring"  # the first ring event's facts
LOG = "log"  # the latest call log's facts


class Mode(Enum):
    SET = "set"  # always overwrite
    SET_IF_ABSENT = "set_if_absent"  # attr = if_not_exists(source, value)
    ADD_TO_SET = "add_to_set"  # attr = attr | value (a DynamoDB string set, set union)


@dataclass(frozen=True)
class Assignment:
    attribute: str
    value: Any
    mode: Mode
    # For SET_IF_ABSENT: the attribute whose presence is tested (and whose value is kept); by default
    # the attribute itself. Index sort keys test GSI1SK so the three stay equal.
    source: str | None = None


@dataclass(frozen=True)
class UpdatePlan:
    key: dict[str, str]
    event_id: str
    assignments: tuple[Assignment, ...] = field(default_factory=tuple)


def _s(attribute: str, value: Any) -> Assignment:
    return Assignment(attribute, value, Mode.SET)


def _gap(attribute: str, value: Any, source: str | None = None) -> Assignment:
    return Assignment(attribute, value, Mode.SET_IF_ABSENT, source)


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def plan(tenant_id: str, event: CallEvent) -> UpdatePlan:
    """The update that merges ``event`` into the call's item, whatever the item holds already."""
    received = format_timestamp(event.received_at)
    assignments: list[Assignment] = [
        Assignment(EVENT_IDS, frozenset({event.event_id}), Mode.ADD_TO_SET),
        # The same value for every event of the tenant: a plain SET, cheaper than if_not_exists.
        _s("GSI1PK", keys.calls_by_date_pk(tenant_id)),
    ]
    index_pks = {"GSI3PK": keys.calls_by_extension_pk(tenant_id, event.extension)}
    if event.phone_key:
        index_pks["GSI2PK"] = keys.calls_by_phone_pk(tenant_id, event.phone_key)

    if event.kind.is_ring:
        sort_key = keys.call_sort_key(received, event.callid)
        ring = {
            "kind": event.kind.value,
            "phone": event.phone,
            "phone_e164": event.phone_e164,
            "extension": event.extension,
            "received_at": received,
        }
        assignments += [
            _gap(RING, _compact(ring)),
            _gap("status", event.kind.ring_status),
            Assignment(RANG_EXTENSIONS, frozenset({event.extension}), Mode.ADD_TO_SET),
            _gap("GSI1SK", sort_key),
            *(_gap(name, value) for name, value in index_pks.items()),
            _gap("GSI3SK", sort_key, source="GSI1SK"),
        ]
        if "GSI2PK" in index_pks:
            assignments.append(_gap("GSI2SK", sort_key, source="GSI1SK"))
        return UpdatePlan(keys.call(tenant_id, event.callid), event.event_id, tuple(assignments))

    # call_answered: authoritative for everything it carries.
    assert event.calldate is not None  # guaranteed by validation of call_answered
    sort_key = keys.call_sort_key(format_timestamp(event.calldate), event.callid)
    log = {
        "phone": event.phone,
        "phone_e164": event.phone_e164,
        "extension": event.extension,
        "calldate": format_utc_seconds(event.calldate),
        "calldate_local": event.calldate_local,
        "duration": event.duration,
        "billsec": event.billsec,
        "status_raw": event.status_raw,
        "recording_url": event.recording,
        "userfield": event.userfield,
        "outbound_request_id": event.outbound_request_id,
        "received_at": received,
    }
    assignments += [
        _s(LOG, _compact(log)),
        _s("status", event.status),
        _s("GSI1SK", sort_key),
        _s("GSI3SK", sort_key),
        *(_s(name, value) for name, value in index_pks.items()),
    ]
    if "GSI2PK" in index_pks:
        assignments.append(_s("GSI2SK", sort_key))
    return UpdatePlan(keys.call(tenant_id, event.callid), event.event_id, tuple(assignments))


def is_duplicate(item: Mapping[str, Any] | None, update: UpdatePlan) -> bool:
    return bool(item) and update.event_id in (item or {}).get(EVENT_IDS, ())


def apply(item: Mapping[str, Any] | None, update: UpdatePlan) -> dict[str, Any] | None:
    """The item after ``update``, or None if ``update`` is a duplicate (then nothing is written).

    Mirrors DynamoDB: every right-hand side is evaluated against the item *before* the update.
    """
    if is_duplicate(item, update):
        return None
    old = dict(item or {})
    new = {**old, **update.key}
    for a in update.assignments:
        if a.mode is Mode.SET:
            new[a.attribute] = a.value
        elif a.mode is Mode.SET_IF_ABSENT:
            source = a.source or a.attribute
            new[a.attribute] = old.get(source, a.value)
        else:
            new[a.attribute] = frozenset(old.get(a.attribute, frozenset())) | a.value
    return new


def to_update_kwargs(update: UpdatePlan) -> dict[str, Any]:
    """``Table.update_item`` arguments for ``update``: one conditional write, no read before it."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":event_id": update.event_id}
    sets: list[str] = []
    adds: list[str] = []

    def name(attribute: str) -> str:
        placeholder = f"#n{len(names)}"
        for existing, attr in names.items():
            if attr == attribute:
                return existing
        names[placeholder] = attribute
        return placeholder

    for index, a in enumerate(update.assignments):
        value = f":v{index}"
        if a.mode is Mode.ADD_TO_SET:
            values[value] = set(a.value)  # boto3 writes a Python set of str as a string set (SS)
            adds.append(f"{name(a.attribute)} {value}")
            continue
        values[value] = a.value
        if a.mode is Mode.SET:
            sets.append(f"{name(a.attribute)} = {value}")
        else:
            sets.append(f"{name(a.attribute)} = if_not_exists({name(a.source or a.attribute)}, {value})")
    expression = f"SET {', '.join(sets)}" + (f" ADD {', '.join(adds)}" if adds else "")
    event_ids = name(EVENT_IDS)
    return {
        "Key": update.key,
        "UpdateExpression": expression,
        # On a new item contains() of a missing attribute is false, so the first event always passes.
        "ConditionExpression": f"NOT contains({event_ids}, :event_id)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
