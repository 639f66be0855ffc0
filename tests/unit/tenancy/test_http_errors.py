"""ctibridge.http_errors: every failure is JSON {"code", "message"}, never a stack trace."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, Field

from ctibridge.errors import Conflict, DomainExpired, InternalError, TooManyAttempts
from ctibridge.http_errors import MAX_BODY_BYTES, body_size, parse_json_body, register_error_handlers, resolve
from tests.support.aws import http_event


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int = 1


def make_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)

    @app.post("/items")
    def create(item: Item) -> dict[str, Any]:  # Powertools validates the body
        return {"name": item.name}

    @app.post("/manual")
    def manual() -> dict[str, Any]:
        return {"name": parse_json_body(Item, app.current_event.decoded_body).name}

    @app.get("/conflict")
    def conflict() -> dict[str, Any]:
        raise Conflict("Already there.", code="ITEM_EXISTS")

    @app.get("/expired")
    def expired() -> dict[str, Any]:
        raise DomainExpired()

    @app.get("/throttled")
    def throttled() -> dict[str, Any]:
        raise TooManyAttempts(headers={"Retry-After": "42"})

    @app.get("/internal")
    def internal() -> dict[str, Any]:
        raise InternalError("Secrets of tenant x cannot be read.", code="SECRETS_UNAVAILABLE")

    @app.get("/boom")
    def boom() -> dict[str, Any]:
        raise ValueError("password=hunter2 in a stack frame")

    return app


def call(event: dict[str, Any], lambda_context: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = resolve(make_app(), event, lambda_context)
    return response["statusCode"], json.loads(response["body"]), response


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/conflict", 409, "ITEM_EXISTS"),
        ("/expired", 405, "DOMAIN_EXPIRED"),
        ("/throttled", 429, "TOO_MANY_ATTEMPTS"),
    ],
)
def test_domain_errors_keep_status_and_code(lambda_context: Any, path: str, status: int, code: str) -> None:
    got_status, body, _ = call(http_event("GET", path), lambda_context)
    assert (got_status, body["code"]) == (status, code)
    assert body["message"]


def test_error_headers_are_sent(lambda_context: Any) -> None:
    _, _, response = call(http_event("GET", "/throttled"), lambda_context)
    assert response["headers"]["Retry-After"] == "42"


@pytest.mark.parametrize("path", ["/internal", "/boom"])
def test_500s_are_generic(lambda_context: Any, path: str) -> None:
    status, body, response = call(http_event("GET", path), lambda_context)
    assert status == 500
    assert body["code"] == "INTERNAL_ERROR"
    assert "hunter2" not in response["body"]
    assert "Secrets of tenant" not in response["body"]
    assert "Traceback" not in response["body"]


@pytest.mark.parametrize("route", ["/items", "/manual"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{oops", "body"),  # a body that is no JSON: named "body", as the login and the webhooks name it
        ({"count": 2}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a", "count": "many"}, "count"),
    ],
)
def test_validation_errors_name_the_field(
    lambda_context: Any, route: str, body: Any, field: str | None
) -> None:
    status, got, _ = call(
        http_event("POST", route, body=body, headers={"content-type": "application/json"}), lambda_context
    )
    assert status == 400
    assert got["code"] == "VALIDATION_ERROR"
    assert got["field"] == field
    assert got["message"]


def test_unknown_route_is_json_404(lambda_context: Any) -> None:
    status, body, _ = call(http_event("GET", "/nowhere"), lambda_context)
    assert (status, body["code"]) == (404, "ROUTE_NOT_FOUND")


def test_oversized_body_is_refused_before_parsing(lambda_context: Any) -> None:
    # Given a body one byte over the limit, base64-encoded as API Gateway sends binary bodies
    raw = b"{" + b" " * (MAX_BODY_BYTES - 1) + b"}"
    event = http_event(
        "POST", "/items", body=raw, base64_body=True, headers={"content-type": "application/json"}
    )
    assert body_size(event) == MAX_BODY_BYTES + 1
    status, body, _ = call(event, lambda_context)
    assert (status, body["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_body_at_the_limit_is_parsed(lambda_context: Any) -> None:
    text = json.dumps({"name": "x" * (MAX_BODY_BYTES - 20)})
    padded = text[:-1] + " " * (MAX_BODY_BYTES - len(text)) + "}"
    assert len(padded) == MAX_BODY_BYTES
    status, _, _ = call(
        http_event("POST", "/items", body=padded, headers={"content-type": "application/json"}),
        lambda_context,
    )
    assert status == 200


def test_body_size_counts_bytes_not_characters() -> None:
    event = http_event("POST", "/items", body="é" * 10)
    assert body_size(event) == 20
    encoded = {"body": base64.b64encode(b"abc").decode(), "isBase64Encoded": True}
    assert body_size(encoded) == 3
