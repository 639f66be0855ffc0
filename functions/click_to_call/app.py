"""Click-to-call for the CRM.

- ``GET /wsapi/{customer}/click2call.php?secret=&extension=&phone=&userfield=`` — seed 004 §2.1, as a
  CRM written for the seed PBX calls it (``secret`` is the tenant's CRM API key here), answered as that
  PBX would (``click2call.php_answer``: 200 ``status: success``, or ``status: error`` with the code);
- ``POST /v1/calls/outbound`` ``{extension, phone, userfield}`` with the API key and an optional
  ``Idempotency-Key`` header (a CRM retry never dials twice) → 202 with the request to follow;
- ``GET /v1/calls/outbound/{request_id}`` — queued, dialing, ringing, answered, or failed with the
  seed's code.
"""

import hashlib
import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from ctibridge import lazy, request_fields, snapstart
from ctibridge.auth.api_keys import ApiKeyInvalid, ApiKeyMissing, tenant_for_request
from ctibridge.click2call import php_answer, service
from ctibridge.click2call.errors import OutboundRequestNotFound
from ctibridge.click2call.models import OutboundCallRequest, Source
from ctibridge.errors import BadRequest, Conflict
from ctibridge.http_api import APIGatewayHttpResolver, Response, content_types
from ctibridge.http_errors import parse_json_body, register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger
from ctibridge.settings import get_settings
from ctibridge.tenants.models import Tenant
from ctibridge.tenants.repository import get_by_api_key

snapstart.install()  # SnapStart (template parameter): forget credentials, caches, seeds on restore

# No enable_validation: no route here takes typed query or body parameters (bodies are parsed by our
# models), and Powertools' validation would build its TypeAdapters on the first event (~40 ms cold).
app = APIGatewayHttpResolver()
register_error_handlers(app)

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
MAX_IDEMPOTENCY_KEY = 255
# click2call.php's retry key is the CRM's userfield, which names an order, not a click: the same order
# called again (no answer, another number, the next day) must ring again, as at the PBX it replaces.
# Only the same extension, number and userfield within this window is a retry of a lost answer.
CLICK2CALL_PHP_RETRY_SECONDS = 30


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used with a different request."
    http_status = 422


class IdempotencyInProgress(Conflict):
    code = "IDEMPOTENCY_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


@lru_cache(maxsize=2)
def _idempotency(window_seconds: int) -> tuple[Any, Any]:
    """Powertools' idempotency store and config; loaded (with boto3) only for a request with a key.

    One store per window: a store takes its record expiry from the first config it is used with.
    """
    idempotency = lazy.idempotency()
    # Records live in the single table under their own partition, expiring with its TTL attribute.
    store = idempotency.DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        static_pk_value="IDEMPOTENCY#click-to-call",
        expiry_attr="expires_at",
    )
    config = idempotency.IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=window_seconds,
        raise_on_no_idempotency_key=True,
    )
    return store, config


def _start(
    tenant: Tenant,
    request: OutboundCallRequest,
    source: Source,
    key: str | None,
    window_seconds: int = IDEMPOTENCY_WINDOW_SECONDS,
) -> dict[str, Any]:
    if key is None:
        return service.start(tenant, request, source).view()
    idempotency = lazy.idempotency()
    store, config = _idempotency(window_seconds)
    config.register_lambda_context(app.lambda_context)

    @idempotency.idempotent_function(data_keyword_argument="call", persistence_store=store, config=config)
    def start_once(call: dict[str, Any]) -> dict[str, Any]:
        return service.start(tenant, request, source).view()

    try:
        return start_once(call={"tenant": tenant.tenant_id, "key": key, "request": request.model_dump()})
    except idempotency.exceptions.IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except idempotency.exceptions.IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgress() from None


def _accepted(body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Location": f"/v1/calls/outbound/{body['request_id']}"},
    )


@app.post("/v1/calls/outbound")
def create_outbound() -> Response[dict[str, Any]]:
    tenant = tenant_for_request(app.current_event.headers)
    logger.append_keys(tenant=tenant.tenant_id)
    request = parse_json_body(OutboundCallRequest, app.current_event.decoded_body)
    key = (app.current_event.headers.get("idempotency-key") or "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise BadRequest("Idempotency-Key is too long.", code="VALIDATION_ERROR", field="Idempotency-Key")
    return _accepted(_start(tenant, request, Source.API, key))


@app.get("/v1/calls/outbound/<request_id>")
def get_outbound(request_id: str) -> dict[str, Any]:
    tenant = tenant_for_request(app.current_event.headers)
    outbound = service.get(tenant, request_id) if request_id.isalnum() and len(request_id) == 32 else None
    if outbound is None:
        raise OutboundRequestNotFound()
    return outbound.view()


@app.get("/wsapi/<customer>/click2call.php")
def click2call_php(customer: str) -> Response[dict[str, Any]]:
    params = app.current_event.query_string_parameters or {}
    secret = params.get("secret")
    tenant = get_by_api_key(secret) if secret else None
    if tenant is None and not secret:
        tenant = tenant_for_request(app.current_event.headers)
    if tenant is None:
        raise ApiKeyInvalid() if secret else ApiKeyMissing()
    if tenant.tenant_id != customer:
        # Another tenant's key: refused exactly as a wrong key, so customer codes can't be probed.
        raise ApiKeyInvalid()
    logger.append_keys(tenant=tenant.tenant_id)
    # The fields as sent, now that the caller is known: a non-UTF-8 or contradictory one is a 400.
    params = request_fields.query_fields(app.current_event.raw_event)
    try:
        request = OutboundCallRequest.model_validate(
            {k: params[k] for k in ("extension", "phone", "userfield") if params.get(k) not in (None, "")}
        )
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"{field}: {first['msg']}", code="VALIDATION_ERROR", field=field) from None
    # A GET can't carry Idempotency-Key from seed-era CRMs: their userfield (an order id) with the
    # extension and number is the key, for a short retry window only (CLICK2CALL_PHP_RETRY_SECONDS).
    key = None
    if request.userfield:
        what = json.dumps([request.extension, request.phone, request.userfield], ensure_ascii=False)
        key = "click2call.php:" + hashlib.sha256(what.encode("utf-8")).hexdigest()
    body = _start(tenant, request, Source.CLICK2CALL_PHP, key, CLICK2CALL_PHP_RETRY_SECONDS)
    # As the PBX it replaces: 200 and a success status (errors: see handler).
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=php_answer.placed(body)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = resolve(app, event, context)
    if event.get("routeKey", "").endswith("/click2call.php"):
        return php_answer.as_pbx_answer(answer)
    return answer
