"""A method or path no route has: the JSON error every other answer has, not API Gateway's bare 404.

The HTTP API's ``$default`` route (template.yaml, HealthFunction's ``NoRoute`` event) answers what no
other route matches, as API Gateway routes it: the local gateway does the same.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.local_stack import RunningStack


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing"),
        ("DELETE", "/wsapi/demo/incoming_call"),  # the seed's routes take GET, POST and PUT
        ("GET", "/demo/thirdParty/login"),  # the login is a POST
        ("POST", "/click2call.php"),  # the seed's click-to-call is a GET
        ("PATCH", "/"),
    ],
)
def test_no_route_answers_a_json_error_with_a_stable_code(
    stack: RunningStack, method: str, path: str
) -> None:
    # When a client calls a method or path the API has no route for, with a secret in its query string
    answer = httpx.request(method, f"{stack.http_url}{path}", params={"secret": "demo-secret"}, timeout=10)
    # Then it gets a JSON 404 naming what it asked for, and never the query string
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["code"] == "ROUTE_NOT_FOUND"
    assert f"{method} {path}" in body["message"]
    assert "demo-secret" not in answer.text


def test_routes_still_win_over_the_catch_all(stack: RunningStack) -> None:
    assert httpx.get(f"{stack.http_url}/health", timeout=10).json()["status"] == "ok"
    unknown = httpx.get(f"{stack.http_url}/wsapi/nosuch/incoming_call", timeout=10)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "CUSTOMER_NOT_FOUND")
    # and through the one public host (the web port forwards the API paths, as CloudFront does)
    forwarded = httpx.get(f"{stack.web_url}/v1/nothing", timeout=10)
    assert (forwarded.status_code, forwarded.json()["code"]) == (404, "ROUTE_NOT_FOUND")
