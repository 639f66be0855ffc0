"""What is forwarded to a CRM, and where: endpoint configuration, the event envelope, the queue message.

A tenant has one or more :class:`CrmEndpoint` (stored on the tenant profile, ``Tenant.crm_endpoints``).
Nothing secret is in it: the signing secret and the credential of the auth option live in the tenant's
Secrets Manager document (:class:`EndpointSecrets`, ``TenantSecrets.crm_endpoint_secrets[endpoint id]``).

This module imports nothing from the rest of the package, so ``ctibridge.tenants.models`` can use it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from ctibridge.model import Model

ENDPOINT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_URL_CHARS = 2048
MAX_BACKUP_URLS = 2  # failover through three URLs at most: the worker's time budget is per message
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Headers the worker sets itself; an API key header may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


class EventType(StrEnum):
    """The events CTI Bridge forwards; the JSON body's ``type``."""

    CALL_RINGING = "call.ringing"  # seed 004 incoming_call: an inbound call rings an extension
    CALL_OUTGOING = "call.outgoing"  # seed 004 outgoing_call: an extension dials out
    CALL_ENDED = "call.ended"  # seed 004 call_answered: the call log, sent when a call ends
    RECORDING_READY = "recording.ready"  # the recording is stored; data carries a presigned URL
    CLICK_TO_CALL_RESULT = "click_to_call.result"  # what the PBX answered to a click-to-call


class EndpointFormat(StrEnum):
    JSON = "json"  # one POST per event, Standard Webhooks headers, HMAC-SHA256 signature
    SEED004 = "seed004"  # the seed's own requests: GET incoming_call/outgoing_call, POST call_answered


class DeliveryMode(StrEnum):
    FAILOVER = "failover"  # the main URL; a backup only when it fails
    PARALLEL = "parallel"  # every URL at once; each must succeed


class AuthType(StrEnum):
    NONE = "none"
    API_KEY = "api_key"  # "{header}: {credential}"
    BEARER = "bearer"  # "Authorization: Bearer {credential}"
    BASIC = "basic"  # "Authorization: Basic base64({username}:{credential})"


# What a seed 004 CRM understands: the three PBX events, nothing else.
SEED004_EVENTS = frozenset({EventType.CALL_RINGING, EventType.CALL_OUTGOING, EventType.CALL_ENDED})


def check_url(value: str) -> str:
    """An absolute http(s) URL without credentials or fragment (credentials go in the auth option)."""
    value = value.strip()
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"must be at most {MAX_URL_CHARS} characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not embed credentials; use the endpoint's auth option")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def public_url(url: str) -> str:
    """``url`` without its query string: what attempts record (a seed 004 query carries the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


EndpointUrl = Annotated[str, AfterValidator(check_url)]
EndpointId = Annotated[str, Field(pattern=ENDPOINT_ID_PATTERN)]


class EndpointAuth(Model):
    """How the worker authenticates to the CRM; the credential itself is in the tenant's secret."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: AuthType = AuthType.NONE
    header: str = "X-Api-Key"  # api_key only
    username: str | None = Field(default=None, max_length=128)  # basic only; not a secret

    @field_validator("header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if (
            not _HEADER_NAME.match(value)
            or value.lower() in RESERVED_HEADERS
            or value.lower() == "authorization"
        ):
            raise ValueError("must be an HTTP header name the worker does not set itself")
        return value

    @model_validator(mode="after")
    def _basic_needs_user(self) -> EndpointAuth:
        if self.type is AuthType.BASIC and (not self.username or ":" in self.username):
            raise ValueError("basic auth needs a username without ':'")
        return self


class CrmEndpoint(Model):
    """One CRM destination of a tenant: a main URL, optional backups, a format, auth and a mode."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: EndpointId
    url: EndpointUrl
    backup_urls: list[EndpointUrl] = Field(default_factory=list, max_length=MAX_BACKUP_URLS)
    format: EndpointFormat = EndpointFormat.JSON
    mode: DeliveryMode = DeliveryMode.FAILOVER
    auth: EndpointAuth = Field(default_factory=EndpointAuth)
    # None: every event the format can express; otherwise only these.
    events: list[EventType] | None = None
    # Loopback, private and link-local destinations are refused unless the operator allows them here
    # (a CRM on the customer's LAN behind a VPN, the local stack's test CRM).
    allow_private_network: bool = False
    enabled: bool = True

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.backup_urls]

    def accepts(self, event_type: EventType) -> bool:
        if not self.enabled:
            return False
        if self.format is EndpointFormat.SEED004 and event_type not in SEED004_EVENTS:
            return False
        return self.events is None or event_type in self.events

    @model_validator(mode="after")
    def _distinct_urls(self) -> CrmEndpoint:
        if len(set(self.urls)) != len(self.urls):
            raise ValueError("the main and backup URLs must differ")
        return self


class EndpointSecrets(Model):
    """An endpoint's secrets, in the tenant's Secrets Manager document, never in DynamoDB."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    signing_secret: SecretStr | None = None  # "whsec_<base64>" (json format)
    credential: SecretStr | None = None  # the API key, Bearer token or Basic password

    def plain(self) -> dict[str, str]:
        values = {"signing_secret": self.signing_secret, "credential": self.credential}
        return {name: secret.get_secret_value() for name, secret in values.items() if secret is not None}


# ---------------------------------------------------------------- the event envelope


def format_timestamp(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds, ``2024-05-01T08:29:30.123Z`` (string order is time order)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def event_id(tenant_id: str, event_type: EventType, *discriminators: str) -> str:
    """A stable event id: the same source event always yields the same id (the CRM dedupes on it)."""
    material = "\n".join([tenant_id, event_type.value, *discriminators])
    return "evt_" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


class OutboundEvent(Model):
    """One event for the CRM. ``id`` is stable across retries, replays and PBX re-sends."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    type: EventType
    tenant: str
    callid: str | None = None
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    # Internal: the S3 key of a recording.ready event; the presigned URL is made at each attempt (a URL
    # made at enqueue time would have expired by a retry). Never sent to the CRM.
    recording_key: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of the ``json`` format (Standard Webhooks: ``type``, ``timestamp``, ``data``)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "timestamp": format_timestamp(self.occurred_at),
            "tenant": self.tenant,
            "callid": self.callid,
            "data": self.data,
        }


def delivery_id(event_id_: str, endpoint_id: str) -> str:
    """One delivery = one event to one endpoint; its attempts and state are keyed by this."""
    return "dlv_" + hashlib.sha256(f"{event_id_}\n{endpoint_id}".encode()).hexdigest()[:32]


class DeliveryMessage(Model):
    """The body of a DeliveryQueue message: one event for one endpoint of one tenant."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1
    tenant: str
    endpoint_id: str
    event: OutboundEvent
    # Replays of a delivered event (``ctibridge events replay --include-delivered``) send it again.
    force: bool = False

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.event.id, self.endpoint_id)


@dataclass(frozen=True)
class OutgoingRequest:
    """One HTTP request of one attempt, before it is sent (built by ``seed004`` or ``worker``)."""

    method: str
    url: str  # without the query string
    params: list[tuple[str, str]] = field(default_factory=list)  # in this order on the wire
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
