"""WebSocket messages from the webphone: every action route and $default (unknown actions).

API Gateway selects the route by ``$request.body.action``; all of them land here and
``realtime.actions.dispatch`` picks the handler by the same key. Answers go back over @connections.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge.observability import log_metrics, logger
from ctibridge.realtime import actions


@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    context_ = event["requestContext"]
    logger.append_keys(route=context_.get("routeKey"))
    # A binary frame (base64) is served as its text; the webphone sends text frames.
    body = actions.frame_text(event.get("body"), bool(event.get("isBase64Encoded")))
    actions.dispatch(context_["connectionId"], body, context_.get("routeKey"))
    return {"statusCode": 200}
