"""Operators' actions on tenants and agents: what the ``ctibridge`` CLI and demo seeding call.

Secrets are generated here (256-bit, URL-safe) unless given, written to Secrets Manager before the
table (a tenant never exists without its secrets), and handed back once to be shown to the operator.

Revoking sessions (an agent's, by removing it, or by making the tenant inactive) also closes the
webphone tabs they opened (``ctibridge.realtime.revocation``): told ``session.revoked`` and closed
through the WebSocket API's @connections endpoint (``websocket_callback_url``, the stack's Output
``WebSocketCallbackUrl``). Without that endpoint the tabs are only forgotten: no more popups reach them.
"""

import secrets as _random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from ctibridge.auth import crm_jwt
from ctibridge.errors import BadRequest
from ctibridge.realtime.messages import RevokedReason
from ctibridge.settings import overridden
from ctibridge.tenants.models import Agent, DeviceType, Tenant, TenantSecrets, normalize_domain
from ctibridge.tenants.repository import (
    AgentNotFound,
    DomainTaken,
    TenantExists,
    TenantRepository,
    hash_api_key,
)
from ctibridge.tenants.secrets import SecretStore, SecretsUnavailable

if TYPE_CHECKING:  # the real-time modules import the tenants package (and cost the CLI's start)
    from ctibridge.realtime.revocation import TabsReport

KeyKind = Literal["jwt", "api", "pbx", "click2call", "crm"]
KEY_KINDS: tuple[KeyKind, ...] = ("jwt", "api", "pbx", "click2call", "crm")
_SECRET_FIELDS: dict[str, str] = {
    "jwt": "jwt_access_key",
    "pbx": "pbx_secret",
    "click2call": "click2call_secret",
    "crm": "crm_secret",
}


def generate_secret() -> str:
    return _random.token_urlsafe(32)


def generate_api_key() -> str:
    # A recognisable prefix lets secret scanners and humans tell what leaked.
    return "ctb_" + _random.token_urlsafe(32)


def generate_sip_password() -> str:
    return _random.token_urlsafe(18)


def _check_hmac_key(value: str) -> None:
    # A public key as the HS256 secret is the algorithm-confusion setup; PyJWT refuses such keys at
    # verification anyway, so refuse them at creation with a clear message instead.
    if "-----BEGIN" in value or value.startswith(("ssh-", "ecdsa-sha2-")):
        raise BadRequest(
            "The JWT access key must be a shared secret, not a PEM or SSH key.", code="INVALID_KEY"
        )


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    secrets: TenantSecrets
    api_key: str = field(repr=False)  # shown once; only its hash is stored


