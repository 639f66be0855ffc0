"""The requests of seed 004 §1, exactly as a PBX of the vendors sends them to a CRM.

A CRM written for the vendors' PBX keeps working when CTI Bridge stands in front of the PBX:

* ``GET {base}/wsapi/{customer}/incoming_call?secret=..&phone=..&extension=..&callid=..`` (call.ringing)
* ``GET {base}/wsapi/{customer}/outgoing_call?secret=..&phone=..&extension=..&callid=..`` (call.outgoing)
* ``POST {base}/wsapi/{customer}/call_answered?secret=..`` with the JSON body ``{callid, calldate,
  extension, phone, duration, billsec, status, recording, userfield}`` (call.ended), ``calldate`` as
  ``Y-m-d H:i:s`` in the tenant's timezone, ``duration``/``billsec`` as numbers, ``status`` as the PBX
  spelled it (``NO ANSER`` included), ``recording`` and ``userfield`` as strings (empty when absent).

``{base}`` is the endpoint URL (the seed's ``https://{domain_crm}``, a path prefix allowed); query
parameters in it are CRM-defined extras (the seed's "tham số môi trường") and follow the seed's own.
``{secret}`` is the tenant's CRM secret. No other event exists in the seed, so no other is sent.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from ctibridge.delivery.models import EventType, OutboundEvent, OutgoingRequest

_PATHS: dict[EventType, tuple[str, str]] = {
    EventType.CALL_RINGING: ("GET", "incoming_call"),
    EventType.CALL_OUTGOING: ("GET", "outgoing_call"),
    EventType.CALL_ENDED: ("POST", "call_answered"),
}
CALL_LOG_FIELDS = (
    "callid",
    "calldate",
    "extension",
    "phone",
    "duration",
    "billsec",
    "status",
    "recording",
    "userfield",
)


class NotInSeed(ValueError):
    """The event has no seed 004 request (recording.ready, click-to-call results)."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _seconds(value: Any) -> int:
    try:
        return int(float(value)) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def call_log_body(data: dict[str, Any]) -> dict[str, Any]:
    """The call_answered JSON body from a call.ended event's data, in the seed's field order."""
    return {
        "callid": _text(data.get("callid")),
        "calldate": _text(data.get("calldate_local")),
        "extension": _text(data.get("extension")),
        "phone": _text(data.get("phone")),
        "duration": _seconds(data.get("duration")),
        "billsec": _seconds(data.get("billsec")),
        # The PBX's own spelling: a seed CRM compares against it ("NO ANSER" included).
        "status": _text(data.get("status_raw") or data.get("status")),
        "recording": _text(data.get("recording")),
        "userfield": _text(data.get("userfield")),
    }


def build_request(base_url: str, customer: str, secret: str, event: OutboundEvent) -> OutgoingRequest:
    """The seed 004 request for ``event``; raises :class:`NotInSeed` for events the seed lacks."""
    if event.type not in _PATHS:
        raise NotInSeed(f"{event.type.value} has no seed 004 request")
    method, name = _PATHS[event.type]
    parts = urlsplit(base_url)
    path = f"{parts.path.rstrip('/')}/wsapi/{quote(customer, safe='')}/{name}"
    url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    extras = parse_qsl(parts.query, keep_blank_values=True)
    data = event.data
    headers = {"webhook-id": event.id}  # not in the seed, harmless to it: lets a CRM dedupe retries
    if method == "GET":
        params = [
            ("secret", secret),
            ("phone", _text(data.get("phone"))),
            ("extension", _text(data.get("extension"))),
            ("callid", _text(data.get("callid") or event.callid)),
        ]
        return OutgoingRequest(method, url, params + extras, headers)
    body = json.dumps(call_log_body(data), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers["Content-Type"] = "application/json"
    return OutgoingRequest(method, url, [("secret", secret), *extras], headers, body)
