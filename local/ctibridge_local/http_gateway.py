"""The HTTP API of template.yaml: each route to its function, with payload format 2.0 events."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ctibridge_local.lambdas import FunctionError, Functions
from ctibridge_local.resolve import ACCOUNT_ID
from ctibridge_local.template import HttpRoute

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's hard limit
API_ID = "localhttp"
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded")


@dataclass(frozen=True)
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    specificity: tuple[int, int, int]


def _compile(route: HttpRoute) -> _CompiledRoute:
    regex, literal, params, greedy = "", 0, 0, 0
    for segment in route.path.strip("/").split("/"):
        if not segment:
            continue
        if segment.startswith("{") and segment.endswith("+}"):
            regex += f"/(?P<{segment[1:-2]}>.+)"
            greedy += 1
        elif segment.startswith("{") and segment.endswith("}"):
            regex += f"/(?P<{segment[1:-1]}>[^/]+)"
            params += 1
        else:
            regex += "/" + re.escape(segment)
            literal += 1
    # API Gateway prefers literal segments over variables, variables over greedy, a method over ANY.
    specificity = (literal, -greedy, 0 if route.method == "ANY" else 1)
    return _CompiledRoute(route, re.compile(f"^{regex or '/'}$"), specificity)


class RouteTable:
    def __init__(self, routes: list[HttpRoute]) -> None:
        self._routes = [_compile(r) for r in routes if not r.is_default]
        self._default = next((r for r in routes if r.is_default), None)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        candidates = []
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(path)
            if found:
                candidates.append((compiled.specificity, compiled.route, found.groupdict()))
        if not candidates:
            return (self._default, {}) if self._default else None
        _, route, params = max(candidates, key=lambda c: c[0])
        return route, params


def _is_text(content_type: str) -> bool:
    return any(marker in content_type for marker in _TEXT_TYPES)


def build_event(
    request: Request, body: bytes, route: HttpRoute, path_params: dict[str, str]
) -> dict[str, Any]:
    """The event API Gateway HTTP API sends a Lambda integration (payload format version 2.0)."""
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = datetime.now(UTC)
    text = _is_text(headers.get("content-type", "")) or not body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.url.path,
        "rawQueryString": request.url.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": headers.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": request.method,
                "path": request.url.path,
                "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()
    return event


def to_response(result: Any) -> Response:
    """Turn a handler's return value into the HTTP answer, as API Gateway does for format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # Format 2.0 lets a handler return just a body: API Gateway answers 200 with it as JSON.
        return Response(json.dumps(result), status_code=200, media_type="application/json")
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(raw, status_code=int(result["statusCode"]))
    for key, value in (result.get("headers") or {}).items():
        response.headers[key] = str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(key, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    if "content-type" not in response.headers:
        response.headers["content-type"] = "application/json"
    return response


def create_app(
    routes: list[HttpRoute],
    functions: Functions,
    cors_origins: list[str],
    local_routes: list[Route] | None = None,
) -> Starlette:
    """``local_routes`` (e.g. ``GET /openapi.json``) are the local stack's own, never deployed."""
    table = RouteTable(routes)

    async def dispatch(request: Request) -> Response:
        started = time.perf_counter()
        matched = table.match(request.method, request.url.path)
        if matched is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_PAYLOAD_BYTES:
            return JSONResponse({"message": "Request Entity Too Large"}, status_code=413)
        route, path_params = matched
        event = build_event(request, body, route, path_params)
        try:
            result = await run_in_threadpool(functions[route.function].invoke, event)
        except FunctionError:
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        response = to_response(result)
        response.headers["apigw-requestid"] = event["requestContext"]["requestId"]
        response.headers["x-local-duration-ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        return response

    app = Starlette(
        routes=[
            *(local_routes or []),
            Route("/{path:path}", dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Content-Type", "Authorization", "X-Api-Key", "Idempotency-Key"],
                max_age=600,
            )
        ],
    )

    async def unrouted(scope: Any, receive: Any, send: Any) -> None:
        # Paths Starlette's router cannot match (its {path} stops at a decoded newline) still go
        # through API Gateway's routing, as on AWS, instead of Starlette's plain-text 404.
        if scope["type"] == "http":
            response = await dispatch(Request(scope, receive))
            await response(scope, receive, send)

    app.router.default = unrouted
    return app
