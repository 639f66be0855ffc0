"""The OpenAPI document built from the handlers matches template.yaml's HTTP API, route for route."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Err

from ctibridge_local import openapi
from ctibridge_local.template import parse


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build()


def test_every_template_route_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    # Given the HttpApi routes of template.yaml ({param}) and the handlers' routes (Powertools' <param>);
    # API Gateway's catch-all ($default) is no operation of the API
    template_routes = {(route.method, route.path) for route in parse().http_routes if not route.is_default}
    # When the document is built from the handlers
    documented = openapi.operations(document)
    # Then both sets are equal: no route the API Gateway would send to a handler that lacks it, and no
    # handler route that API Gateway would never deliver
    assert documented == template_routes, (
        f"only in template.yaml: {sorted(template_routes - documented)}; "
        f"only in the handlers: {sorted(documented - template_routes)}"
    )


def test_each_operation_belongs_to_the_function_the_template_routes_it_to(document: dict[str, Any]) -> None:
    routed = {(route.method, route.path): route.function for route in parse().http_routes}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["x-ctibridge-function"] == routed[(method.upper(), path)], (method, path)


def test_every_route_declares_who_may_call_it(document: dict[str, Any]) -> None:
    # A new route must say how it is authenticated (ctibridge_local.openapi.ROUTE_AUTH): the security
    # tests read it to try every route without, with wrong, expired and tampered credentials.
    undeclared = [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation["x-ctibridge-auth"] not in openapi.AUTH_KINDS
    ]
    assert undeclared == []
    public = [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation["x-ctibridge-auth"] == "none"
    ]
    assert public == [("GET", "/health")]


def test_errors_are_documented_as_the_json_error_shape_never_422(document: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("400", "default"):
                assert responses[status]["content"]["application/json"]["schema"] == error
    assert document["components"]["schemas"]["Error"]["required"] == ["code", "message"]


def test_raw_routes_document_their_inputs(document: dict[str, Any]) -> None:
    # The PBX webhooks read query, JSON or form fields themselves: the document names them anyway
    answered = document["paths"]["/wsapi/{customer}/call_answered"]
    query = {p["name"] for p in answered["get"]["parameters"] if p["in"] == "query"}
    assert {"callid", "phone", "extension", "calldate", "duration", "status", "recording"} <= query
    assert set(answered["post"]["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    login = document["paths"]["/{domain}/thirdParty/login"]["post"]
    assert "multipart/form-data" in login["requestBody"]["content"]


def test_the_document_is_a_valid_openapi_schema_for_schemathesis(document: dict[str, Any]) -> None:
    # When schemathesis loads it, every operation resolves (no broken $ref, no invalid parameter)
    schema = schemathesis.openapi.from_dict(document)
    results = list(schema.get_all_operations())
    errors = [str(result.err()) for result in results if isinstance(result, Err)]
    assert errors == []
    assert len(results) == len(openapi.operations(document))
