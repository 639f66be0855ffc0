"""``GET /v1/deliveries?status=failed&limit=&cursor=``: what was forwarded to the CRM, and how it went.

Authenticated with the tenant's API key (``X-Api-Key`` or ``Authorization: Bearer``); every read is
scoped to that tenant.
"""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge.auth.api_keys import tenant_for_request
from ctibridge.delivery import api
from ctibridge.delivery.store import DEFAULT_LIMIT, MAX_LIMIT, AttemptPage, AttemptStatus
from ctibridge.http_api import APIGatewayHttpResolver, Query
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger

app = APIGatewayHttpResolver(enable_validation=True)
register_error_handlers(app)


@app.get("/v1/deliveries")
def list_deliveries(
    status: Annotated[AttemptStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> AttemptPage:
    tenant = tenant_for_request(app.current_event.headers)
    logger.append_keys(tenant=tenant.tenant_id)
    return api.list_deliveries(tenant, status=status, limit=limit, cursor=cursor)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
