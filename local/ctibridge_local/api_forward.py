"""The web port answers the HTTP API's paths too: one host for a CRM, as the seed vendors have.

A VCC / 3C CRM's server POSTs ``{host}/{domain}/thirdParty/login`` to the host its page loads
``/js/embed/cs_voice.js`` from; a seed 004 CRM calls ``{host}/wsapi/...``. On AWS a CloudFront behaviour
sends these paths of the webphone distribution to the HTTP API origin (template.yaml); here the web
server forwards them to the local HTTP gateway with httpx, unchanged (method, path, query, headers,
body), and hands back its answer, CORS headers included (the gateway decides them, as API Gateway does).

As the distribution does, it adds the viewer's address (``X-Ctibridge-Viewer-Address``, the IP: on AWS
the API behaviours' CloudFront Function writes it) and the API origin's custom headers (the stack's origin
verification value, read from template.yaml): the functions then see the caller's address as on AWS
(``ctibridge.client_address``), not the web port's own. A caller's headers of those names are dropped first.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

# The paths CloudFront routes to the HTTP API origin (issue 18's behaviours): keep the two lists equal.
API_PATHS = (
    "/v1/{path:path}",
    "/{domain}/thirdParty/{path:path}",
    "/wsapi/{path:path}",
    "/click2call.php",
    "/health",
)
VIEWER_ADDRESS = "x-ctibridge-viewer-address"  # ctibridge.client_address.VIEWER_ADDRESS_HEADER
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Hop-by-hop headers (RFC 9110 §7.6.1) and what httpx re-computes: never copied across the hop.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}


class ApiForward:
    """Starlette routes that forward the API paths to ``target`` (the local HTTP gateway's URL)."""

    def __init__(
        self,
        target: str,
        transport: httpx.AsyncBaseTransport | None = None,
        origin_headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.target = target.rstrip("/")
        # CloudFront's OriginCustomHeaders of the API origin (name, value), resolved by the stack.
        self.origin_headers = list(origin_headers or [])
        self._added = {VIEWER_ADDRESS} | {name.lower() for name, _ in self.origin_headers}
        self._transport = transport  # tests: an in-process gateway
        self._client: httpx.AsyncClient | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(path, self.forward, methods=METHODS) for path in API_PATHS]

    async def forward(self, request: Request) -> Response:
        if self._client is None:
            # Created in the server's event loop (the stack runs it in its own thread).
            self._client = httpx.AsyncClient(base_url=self.target, timeout=30.0, transport=self._transport)
        headers = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() not in self._added
        ]
        if request.client:
            # As on AWS: X-Forwarded-For holds the address (CloudFront), X-Ctibridge-Viewer-Address the IP
            # (our CloudFront Function); the gateway's sourceIp is this forward's own address, as the edge's
            # is behind CloudFront (the servers ignore X-Forwarded-For, as API Gateway does).
            headers.append(("x-forwarded-for", request.client.host))
            headers.append((VIEWER_ADDRESS, request.client.host))
        headers.extend(self.origin_headers)
        # The raw query as the CRM wrote it (a seed 004 CRM's userfield may hold anything).
        query = request.url.query
        answer = await self._client.request(
            request.method,
            f"{request.url.path}?{query}" if query else request.url.path,
            headers=headers,
            content=await request.body(),
        )
        response = Response(content=answer.content, status_code=answer.status_code)
        for key, value in answer.headers.multi_items():
            if key.lower() not in _HOP_BY_HOP:
                response.headers.append(key, value)
        return response

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
