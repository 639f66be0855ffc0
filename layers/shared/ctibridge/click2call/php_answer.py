"""``click2call.php`` answers a CRM as the PBX it replaces would.

A CRM written against the seed PBX's ``click2call.php`` (seed 004 §2.1; the seed shows no answer body)
checks for HTTP 200 and a success status. So: 200 ``{"status": "success", "request_id": ..., ...}``
while the call is being placed (the request's own progress is ``request_status``, the field
``status`` being the PBX's), and ``{"status": "error", "code": <seed code>, "message": ...}`` with the
error's 4xx/5xx otherwise. ``POST /v1/calls/outbound`` keeps its 202 and its own shape.
"""

from __future__ import annotations

import json
from typing import Any


def placed(request_view: dict[str, Any]) -> dict[str, Any]:
    """The success body for a request being placed (``OutboundRequest.view()``)."""
    fields = {k: v for k, v in request_view.items() if k != "status"}
    return {"status": "success", **fields, "request_status": request_view.get("status")}


def as_pbx_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway answer of the click2call.php route, its error body marked ``status: error``.

    Every error of the route (credentials, validation, the seeds' call-out codes, 5xx) is already a
    JSON ``{code, message}`` from ``http_errors``; this adds what a PBX-era CRM branches on.
    """
    if int(answer.get("statusCode", 200)) < 400:
        return answer
    try:
        body = json.loads(answer.get("body") or "{}")
    except ValueError:
        return answer
    if not isinstance(body, dict) or "code" not in body:
        return answer
    marked = {"status": "error", **body}
    return {**answer, "body": json.dumps(marked, separators=(",", ":"), ensure_ascii=False)}
