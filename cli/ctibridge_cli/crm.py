"""``ctibridge crm endpoint add|list|remove``: where a tenant's call events are forwarded.

The endpoint (URLs, format, mode, auth type) goes on the tenant profile; its secrets (the JSON format's
signing secret, the auth credential) go into the tenant's Secrets Manager document, written first so
an endpoint never exists without them. A generated signing secret is printed once.
"""

from __future__ import annotations

import argparse
import secrets as _random
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import SecretStr

from ctibridge.delivery import signing
from ctibridge.delivery.models import (
    AuthType,
    CrmEndpoint,
    DeliveryMode,
    EndpointAuth,
    EndpointFormat,
    EndpointSecrets,
    EventType,
)
from ctibridge.errors import BadRequest, Conflict, NotFound
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.text import table as _table


class Output(Protocol):
    def emit(self, data: Any, text: str) -> None: ...


CommandFactory = Callable[..., argparse.ArgumentParser]


class EndpointExists(Conflict):
    code = "ENDPOINT_EXISTS"
    message = "The tenant already has an endpoint with this id."


class EndpointNotFound(NotFound):
    code = "ENDPOINT_NOT_FOUND"
    message = "The tenant has no endpoint with this id."


def endpoint_view(endpoint: CrmEndpoint, secrets: EndpointSecrets | None = None) -> dict[str, Any]:
    view = endpoint.model_dump(mode="json")
    view["has_signing_secret"] = bool(secrets and secrets.signing_secret)
    view["has_credential"] = bool(secrets and secrets.credential)
    return view


def _row(endpoint: CrmEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "format": endpoint.format.value,
        "mode": endpoint.mode.value,
        "url": endpoint.url,
        "backups": len(endpoint.backup_urls),
        "auth": endpoint.auth.type.value,
        "events": ",".join(e.value for e in endpoint.events) if endpoint.events else "all",
        "private": "yes" if endpoint.allow_private_network else "",
    }


