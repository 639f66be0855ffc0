"""The agent's own call history for the webphone: ``GET /v1/agent/calls`` and ``/v1/agent/calls/{callid}``.

Authenticated with the agent's session token (``Authorization: Bearer <user.token>`` of the seed login),
not the tenant's API key: a browser never holds the CRM's key. Every read is scoped to the session's
tenant *and* extension: the list queries the extension's index partition, and a single call is answered
only if it rang or was handled by that extension (else 404, as for a call that does not exist).
"""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge.auth import sessions
from ctibridge.auth.api_keys import bearer_token
from ctibridge.calls import api
from ctibridge.calls.query import DEFAULT_LIMIT, MAX_LIMIT
from ctibridge.http_api import APIGatewayHttpResolver, Query
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger
from ctibridge.tenants import repository
from ctibridge.tenants.models import Tenant

app = APIGatewayHttpResolver(enable_validation=True)
register_error_handlers(app)


def _session() -> sessions.Session:
    token = bearer_token(app.current_event.headers)
    if token is None:
        raise sessions.SessionInvalid("Send the session token as 'Authorization: Bearer <token>'.")
    session = sessions.verify(token)
    logger.append_keys(tenant=session.tenant_id, ipphone=session.ipphone)
    return session


def _tenant(session: sessions.Session) -> Tenant:
    tenant = repository.get_by_customer(session.tenant_id)
    if tenant is None:  # verify() just saw it: a removal raced this request
        raise sessions.SessionRevoked()
    return tenant


@app.get("/v1/agent/calls")
def list_my_calls(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> api.CallList:
    session = _session()
    return api.list_calls(_tenant(session), extension=session.ipphone, limit=limit, cursor=cursor)


@app.get("/v1/agent/calls/<callid>")
def get_my_call(callid: str) -> api.CallView:
    session = _session()
    logger.append_keys(callid=callid)
    view = api.get_call(_tenant(session), callid)
    if view.extension != session.ipphone and session.ipphone not in view.rang_extensions:
        raise api.CallNotFound()
    return view


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
