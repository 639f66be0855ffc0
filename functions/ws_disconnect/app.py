"""WebSocket $disconnect: forget the tab; if it held voice, tell the agent's other tabs."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge.observability import log_metrics, logger
from ctibridge.realtime import lifecycle


@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    lifecycle.on_disconnect(event["requestContext"]["connectionId"])
    return {"statusCode": 200}