def endpoint_add(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    endpoint_id = args.id or f"ep-{_random.token_hex(3)}"
    if any(e.id == endpoint_id for e in tenant.crm_endpoints):
        raise EndpointExists(f"Tenant {tenant.tenant_id!r} already has an endpoint {endpoint_id!r}.")
    auth_type = AuthType(args.auth)
    endpoint = CrmEndpoint(
        id=endpoint_id,
        url=args.url,
        backup_urls=args.backup_url or [],
        format=EndpointFormat(args.format),
        mode=DeliveryMode(args.mode),
        auth=EndpointAuth(type=auth_type, header=args.auth_header, username=args.username),
        events=[EventType(e) for e in args.event] if args.event else None,
        allow_private_network=args.allow_private_network,
    )
    if auth_type is AuthType.NONE and args.credential:
        raise BadRequest("--credential needs --auth api_key, bearer or basic.", code="INVALID_OPTION")
    if auth_type is not AuthType.NONE and not args.credential:
        raise BadRequest(f"--auth {auth_type.value} needs --credential.", code="INVALID_OPTION")
    signing_secret: str | None = None
    if endpoint.format is EndpointFormat.JSON:
        signing_secret = args.signing_secret or signing.generate_secret()
        try:
            signing.secret_key(signing_secret)
        except ValueError as error:
            raise BadRequest(f"--signing-secret: {error}.", code="INVALID_SECRET") from None
    elif args.signing_secret:
        raise BadRequest("--signing-secret is for the json format (seed004 uses the tenant's CRM secret).")
    endpoint_secrets = EndpointSecrets(
        signing_secret=SecretStr(signing_secret) if signing_secret else None,
        credential=SecretStr(args.credential) if args.credential else None,
    )
    # Secrets first: the worker must never see an endpoint whose secrets are not stored yet.
    current = admin.read_secrets(tenant.tenant_id)
    stored = {**current.crm_endpoint_secrets, endpoint.id: endpoint_secrets}
    admin.secret_store.write(tenant.tenant_id, current.model_copy(update={"crm_endpoint_secrets": stored}))
    admin.update_tenant(tenant.tenant_id, crm_endpoints=[*tenant.crm_endpoints, endpoint])
    data: dict[str, Any] = {
        "customer": tenant.tenant_id,
        "endpoint": endpoint_view(endpoint, endpoint_secrets),
    }
    text = (
        f"Added CRM endpoint {endpoint.id} to {tenant.tenant_id} "
        f"({endpoint.format.value}, {endpoint.mode.value})."
    )
    if signing_secret and not args.signing_secret:
        data["signing_secret"] = signing_secret
        text += (
            f"\nsigning_secret  {signing_secret}\n"
            "Shown once: give it to the CRM to verify webhook-signature (README, 'Forwarding call events')."
        )
    out.emit(data, text)


def endpoint_list(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    secrets = admin.read_secrets(tenant.tenant_id).crm_endpoint_secrets
    views = [endpoint_view(e, secrets.get(e.id)) for e in tenant.crm_endpoints]
    out.emit(views, _table([_row(e) for e in tenant.crm_endpoints]))


def endpoint_remove(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    remaining = [e for e in tenant.crm_endpoints if e.id != args.endpoint_id]
    if len(remaining) == len(tenant.crm_endpoints):
        raise EndpointNotFound(f"Tenant {tenant.tenant_id!r} has no endpoint {args.endpoint_id!r}.")
    # The endpoint first: queued events for it are then skipped, and its secrets are no longer needed.
    admin.update_tenant(tenant.tenant_id, crm_endpoints=remaining)
    current = admin.read_secrets(tenant.tenant_id)
    if args.endpoint_id in current.crm_endpoint_secrets:
        stored = {k: v for k, v in current.crm_endpoint_secrets.items() if k != args.endpoint_id}
        admin.secret_store.write(
            tenant.tenant_id, current.model_copy(update={"crm_endpoint_secrets": stored})
        )
    out.emit(
        {"customer": tenant.tenant_id, "endpoint_id": args.endpoint_id, "removed": True},
        f"Removed CRM endpoint {args.endpoint_id} of {tenant.tenant_id}; its queued events are skipped.",
    )


def register(groups: Any, command: CommandFactory) -> None:
    """Add ``crm endpoint add|list|remove`` to the ``ctibridge`` parser."""
    crm = groups.add_parser("crm", help="where call events are forwarded (CRM endpoints)").add_subparsers(
        dest="command", required=True
    )
    endpoint = crm.add_parser("endpoint", help="a tenant's CRM endpoints").add_subparsers(
        dest="action", required=True
    )
    p = command(
        endpoint, "add", endpoint_add, "add a CRM endpoint (a generated signing secret is printed once)"
    )
    p.add_argument("customer")
    p.add_argument("url", help="main URL (seed004: the CRM's base, e.g. https://crm.example.com)")
    p.add_argument("--id", help="endpoint id, [a-z0-9_-] (default: generated)")
    p.add_argument("--backup-url", action="append", help="backup URL, tried in order (repeatable, 2 at most)")
    p.add_argument(
        "--format",
        choices=[f.value for f in EndpointFormat],
        default=EndpointFormat.JSON.value,
        help="json: signed Standard Webhooks POSTs (default); seed004: the seed's requests",
    )
    p.add_argument(
        "--mode",
        choices=[m.value for m in DeliveryMode],
        default=DeliveryMode.FAILOVER.value,
        help="failover: backups when the main URL fails (default); parallel: every URL at once",
    )
    p.add_argument("--auth", choices=[a.value for a in AuthType], default=AuthType.NONE.value)
    p.add_argument("--auth-header", default="X-Api-Key", help="header of --auth api_key (default X-Api-Key)")
    p.add_argument("--username", help="user of --auth basic")
    p.add_argument("--credential", help="API key, Bearer token or Basic password (stored in Secrets Manager)")
    p.add_argument("--signing-secret", help="json format: whsec_... (default: generated)")
    p.add_argument(
        "--event",
        action="append",
        choices=[e.value for e in EventType],
        help="forward only these event types (repeatable; default: all the format can carry)",
    )
    p.add_argument(
        "--allow-private-network",
        action="store_true",
        help="allow loopback/private addresses (a CRM on the customer's LAN, a local test CRM)",
    )
    p = command(endpoint, "list", endpoint_list, "list a tenant's CRM endpoints")
    p.add_argument("customer")
    p = command(endpoint, "remove", endpoint_remove, "remove a CRM endpoint and its secrets")
    p.add_argument("customer")
    p.add_argument("endpoint_id")
