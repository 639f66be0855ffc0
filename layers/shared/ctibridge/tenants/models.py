"""Tenants (one per PBX customer), their agents, and the secrets that never go into DynamoDB.

A tenant is known by two names from the seeds: the customer code of the PBX webhooks
(seed 004, ``/wsapi/{customer}/...``), which is also our ``tenant_id``, and the domain of the CRM
login (seeds 001/002, ``/{domain}/thirdParty/login``).
"""

from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from ctibridge.delivery.models import CrmEndpoint, EndpointSecrets
from ctibridge.model import Model

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_ICE_SERVERS: list[dict[str, Any]] = [{"urls": "stun:stun.l.google.com:19302"}]
# Placeholders until an operator sets the tenant's PBX: Asterisk's default WebSocket endpoint.
DEFAULT_SIP_SERVER = "localhost"
DEFAULT_SIP_WS_URL = "ws://localhost:8088/ws"

# Both names travel in URL paths, so they are restricted to URL-safe characters; anything else can
# be rejected without a database read.
CUSTOMER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
DOMAIN_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
IPPHONE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
MOBILE_PATTERN = r"^\+?[0-9]{8,15}$"

CustomerCode = Annotated[str, Field(pattern=CUSTOMER_PATTERN)]
# The languages of the webphone's and the SDK's message catalogs (webphone/js/messages/).
WebphoneLanguage = Literal["vi", "en"]
WEBPHONE_LANGUAGES: tuple[str, ...] = ("vi", "en")
Ipphone = Annotated[str, Field(pattern=IPPHONE_PATTERN)]


def normalize_domain(domain: str) -> str:
    """Domains are compared case-insensitively: ``Demo`` and ``demo`` are one tenant."""
    return domain.strip().lower()


class TenantStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    SUSPENDED = "suspended"


class DeviceType(IntEnum):
    """Where an agent's calls ring by default (the seeds' ``changeDevice(type)``)."""

    BROWSER = 1
    SOFTPHONE = 2  # a softphone or IP phone that registers itself
    MOBILE = 3  # forwarded to the agent's mobile number (``changeDevice(3, '09...')``)


class Tenant(Model):
    """A tenant profile as stored in the table; secrets live in ``TenantSecrets``, not here."""

    model_config = ConfigDict(extra="ignore")  # table items also carry PK/SK, GSI keys, counters

    tenant_id: CustomerCode
    domain: str = Field(pattern=DOMAIN_PATTERN)
    name: str = ""
    status: TenantStatus = TenantStatus.ACTIVE
    expiry_date: date | None = None  # last day of service, inclusive, in the tenant's timezone
    timezone: str = DEFAULT_TIMEZONE
    pbx_click2call_url: str | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    recording_hosts_allowed: list[str] = Field(default_factory=list)  # exempt from the SSRF guard
    crm_lookup_url: str | None = None
    # Hosts (``host`` or ``host:port``) the CRM lookup may reach although they are not public: a CRM on
    # the customer's LAN, the local stack's test CRM. Separate from recording_hosts_allowed: the PBX
    # and the CRM are different machines, trusted for different things.
    crm_hosts_allowed: list[str] = Field(default_factory=list)
    callout_allow_prefixes: list[str] = Field(default_factory=list)
    callout_deny_prefixes: list[str] = Field(default_factory=list)
    # Seed csTransferCallAcd(queueId): the number a call is transferred to for each queue id (issue 9).
    transfer_queues: dict[str, str] = Field(default_factory=dict)
    crm_endpoints: list[CrmEndpoint] = Field(default_factory=list)  # where call events are forwarded
    sip_server: str = DEFAULT_SIP_SERVER  # host[:port] of the registrar: sip:{ext}@{sip_server}
    sip_ws_url: str = DEFAULT_SIP_WS_URL  # SIP over WebSocket endpoint the webphone (JsSIP) opens
    sip_realm: str | None = None
    ice_servers: list[dict[str, Any]] = Field(default_factory=lambda: [dict(s) for s in DEFAULT_ICE_SERVERS])
    # The webphone's language for agents who have not chosen one in its Settings; None: the browser's.
    webphone_language: WebphoneLanguage | None = None
    # SHA-256 of the CRM API keys; the keys themselves are shown once and never stored.
    api_key_hashes: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("domain", mode="before")
    @classmethod
    def _lower_domain(cls, value: Any) -> Any:
        return normalize_domain(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown timezone {value!r}") from error
        return value

    @property
    def customer(self) -> str:
        return self.tenant_id

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(UTC)).astimezone(self.zone).date()

    def is_active(self, now: datetime | None = None) -> bool:
        """Active and not past its expiry date (the date is inclusive, in the tenant's timezone)."""
        if self.status is not TenantStatus.ACTIVE:
            return False
        return self.expiry_date is None or self.today(now) <= self.expiry_date


class Agent(Model):
    """An agent (extension) of a tenant."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: CustomerCode
    ipphone: Ipphone
    user_id: int  # numeric id answered as ``user.user_id`` by the seed login
    display_name: str = ""
    device_type: DeviceType = DeviceType.BROWSER
    mobile: str | None = Field(default=None, pattern=MOBILE_PATTERN)
    sip_username: str = ""
    # Every session records the epoch it was issued under; bumping it revokes them all at once.
    session_epoch: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="after")
    def _defaults_from_ipphone(self) -> "Agent":
        # The extension is the usual display name and SIP user; set here so stored items stay small.
        if not self.display_name:
            self.display_name = self.ipphone
        if not self.sip_username:
            self.sip_username = self.ipphone
        return self


NonEmptySecret = Annotated[SecretStr, Field(min_length=1)]


class TenantSecrets(Model):
    """The tenant's secrets, one JSON document in Secrets Manager (``ctibridge/{stage}/tenants/{id}``).

    ``SecretStr`` keeps them out of ``repr``, logs and validation errors; call ``get_secret_value()``
    only where the value is used.
    """

    # hide_input_in_errors: a malformed document must not echo secret values in a ValidationError.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    jwt_access_key: NonEmptySecret  # HS256 key of the CRM's login tokens (seed "access_key")
    pbx_secret: NonEmptySecret  # the PBX webhooks' ?secret= (seed 004)
    click2call_secret: NonEmptySecret  # our ?secret= on the PBX's click2call URL (seed 004 §2.1)
    crm_secret: NonEmptySecret  # signs what we forward to the CRM
    sip_passwords: dict[str, NonEmptySecret] = Field(default_factory=dict)
    # Signing secret and auth credential of each CRM endpoint, by endpoint id (issue 10).
    crm_endpoint_secrets: dict[str, EndpointSecrets] = Field(default_factory=dict)

    def sip_password(self, ipphone: str) -> SecretStr | None:
        return self.sip_passwords.get(ipphone)

    def plain(self) -> dict[str, Any]:
        """The document with its values revealed, for writing it back to Secrets Manager only."""
        return {
            "jwt_access_key": self.jwt_access_key.get_secret_value(),
            "pbx_secret": self.pbx_secret.get_secret_value(),
            "click2call_secret": self.click2call_secret.get_secret_value(),
            "crm_secret": self.crm_secret.get_secret_value(),
            "sip_passwords": {ext: pw.get_secret_value() for ext, pw in self.sip_passwords.items()},
            "crm_endpoint_secrets": {eid: s.plain() for eid, s in self.crm_endpoint_secrets.items()},
        }