class TenantAdmin:
    """Tenants and agents of one table and stage (the stage names the secrets)."""

    def __init__(self, table_name: str, stage: str, *, websocket_callback_url: str | None = None) -> None:
        self.repository = TenantRepository(table_name)
        self.secret_store = SecretStore(stage)
        # Where to close revoked sessions' tabs; None: this process's WEBSOCKET_CALLBACK_URL, if any.
        self.websocket_callback_url = websocket_callback_url
        # What the last revocation did to the open tabs (None: nothing was revoked).
        self.last_tabs: TabsReport | None = None

    def _check_websocket_endpoint(self) -> None:
        """Before revoking: a given @connections URL must be one (``push.check_endpoint``)."""
        if self.websocket_callback_url:
            from ctibridge import push

            with overridden(
                table_name=self.repository.table_name,
                stage=self.secret_store.stage,
                websocket_callback_url=self.websocket_callback_url,
            ):
                push.check_endpoint()

    # ------------------------------------------------------------ tenants

    def create_tenant(
        self,
        customer: str,
        domain: str,
        *,
        jwt_access_key: str | None = None,
        pbx_secret: str | None = None,
        click2call_secret: str | None = None,
        crm_secret: str | None = None,
        api_key: str | None = None,
        **profile: Any,
    ) -> CreatedTenant:
        """Create a tenant; ``profile`` holds optional ``Tenant`` fields (timezone, allowed_origins...)."""
        api_key = api_key or generate_api_key()
        tenant_secrets = TenantSecrets(
            jwt_access_key=SecretStr(jwt_access_key or generate_secret()),
            pbx_secret=SecretStr(pbx_secret or generate_secret()),
            click2call_secret=SecretStr(click2call_secret or generate_secret()),
            crm_secret=SecretStr(crm_secret or generate_secret()),
        )
        _check_hmac_key(tenant_secrets.jwt_access_key.get_secret_value())
        tenant = Tenant(
            tenant_id=customer,
            domain=domain,
            api_key_hashes=[hash_api_key(api_key)],
            **{k: v for k, v in profile.items() if v is not None},
        )
        # Checked before writing the secret, so a refused create leaves nothing behind; the table
        # transaction below re-checks atomically.
        if self.repository.get_tenant(tenant.tenant_id, consistent=True) is not None:
            raise TenantExists(f"Tenant {customer!r} already exists.")
        if self.repository.tenant_id_for_domain(tenant.domain) is not None:
            raise DomainTaken(f"Domain {normalize_domain(domain)!r} is already taken.")
        self.secret_store.write(tenant.tenant_id, tenant_secrets)
        created = self.repository.create_tenant(tenant)
        return CreatedTenant(tenant=created, secrets=tenant_secrets, api_key=api_key)

    def get_tenant(self, customer: str) -> Tenant:
        return self.repository.require_tenant(customer)

    def list_tenants(self) -> list[Tenant]:
        return self.repository.list_tenants()

    def read_secrets(self, customer: str) -> TenantSecrets:
        tenant_secrets = self.secret_store.read(customer)
        if tenant_secrets is None:
            raise SecretsUnavailable(f"No secrets stored for tenant {customer!r}.")
        return tenant_secrets

    def update_tenant(self, customer: str, **changes: Any) -> Tenant:
        """Change a tenant's profile; if that leaves it inactive, its agents' open tabs are closed."""
        if {"status", "expiry_date"} & changes.keys():
            self._check_websocket_endpoint()
        tenant = self.repository.update_tenant(customer, changes)
        if {"status", "expiry_date"} & changes.keys() and not tenant.is_active():
            self._end_tabs(customer, None, "tenant_inactive")
        return tenant

    def expire(self, customer: str, on: date | None = None) -> Tenant:
        """Expire now (status ``expired``), or schedule: the tenant works through the day ``on``.

        Expiring now closes the agents' open tabs. A scheduled expiry does not (nothing runs on that
        day): the sessions stop working then, so tabs are refused at their next reconnect or refresh.
        """
        changes: dict[str, Any] = {"status": "expired"} if on is None else {"expiry_date": on}
        return self.update_tenant(customer, **changes)

    def rotate_key(self, customer: str, kind: KeyKind = "jwt", *, keep_old: bool = False) -> str:
        """Replace one of the tenant's keys; answers the new value (shown once).

        ``api`` keys can overlap (``keep_old``) so a CRM can switch without downtime; the other secrets
        have one value, and Lambdas pick the new one up within their secrets cache TTL.
        """
        self.repository.require_tenant(customer)
        if kind == "api":
            old = self.repository.require_tenant(customer).api_key_hashes
            api_key = generate_api_key()
            self.repository.add_api_key_hash(customer, hash_api_key(api_key))
            if old and not keep_old:
                self.repository.remove_api_key_hashes(customer, old)
            return api_key
        if kind not in _SECRET_FIELDS:
            raise BadRequest(
                f"Unknown key kind {kind!r}; one of {', '.join(KEY_KINDS)}.", code="INVALID_KIND"
            )
        value = generate_secret()
        current = self.read_secrets(customer)
        self.secret_store.write(customer, current.model_copy(update={_SECRET_FIELDS[kind]: SecretStr(value)}))
        return value

    # ------------------------------------------------------------ agents

    def add_agent(
        self,
        customer: str,
        ipphone: str,
        *,
        display_name: str = "",
        device_type: DeviceType = DeviceType.BROWSER,
        mobile: str | None = None,
        sip_username: str = "",
        sip_password: str | None = None,
    ) -> tuple[Agent, str]:
        """Add an agent and its SIP password (generated unless given); answers both."""
        current = self.read_secrets(customer)
        # The agent first: if it already exists, its SIP password must not be overwritten.
        agent = self.repository.create_agent(
            customer,
            ipphone,
            display_name=display_name,
            device_type=device_type,
            mobile=mobile,
            sip_username=sip_username,
        )
        password = sip_password or generate_sip_password()
        self._set_sip_password(customer, current, agent.ipphone, password)
        return agent, password

    def list_agents(self, customer: str) -> list[Agent]:
        self.repository.require_tenant(customer)
        return self.repository.list_agents(customer)

    def update_agent(
        self,
        customer: str,
        ipphone: str,
        *,
        changes: dict[str, Any] | None = None,
        sip_password: str | None = None,
        revoke_sessions: bool = False,
    ) -> Agent:
        agent = self.repository.require_agent(customer, ipphone)
        if revoke_sessions:
            self._check_websocket_endpoint()
        if changes:
            agent = self.repository.update_agent(customer, ipphone, changes)
        if sip_password is not None:
            self._set_sip_password(customer, self.read_secrets(customer), ipphone, sip_password)
        if revoke_sessions:
            agent = self.repository.bump_session_epoch(customer, ipphone)
            self._end_tabs(customer, ipphone, "revoked")
        return agent

    def remove_agent(self, customer: str, ipphone: str) -> None:
        """Remove an agent: its sessions stop working at once (its open tabs are closed), its SIP
        password is forgotten.
        """
        self._check_websocket_endpoint()
        if not self.repository.delete_agent(customer, ipphone):
            raise AgentNotFound(f"Agent {ipphone!r} not found.")
        self._end_tabs(customer, ipphone, "agent_removed")
        current = self.secret_store.read(customer)
        if current is not None and ipphone in current.sip_passwords:
            passwords = {k: v for k, v in current.sip_passwords.items() if k != ipphone}
            self.secret_store.write(customer, current.model_copy(update={"sip_passwords": passwords}))

    def _end_tabs(self, customer: str, ipphone: str | None, reason: RevokedReason) -> "TabsReport":
        """Close the open tabs of an agent (``ipphone``) or of the whole tenant (None); never raises.
        What was done is also kept in ``last_tabs``.
        """
        # Imported here: the real-time modules import the tenants package (and cost the CLI's start).
        from ctibridge.realtime import revocation

        given = {"table_name": self.repository.table_name, "stage": self.secret_store.stage}
        if self.websocket_callback_url:
            given["websocket_callback_url"] = self.websocket_callback_url
        with overridden(**given):
            if ipphone is None:
                report = revocation.end_tenant(customer, reason)
            else:
                report = revocation.end_agent(customer, ipphone, reason)
        self.last_tabs = report
        return report

    def _set_sip_password(self, customer: str, current: TenantSecrets, ipphone: str, password: str) -> None:
        passwords = {**current.sip_passwords, ipphone: SecretStr(password)}
        # Validate the new document (e.g. an empty password) before writing it.
        plain = {k: v.get_secret_value() for k, v in passwords.items()}
        updated = TenantSecrets.model_validate({**current.plain(), "sip_passwords": plain})
        self.secret_store.write(customer, updated)

    # ------------------------------------------------------------ test tokens

    def mint_token(
        self,
        customer: str,
        ipphone: str,
        *,
        ttl_seconds: int | None = 3600,
        expired: datetime | None = None,
    ) -> tuple[str, str | None]:
        """A CRM login token as the seeds' PHP demo makes it; answers ``(token, expired)``.

        ``expired`` (aware) wins over ``ttl_seconds``; with neither, the token has no ``expired``.
        """
        tenant = self.repository.require_tenant(customer)
        self.repository.require_agent(customer, ipphone)
        access_key = self.read_secrets(customer).jwt_access_key.get_secret_value()
        if expired is None and ttl_seconds is not None:
            expired = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
        token = crm_jwt.mint(access_key, ipphone, expires_at=expired, zone=tenant.zone)
        return token, crm_jwt.format_expired(expired, tenant.zone) if expired else None
