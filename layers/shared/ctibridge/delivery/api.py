"""``GET /v1/deliveries``: the delivery attempts of the tenant owning the API key, newest first."""

from __future__ import annotations

from ctibridge.delivery.store import AttemptPage, AttemptStatus, DeliveryStore
from ctibridge.settings import get_settings
from ctibridge.tenants.models import Tenant


def list_deliveries(
    tenant: Tenant,
    *,
    status: AttemptStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
    store: DeliveryStore | None = None,
) -> AttemptPage:
    """One page of attempts (``status``: succeeded or failed, else both); cursors are tenant-bound."""
    store = store or DeliveryStore(get_settings().table_name)
    return store.list_attempts(tenant.tenant_id, status=status, limit=limit, cursor=cursor or None)
