"""CRM API keys: ``X-Api-Key: <key>`` or ``Authorization: Bearer <key>`` on the CRM-facing /v1 routes."""

from collections.abc import Mapping

from ctibridge.errors import Forbidden, Unauthorized
from ctibridge.tenants import repository
from ctibridge.tenants.models import Tenant


class ApiKeyMissing(Unauthorized):
    code = "API_KEY_MISSING"
    message = "Send the tenant's API key as 'X-Api-Key: <key>' or 'Authorization: Bearer <key>'."


class ApiKeyInvalid(Unauthorized):
    code = "API_KEY_INVALID"
    message = "The API key is not valid."


class TenantExpired(Forbidden):
    code = "TENANT_EXPIRED"
    message = "The tenant has expired."


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The credentials of an ``Authorization: Bearer ...`` header, if any."""
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and value:
            scheme, _, credentials = value.strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None


def api_key_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The API key of a request; ``X-Api-Key`` wins over ``Authorization: Bearer``."""
    for name, value in (headers or {}).items():
        if name.lower() == "x-api-key" and value and value.strip():
            return value.strip()
    return bearer_token(headers)


def tenant_for_request(headers: Mapping[str, str] | None) -> Tenant:
    """The active tenant owning the request's API key.

    Raises ``ApiKeyMissing`` / ``ApiKeyInvalid`` (401) or ``TenantExpired`` (403).
    """
    api_key = api_key_from_headers(headers)
    if api_key is None:
        raise ApiKeyMissing(headers={"WWW-Authenticate": "Bearer"})
    tenant = repository.get_by_api_key(api_key)
    if tenant is None:
        raise ApiKeyInvalid(headers={"WWW-Authenticate": "Bearer"})
    if not tenant.is_active():
        raise TenantExpired()
    return tenant
