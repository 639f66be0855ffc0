"""Exceptions to HTTP answers, once for every HTTP function: ``{"code": ..., "message": ...}`` JSON.

Usage in a handler module::

    app = APIGatewayHttpResolver(enable_validation=True)  # or without, if no route has typed parameters
    register_error_handlers(app)

    def handler(event, context):
        return resolve(app, event, context)   # rejects oversized bodies before any parsing

No answer ever carries a stack trace or an exception's text; unexpected errors are logged with their
traceback and answered ``500 INTERNAL_ERROR``.
"""

import base64
import binascii
import json
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from ctibridge.errors import BackendUnavailable, BadRequest, CtiError, InternalError, PayloadTooLarge
from ctibridge.http_api import APIGatewayHttpResolver, Response, content_types
from ctibridge.observability import count, logger

# API Gateway accepts up to 10 MB; nothing we take legitimately comes near 8 KB, and a small cap keeps
# JSON parsing and JWT decoding cheap for hostile input.
MAX_BODY_BYTES = 8 * 1024


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers,
    )


def _validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The first validation error, phrased for a client; pydantic's input values are never echoed."""
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        # Named like any other field, as the login and the webhooks name it (ctibridge.request_fields).
        return {"code": "VALIDATION_ERROR", "message": "body: is not valid JSON.", "field": "body"}
    # loc is ("body"|"query"|"path"|"header", name, ...); the name is what a client can act on.
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    message = str(first.get("msg") or "Invalid request.")
    return {
        "code": "VALIDATION_ERROR",
        "message": f"{field}: {message}" if field else message,
        "field": field,
    }


# AWS error codes that mean "not now" rather than "never": throttling and AWS's own failures.
_RETRYABLE_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "TransactionInProgressException",
    }
)
RETRY_AFTER_SECONDS = 2


def is_backend_unavailable(error: BaseException | None) -> bool:
    """True if ``error`` (or what caused it) is AWS throttling or being unreachable: worth a retry."""
    for _ in range(5):  # the cause chain: e.g. SecretsUnavailable <- GetParameterError <- ClientError
        if error is None:
            return False
        # botocore is imported only when the error comes from it (cold starts stay free of it).
        if type(error).__module__.startswith("botocore"):
            from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

            if isinstance(error, ConnectionError | HTTPClientError):
                return True  # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError...
            if isinstance(error, ClientError):
                code = str(error.response.get("Error", {}).get("Code", ""))
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                return code in _RETRYABLE_AWS_CODES or status >= 500
        error = error.__cause__ or error.__context__
    return False


def _backend_unavailable(error: BaseException) -> Response:
    # Every write here is one conditional call, so a failed one wrote nothing; a retry is safe.
    logger.warning(
        "backend unavailable", extra={"code": BackendUnavailable.code, "error": type(error).__name__}
    )
    count("BackendUnavailable")
    unavailable = BackendUnavailable(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return _json(unavailable.http_status, unavailable.body(), unavailable.headers)


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Map every exception a route can raise to a JSON error answer with a stable ``code``."""

    @app.exception_handler(CtiError)
    def _domain_error(error: CtiError) -> Response:
        if error.http_status == 500 and is_backend_unavailable(error.__cause__):
            return _backend_unavailable(error)
        if error.http_status == 500:
            # The specific code (e.g. SECRETS_UNAVAILABLE) is for operators, in the logs; clients get
            # the one generic system error (the seeds' "500 system error").
            logger.error("request failed", extra={"code": error.code}, exc_info=error)
            return _json(500, InternalError().body())
        if error.http_status > 500:
            logger.warning("request failed", extra={"code": error.code, "status": error.http_status})
        else:
            logger.info("request rejected", extra={"code": error.code, "status": error.http_status})
        return _json(error.http_status, error.body(), error.headers)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response:
        body = _validation_body(list(error.errors()))
        logger.info("request rejected", extra={"code": body["code"], "field": body["field"]})
        return _json(400, body)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response:
        return _json(
            415,
            {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "Send application/json (or a form for logins)."},
        )

    @app.exception_handler(NotFoundError)
    def _route_not_found(error: NotFoundError) -> Response:
        # The method and path only (never the query string: a PBX's secret travels there).
        request = app.current_event
        message = f"No route for {request.http_method} {request.path}: see the endpoint list in the README."
        return _json(404, {"code": "ROUTE_NOT_FOUND", "message": message})

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        # Powertools' own HTTP errors (BadRequestError...) if any code raises them.
        status = HTTPStatus(error.status_code)
        return _json(status.value, {"code": status.name, "message": status.phrase})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        if is_backend_unavailable(error):
            return _backend_unavailable(error)
        # The traceback goes to the logs only; the client learns nothing about the internals.
        logger.exception("unhandled error")
        return _json(500, InternalError().body())


_Model = TypeVar("_Model", bound=BaseModel)


def parse_json_body(model: type[_Model], body: str | bytes | None) -> _Model:
    """``body`` validated as ``model``; a 400 ``VALIDATION_ERROR`` naming the field otherwise.

    For routes that must authenticate before they look at the body (Powertools' own validation runs
    before the route, so an anonymous caller would learn the schema first).
    """
    try:
        return model.model_validate_json(body or b"")
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_input=False)]
        body_fields = _validation_body(errors)
        raise BadRequest(
            body_fields["message"], code="VALIDATION_ERROR", field=body_fields["field"]
        ) from None


def body_size(event: dict[str, Any]) -> int:
    """Size in bytes of the request body, decoded if API Gateway base64-encoded it."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=False))
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8"))


def error_response(error: CtiError) -> dict[str, Any]:
    """An API Gateway (payload 2.0) answer for ``error``, for use outside a resolver."""
    return {
        "statusCode": error.http_status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **error.headers},
        "body": json.dumps(error.body(), separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def resolve(
    app: APIGatewayHttpResolver,
    event: dict[str, Any],
    context: LambdaContext,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """``app.resolve`` behind a body-size check made before anything parses the body (413)."""
    size = body_size(event)
    if size > max_body_bytes:
        logger.info("request rejected", extra={"code": PayloadTooLarge.code, "size": size})
        return error_response(PayloadTooLarge(f"The body is {size} bytes; the limit is {max_body_bytes}."))
    return app.resolve(event, context)
