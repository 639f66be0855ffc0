"""The PBX call-event webhooks of seed 004: ``/wsapi/{customer}/incoming_call|outgoing_call|call_answered``.

GET, POST or PUT (seed 004: "GET / POST / PUT..."), fields in the query string, a JSON or a form body;
the secret as ``?secret=``, X-Api-Key, Bearer or Basic. What each check answers is described in
``ctibridge.webhooks.service``.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge import snapstart
from ctibridge.calls.models import EventKind
from ctibridge.http_api import APIGatewayHttpResolver
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger
from ctibridge.settings import get_settings
from ctibridge.webhooks import service

snapstart.install()  # SnapStart (template parameter): forget credentials, caches, seeds on restore

# No enable_validation: no route here takes typed query or body parameters (bodies are parsed by our
# models), and Powertools' validation would build its TypeAdapters on the first event (~40 ms cold).
app = APIGatewayHttpResolver()
register_error_handlers(app)


def _handle(kind: EventKind, customer: str) -> dict[str, Any]:
    # The raw event: the fields may be in the query, a JSON body or a form, which the service merges.
    return service.handle(kind, customer, app.current_event.raw_event).body()


@app.route("/wsapi/<customer>/incoming_call", method=["GET", "POST", "PUT"])
def incoming_call(customer: str) -> dict[str, Any]:
    return _handle(EventKind.INCOMING, customer)


@app.route("/wsapi/<customer>/outgoing_call", method=["GET", "POST", "PUT"])
def outgoing_call(customer: str) -> dict[str, Any]:
    return _handle(EventKind.OUTGOING, customer)


@app.route("/wsapi/<customer>/call_answered", method=["GET", "POST", "PUT"])
def call_answered(customer: str) -> dict[str, Any]:
    return _handle(EventKind.ANSWERED, customer)


# log_event stays off: the query string carries the PBX secret.
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context, max_body_bytes=get_settings().webhook_max_body_bytes)
