"""A click-to-call request and its life: queued → dialing → ringing → answered → ended, or failed."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from ctibridge.model import Model
from ctibridge.tenants.models import IPPHONE_PATTERN

# The SIP Call-ID (browser) or PBX userfield (softphone, mobile) that carries our request id through
# the PBX and back in call_answered's userfield (seed 004 §2.2).
_TOKEN_PREFIX = "ctb-"
_TOKEN = re.compile(r"^ctb-([0-9a-f]{32})(?:@.*)?$")
MAX_USERFIELD = 256


class Source(StrEnum):
    API = "api"  # POST /v1/calls/outbound
    CLICK2CALL_PHP = "click2call.php"  # the seed's GET
    WEBPHONE = "webphone"  # csCallout over the WebSocket


class Route(StrEnum):
    """Which device places the call, from the agent's device type (changeDevice 1/2/3)."""

    BROWSER = "browser"
    SOFTPHONE = "softphone"
    MOBILE = "mobile"


class Status(StrEnum):
    QUEUED = "queued"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    FAILED = "failed"


# A report may only move a request forward; late or repeated reports never move it back.
STATUS_RANK = {
    Status.QUEUED: 0,
    Status.DIALING: 1,
    Status.RINGING: 2,
    Status.ANSWERED: 3,
    Status.ENDED: 4,
    Status.FAILED: 4,
}


def new_request_id() -> str:
    return uuid.uuid4().hex


def call_token(request_id: str) -> str:
    """What the webphone sets as SIP Call-ID and what we send the PBX as userfield."""
    return f"{_TOKEN_PREFIX}{request_id}"


def request_id_from_userfield(userfield: str | None) -> str | None:
    """The request id inside a userfield/Call-ID we issued, else None (a CRM's own userfield)."""
    if not userfield:
        return None
    found = _TOKEN.match(userfield.strip())
    return found.group(1) if found else None


class OutboundCallRequest(Model):
    """What a CRM sends: ``POST /v1/calls/outbound`` body or ``click2call.php`` query."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    extension: str = Field(pattern=IPPHONE_PATTERN, description="The agent's extension (ipphone).")
    phone: str = Field(min_length=1, max_length=32, description="Number to call.")
    userfield: str | None = Field(
        default=None, max_length=MAX_USERFIELD, description="The CRM's own reference, returned with the call."
    )

    @field_validator("extension", "phone", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # PHP CRMs send numbers as JSON numbers.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class OutboundRequest(Model):
    """A stored click-to-call request, as ``GET /v1/calls/outbound/{id}`` shows it."""

    model_config = ConfigDict(extra="ignore")

    request_id: str
    tenant_id: str
    extension: str
    phone: str
    phone_e164: str | None = None
    userfield: str | None = None
    source: Source
    route: Route
    status: Status = Status.QUEUED
    error_code: str | None = None
    sip_code: int | None = None
    call_token: str
    callid: str | None = None  # the PBX's callid once the call log arrives
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"tenant_id", "call_token"})
