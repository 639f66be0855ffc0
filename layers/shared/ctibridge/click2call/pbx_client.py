"""The tenant PBX's own click-to-call (seed 004 §2.1): ``GET .../wsapi/{customer}/click2call.php``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctibridge.click2call.errors import PbxUnreachable
from ctibridge.observability import logger
from ctibridge.tenants.models import Tenant

if TYPE_CHECKING:
    import httpx

# The PBX answers at once when it accepts a call; a slow PBX must not hold the CRM's request long.
TIMEOUTS = {"connect": 2.0, "read": 5.0, "write": 2.0, "pool": 2.0}
# Retried only when the request surely never reached the PBX (no connection was made): a retry after
# a read timeout could ring the customer twice.
CONNECT_ATTEMPTS = 2


def click2call_url(tenant: Tenant) -> str:
    base = (tenant.pbx_click2call_url or "").rstrip("/")
    if not base:
        raise PbxUnreachable("This tenant has no PBX click-to-call URL configured.")
    if base.endswith(".php"):
        return base
    return f"{base}/wsapi/{tenant.tenant_id}/click2call.php"


def place_call(
    tenant: Tenant,
    secret: str,
    extension: str,
    phone: str,
    userfield: str,
    client: httpx.Client | None = None,
) -> None:
    """Ask the PBX to ring ``extension`` (an extension or the agent's mobile), then dial ``phone``."""
    # httpx on first use only: the webhook path imports this module but seldom calls a PBX.
    import httpx

    from ctibridge import outbound_http

    url = click2call_url(tenant)
    params = {"secret": secret, "extension": extension, "phone": phone, "userfield": userfield}
    # A client per call, as cheap as that is now (no TLS set up for an http:// PBX, one SSL context per
    # process for https): no kept-alive connection that a PBX closed overnight fails a send that,
    # once sent, is not retried. Not pinned (the PBX URL is the operator's configuration), so httpx's
    # default of trusting the environment (proxies) is kept.
    http = client or outbound_http.client(timeout=httpx.Timeout(**TIMEOUTS), trust_env=True)
    try:
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                response = http.get(url, params=params)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                logger.warning(
                    "PBX click2call connect failed", extra={"attempt": attempt, "error": type(error).__name__}
                )
                if attempt == CONNECT_ATTEMPTS:
                    raise PbxUnreachable() from None
            except httpx.HTTPError as error:
                # Sent, but the answer was lost: the PBX may have dialled, so no retry.
                logger.warning("PBX click2call failed after sending", extra={"error": type(error).__name__})
                raise PbxUnreachable() from None
    finally:
        if client is None:
            http.close()
    if not response.is_success:
        logger.warning("PBX click2call refused", extra={"status": response.status_code})
        raise PbxUnreachable(f"The PBX answered {response.status_code}.", pbx_status=response.status_code)
