"""The merge rule of a call's events, as data: one plan per event, applied the same way in Python and
in DynamoDB.

A PBX delivers each call's events at least once and in any order (``call_answered`` may come before
``incoming_call``, or alone). Every event becomes ONE conditional ``UpdateItem`` on the call's item; the
rule that makes the result independent of order and of duplicates:

* **Duplicates change nothing.** Each event has a content id (``CallEvent.event_id``); the update is
  conditioned on the id not being in the item's ``event_ids`` set yet, so a retry fails the condition
  and writes nothing (the webhook still answers 200).
* **call_answered is authoritative** for what it carries (phone, extension, status, calldate, durations,
  recording, userfield): it ``SET``s them.
* **Ring events fill gaps only**: they ``SET`` with ``if_not_exists``, so they never overwrite what a
  call log already wrote, and the first ring event wins over later ones. ``direction`` comes from ring
  events only (the call log does not say it).
* **The time a call is sorted by** (``started_at`` and every index sort key) is the call log's calldate
  when known, else the time the first event arrived. Ring events write the sort keys with
  ``if_not_exists(GSI1SK, ...)`` so all three index sort keys always stay equal.

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
    DIALING,
    RINGING,
    CallEvent,
    Direction,
    EventKind,
    format_timestamp,
    format_utc_seconds,
)

EVENT_IDS = "event_ids"
RANG_EXTENSIONS = "rang_extensions"


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


def plan(tenant_id: str, event: CallEvent) -> UpdatePlan:
    """The update that merges ``event`` into the call's item, whatever the item holds already."""
    received = format_timestamp(event.received_at)
    assignments: list[Assignment] = [
        _gap("type", "call"),
        _gap("tenant_id", tenant_id),
        _gap("callid", event.callid),
        _gap("first_seen_at", received),
        # Bookkeeping only: the time of the last event applied (not part of the order-free merge).
        _s("updated_at", received),
        Assignment(EVENT_IDS, frozenset({event.event_id}), Mode.ADD_TO_SET),
    ]
    index_pks = {
        "GSI1PK": keys.calls_by_date_pk(tenant_id),
        "GSI3PK": keys.calls_by_extension_pk(tenant_id, event.extension),
    }
    if event.phone_key:
        index_pks["GSI2PK"] = keys.calls_by_phone_pk(tenant_id, event.phone_key)

    if event.kind.is_ring:
        sort_key = keys.call_sort_key(received, event.callid)
        outgoing = event.kind is EventKind.OUTGOING
        assignments += [
            _gap("direction", (Direction.OUTBOUND if outgoing else Direction.INBOUND).value),
            _gap("status", DIALING if outgoing else RINGING),
            _gap("phone", event.phone),
            _gap("extension", event.extension),
            _gap("started_at", received),
            Assignment(RANG_EXTENSIONS, frozenset({event.extension}), Mode.ADD_TO_SET),
        ]
        if event.phone_e164:
            assignments.append(_gap("phone_e164", event.phone_e164))
        assignments += [_gap(name, value) for name, value in index_pks.items()]
        assignments += [_gap(f"GSI{i}SK", sort_key, source="GSI1SK") for i in (1, 3)]
        if "GSI2PK" in index_pks:
            assignments.append(_gap("GSI2SK", sort_key, source="GSI1SK"))
        return UpdatePlan(keys.call(tenant_id, event.callid), event.event_id, tuple(assignments))

    # call_answered: authoritative for everything it carries.
    assert event.calldate is not None  # guaranteed by validation of call_answered
    started = format_timestamp(event.calldate)
    sort_key = keys.call_sort_key(started, event.callid)
    values: dict[str, Any] = {
        "phone": event.phone,
        "extension": event.extension,
        "calldate": format_utc_seconds(event.calldate),
        "calldate_local": event.calldate_local,
        "started_at": started,
        "duration": event.duration,
        "billsec": event.billsec,
        "status": event.status,
        "status_raw": event.status_raw,
        "userfield": event.userfield,
        "recording_url": event.recording,
        "phone_e164": event.phone_e164,
        **index_pks,
        "GSI1SK": sort_key,
        "GSI3SK": sort_key,
    }
    if "GSI2PK" in index_pks:
        values["GSI2SK"] = sort_key
    # None values are left out rather than removed: an absent userfield in a later log does not erase
    # one given earlier, and the plan stays a pure "set" plan.
    assignments += [_s(name, value) for name, value in values.items() if value is not None]
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
