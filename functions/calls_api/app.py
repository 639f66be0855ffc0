"""The calls API for the CRM: ``GET /v1/calls`` (filters, cursor pagination) and ``GET /v1/calls/{callid}``.

Authenticated with the tenant's API key (``X-Api-Key`` or ``Authorization: Bearer``); every read is
scoped to that tenant.
"""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge.auth.api_keys import tenant_for_request
from ctibridge.calls import api
from ctibridge.calls.query import DEFAULT_LIMIT, MAX_LIMIT
from ctibridge.http_api import APIGatewayHttpResolver, Query
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger

app = APIGatewayHttpResolver(enable_validation=True)
register_error_handlers(app)


@app.get("/v1/calls")
def list_calls(
    phone: Annotated[str | None, Query(max_length=64)] = None,
    extension: Annotated[str | None, Query(max_length=32)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> api.CallList:
    tenant = tenant_for_request(app.current_event.headers)
    logger.append_keys(tenant=tenant.tenant_id)
    return api.list_calls(
        tenant,
        phone=phone,
        extension=extension,
        start=from_,
        end=to,
        status=status,
        limit=limit,
        cursor=cursor,
    )


@app.get("/v1/calls/<callid>")
def get_call(callid: str) -> api.CallView:
    tenant = tenant_for_request(app.current_event.headers)
    logger.append_keys(tenant=tenant.tenant_id, callid=callid)
    return api.get_call(tenant, callid)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
