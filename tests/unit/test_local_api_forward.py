"""The local stack's web port forwards the HTTP API's paths to the gateway unchanged (issue 16)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ctibridge_local.api_forward import ApiForward


async def _echo(request: Request) -> JSONResponse:
    """The gateway: answers what it got, with a header and a status of its own."""
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": (await request.body()).decode(),
            "headers": dict(request.headers),
        },
        status_code=207,
        headers={"x-gateway": "yes", "access-control-allow-origin": "https://crm.example"},
    )


def _web_port(
    method: str,
    url: str,
    *,
    peer: tuple[str, int] = ("203.0.113.9", 5000),
    origin_headers: list[tuple[str, str]] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request to a web port whose forward reaches an in-process gateway (both over ASGI)."""
    gateway = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "OPTIONS"])])
    forward = ApiForward(
        "http://gateway.local", transport=httpx.ASGITransport(app=gateway), origin_headers=origin_headers
    )
    web = Starlette(routes=forward.routes())

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=web, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.local") as client:
            answer = await client.request(method, url, **kwargs)
        await forward.close()
        return answer

    return asyncio.run(send())


def test_the_request_reaches_the_gateway_as_the_crm_sent_it() -> None:
    # When a CRM's server posts the seed login form to the web host, with a query as written
    answer = _web_port(
        "POST",
        "/demo/thirdParty/login?a=1+2&userfield=%C4%91%C6%A1n%2342",
        content=b"token=abc",
        headers={"content-type": "application/x-www-form-urlencoded", "connection": "keep-alive"},
    )
    # Then the gateway got the same method, path, raw query and body, and its answer comes back whole
    assert answer.status_code == 207
    assert answer.headers["x-gateway"] == "yes"
    assert answer.headers["access-control-allow-origin"] == "https://crm.example"
    got = answer.json()
    assert (got["method"], got["path"], got["body"]) == ("POST", "/demo/thirdParty/login", "token=abc")
    assert got["query"] == "a=1+2&userfield=%C4%91%C6%A1n%2342"
    assert got["headers"]["content-type"] == "application/x-www-form-urlencoded"
    # and the hop's own headers are the gateway's, with the caller's address added as CloudFront does
    assert got["headers"]["host"] == "gateway.local"
    assert got["headers"]["x-forwarded-for"] == "203.0.113.9"


def test_only_the_api_paths_are_forwarded() -> None:
    for path in (
        "/v1/calls",
        "/wsapi/demo/incoming_call",
        "/click2call.php",
        "/health",
        "/shop/thirdParty/login",
    ):
        assert _web_port("GET", path).status_code == 207, path
    for path in ("/js/embed/cs_voice.js", "/index.html", "/thirdParty/login"):
        assert _web_port("GET", path).status_code == 404, path


def test_the_viewer_address_and_the_origin_value_are_added_as_the_distribution_does() -> None:
    # Given a forward configured with the API origin's custom header (the stack's origin value)
    proof = [("x-ctibridge-origin-verify", "stack-value")]
    # When a caller sends its own values of those headers
    forged = {"X-Ctibridge-Viewer-Address": "192.0.2.1", "X-Ctibridge-Origin-Verify": "guessed"}
    got = _web_port("GET", "/health", origin_headers=proof, headers=forged).json()["headers"]
    # Then the gateway gets the caller's real address (the IP, as the CloudFront Function writes it) and the
    # stack's value only
    assert got["x-ctibridge-viewer-address"] == "203.0.113.9"
    assert got["x-ctibridge-origin-verify"] == "stack-value"
    ipv6 = _web_port("GET", "/health", peer=("2001:db8::7", 443), origin_headers=proof).json()["headers"]
    assert ipv6["x-ctibridge-viewer-address"] == "2001:db8::7"
