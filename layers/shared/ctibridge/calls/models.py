"""Call events (what the PBX told us, normalized) and call records (what we stored, merged)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ConfigDict, Field

from ctibridge.model import Model


class EventKind(StrEnum):
    """The three seed 004 webhooks, named as in their URLs."""

    INCOMING = "incoming_call"
    OUTGOING = "outgoing_call"
    ANSWERED = "call_answered"  # the seed's name for the call log sent when a call ends

    @property
    def is_ring(self) -> bool:
        return self is not EventKind.ANSWERED

    @property
    def direction(self) -> Direction | None:
        """The direction a ring event gives its call; a call log says none."""
        return {EventKind.INCOMING: Direction.INBOUND, EventKind.OUTGOING: Direction.OUTBOUND}.get(self)

    @property
    def ring_status(self) -> str | None:
        """A call's status while only this ring event is known (None for a call log)."""
        return {EventKind.INCOMING: RINGING, EventKind.OUTGOING: DIALING}.get(self)


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


# Statuses we know, as Asterisk's CDR dispositions and Dial() statuses spell them; others are kept as
# sent (uppercased), never rejected: a PBX upgrade must not make us drop call logs.
RINGING = "RINGING"  # an incoming call rings an extension; no call log yet
DIALING = "DIALING"  # an outgoing call is being placed; no call log yet
KNOWN_STATUSES = frozenset(
    {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCEL", "CONGESTION", "CHANUNAVAIL", RINGING, DIALING}
)
_STATUS_ALIASES = {
    "NO ANSER": "NO ANSWER",  # seed 004's own spelling
    "NOANSWER": "NO ANSWER",
    "NO_ANSWER": "NO ANSWER",
    "NO-ANSWER": "NO ANSWER",
    "CANCELED": "CANCEL",
    "CANCELLED": "CANCEL",
    "CANCELED_BY_CALLER": "CANCEL",
    "COMPLETED": "ANSWERED",
    "ANSWER": "ANSWERED",
}


def normalize_status(raw: str) -> str:
    """``raw`` in canonical spelling: trimmed, uppercased, inner spaces collapsed, aliases resolved."""
    value = " ".join(raw.strip().upper().split())
    return _STATUS_ALIASES.get(value, value)


def format_timestamp(moment: datetime) -> str:
    """Fixed-width UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``: string order is time order (index sort keys)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_utc_seconds(moment: datetime) -> str:
    """UTC ISO 8601 to the second, ``2019-08-16T08:29:30Z``: how a calldate is stored and answered."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CallEvent:
    """One PBX event, validated and normalized: the input of the merge (``calls.merge``)."""

    kind: EventKind
    callid: str
    received_at: datetime  # when we received it (UTC); orders ring events that carry no time
    phone: str  # raw, as sent
    phone_e164: str | None
    phone_key: str | None  # by-phone index key (E.164 or digits); None for a withheld caller
    extension: str
    # call_answered only
    calldate: datetime | None = None  # UTC
    calldate_local: str | None = None  # as sent, in the tenant's timezone
    duration: int | None = None
    billsec: int | None = None
    status: str | None = None  # normalized
    status_raw: str | None = None
    recording: str | None = None  # http(s) URL, None when the PBX sent none
    # The CRM's userfield. A click-to-call's call log comes back with our token in the PBX's userfield:
    # ``click2call.resolve_call_log`` puts the CRM's own userfield here and the request in
    # ``outbound_request_id`` (ours, internal), so every CRM-facing surface shows the CRM's value.
    userfield: str | None = None
    outbound_request_id: str | None = None

    def direction_of(self, call: CallRecord | None) -> Direction | None:
        """The call's direction: this ring event's own, else the stored call's (a call log has none)."""
        return self.kind.direction or (call.direction if call is not None else None)

    @property
    def public_recording(self) -> str | None:
        """The recording URL without credentials a PBX may embed: they are for us, not for agents' screens
        or the CRM."""
        if not self.recording:
            return None
        parts = urlsplit(self.recording)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    @property
    def event_id(self) -> str:
        """Identity of the event's content, not of its delivery: a PBX retry has the same id.

        ``received_at`` is excluded on purpose (a retry arrives later); everything the PBX sent is
        included, so a corrected call log for the same callid is a new event, not a duplicate.
        """
        content = {
            "kind": self.kind.value,
            "callid": self.callid,
            "phone": self.phone,
            "extension": self.extension,
            "calldate": self.calldate_local,
            "duration": self.duration,
            "billsec": self.billsec,
            "status": self.status_raw,
            "recording": self.recording,
            "userfield": self.userfield,
        }
        if self.outbound_request_id:  # absent otherwise: ids of other events stay as they were
            content["outbound_request_id"] = self.outbound_request_id
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return f"{self.kind.value}:{digest[:20]}"


_DIRECTIONS = {kind.value: kind.direction for kind in EventKind if kind.direction}
_LOG_ONLY = (
    "calldate",
    "calldate_local",
    "duration",
    "billsec",
    "status_raw",
    "userfield",
    "outbound_request_id",
    "recording_url",
)


class RecordingState(StrEnum):
    NONE = "none"  # the PBX sent no recording URL
    PENDING = "pending"  # queued for download (or being retried)
    STORED = "stored"
    FAILED = "failed"  # refused for good (forbidden host, not audio, too large...)


class CallRecord(Model):
    """A call as stored: the merge of its events plus what the recording fetcher added."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    callid: str
    direction: Direction | None = None  # None until a ring event says (call_answered does not)
    phone: str | None = None
    phone_e164: str | None = None
    extension: str | None = None
    rang_extensions: list[str] = Field(default_factory=list)
    status: str | None = None
    status_raw: str | None = None
    started_at: str | None = None  # calldate if known, else when the first ring event arrived
    calldate: str | None = None  # UTC ISO 8601 (from call_answered)
    calldate_local: str | None = None
    duration: int | None = None
    billsec: int | None = None
    userfield: str | None = None  # the CRM's (see CallEvent.userfield)
    outbound_request_id: str | None = None  # the click-to-call request this call log closed
    recording_url: str | None = None  # the PBX's URL; internal (may carry credentials), never answered
    recording_s3_key: str | None = None
    recording_source_url: str | None = None  # the URL the stored object came from
    recording_size: int | None = None
    recording_sha256: str | None = None
    recording_content_type: str | None = None
    recording_stored_at: str | None = None
    recording_error: str | None = None
    recording_error_url: str | None = None
    first_seen_at: str | None = None  # when the first ring arrived, or the call log if none did
    updated_at: str | None = None  # when the latest event stored arrived
    event_ids: list[str] = Field(default_factory=list)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CallRecord:
        """The flat record of a stored item (the ``ring`` and ``log`` maps of ``calls.merge``)."""
        plain: dict[str, Any] = _plain(item)
        ring: dict[str, Any] = plain.pop("ring", None) or {}
        log: dict[str, Any] = plain.pop("log", None) or {}
        # The call log's facts win; the ring's show until one arrives.
        facts = log or ring
        tenant_id, _, callid = str(plain.get("PK", "")).removeprefix("TENANT#").partition("#CALL#")
        received = [at for at in (ring.get("received_at"), log.get("received_at")) if at]
        sort_key = plain.get("GSI1SK")
        return cls.model_validate(
            {
                "tenant_id": tenant_id,
                "callid": callid,
                **plain,
                "direction": _DIRECTIONS.get(ring.get("kind", "")),
                "phone": facts.get("phone"),
                "phone_e164": facts.get("phone_e164"),
                "extension": facts.get("extension"),
                **{name: log.get(name) for name in _LOG_ONLY},
                "started_at": sort_key.split("#", 1)[0] if isinstance(sort_key, str) else None,
                "first_seen_at": ring.get("received_at") or log.get("received_at"),
                "updated_at": max(received) if received else None,
            }
        )

    @property
    def recording_state(self) -> RecordingState:
        if not self.recording_url:
            return RecordingState.NONE
        if self.recording_s3_key and self.recording_source_url == self.recording_url:
            return RecordingState.STORED
        if self.recording_error and self.recording_error_url == self.recording_url:
            return RecordingState.FAILED
        return RecordingState.PENDING


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as plain ints and sorted lists."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
