"""Login tokens minted for CRMs that would rather not write JWT code (``POST /v1/tokens``).

The token is exactly what the CRM would have signed itself (seed 001/002 payload, HS256 with the
tenant's access key), so it works with ``/{domain}/thirdParty/login`` and the seed SDK's ``csInit``.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ctibridge.auth import crm_jwt
from ctibridge.errors import BadRequest, IpphoneNotFound
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.models import Tenant
from ctibridge.tenants.secrets import reread_secrets


@dataclass(frozen=True)
class MintedToken:
    token: str = field(repr=False)
    expired: str  # "Y-m-d H:i:s" in the tenant's timezone, as in the token
    expires_at: datetime


def mint_login_token(tenant: Tenant, ipphone: str, ttl_seconds: int) -> MintedToken:
    """A login token for one of ``tenant``'s agents, valid ``ttl_seconds``."""
    limit = get_settings().minted_token_max_ttl_seconds
    if ttl_seconds > limit:
        raise BadRequest(f"ttl_seconds: at most {limit}.", code="VALIDATION_ERROR", field="ttl_seconds")
    if repository.get_agent(tenant.tenant_id, ipphone) is None:
        raise IpphoneNotFound()
    # Whole seconds: the token's "expired" has no fractions, and must not outlive what we answer.
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
    # Re-read (at most once a second per tenant): a token signed with a key rotated since it was
    # cached would be refused by the login, which checks the current key.
    access_key = reread_secrets(tenant.tenant_id).jwt_access_key.get_secret_value()
    token = crm_jwt.mint(access_key, ipphone, expires_at=expires_at, zone=tenant.zone)
    return MintedToken(
        token=token, expired=crm_jwt.format_expired(expires_at, tenant.zone), expires_at=expires_at
    )
