"""WebSocket $connect: authenticate the session token and record the tab (see realtime.lifecycle)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge import snapstart
from ctibridge.observability import log_metrics, logger
from ctibridge.realtime import lifecycle

snapstart.install()  # SnapStart (template parameter): forget credentials, caches, seeds on restore


# log_event stays off: the query string carries the session token.
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status = lifecycle.on_connect(event["requestContext"]["connectionId"], lifecycle.query_of(event))
    return {"statusCode": status}
