"""GET /health: the HTTP API answers (used by deploy checks and the local stack's readiness).

Also the API's ``$default`` route: a method or path no route has gets the JSON error every other
answer has (``404 ROUTE_NOT_FOUND``), not API Gateway's bare ``{"message":"Not Found"}``.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from ctibridge import __version__
from ctibridge.http_api import APIGatewayHttpResolver
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger
from ctibridge.settings import get_settings

app = APIGatewayHttpResolver(enable_validation=True)
register_error_handlers(app)


class Health(BaseModel):
    status: str
    stage: str
    version: str


@app.get("/health")
def health() -> Health:
    return Health(status="ok", stage=get_settings().stage, version=__version__)


@logger.inject_lambda_context(clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
