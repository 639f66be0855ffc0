"""The WebSocket API of template.yaml and its @connections management API.

Clients connect to ``ws://host:port/{stage}``; handlers reach them through boto3's
``apigatewaymanagementapi`` client with ``endpoint_url=http://host:port/{stage}``, exactly as on AWS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ctibridge_local.lambdas import FunctionError, Functions
from ctibridge_local.resolve import ACCOUNT_ID

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
API_ID = "localws"


@dataclass
class _Client:
    websocket: WebSocket
    connected_at: float
    source_ip: str
    user_agent: str
    last_active_at: float = field(default_factory=time.time)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _new_connection_id() -> str:
    # API Gateway's ids look like base64 of 10 bytes (e.g. "L0SM9cOFvHcCIhw="): keep the shape, with
    # letters and digits only, as theirs have.
    while True:
        candidate = base64.b64encode(secrets.token_bytes(10)).decode()
        if "+" not in candidate and "/" not in candidate:
            return candidate


def select_route(expression: str, body: str, routes: set[str]) -> str | None:
    """The route key for a message body under ``$request.body.<path>``; ``$default`` as a fallback."""
    key: Any = None
    if expression.startswith("$request.body."):
        try:
            key = json.loads(body)
            for part in expression.removeprefix("$request.body.").split("."):
                key = key.get(part) if isinstance(key, dict) else None
        except (json.JSONDecodeError, TypeError):
            key = None
    if isinstance(key, str) and key in routes and not key.startswith("$"):
        return key
    return "$default" if "$default" in routes else None


class WebSocketGateway:
    def __init__(self, routes: dict[str, str], functions: Functions, stage: str, selection: str) -> None:
        self.routes = routes
        self.functions = functions
        self.stage = stage
        self.selection = selection
        self.clients: dict[str, _Client] = {}
        # False while the service "restarts": new clients are refused, as by a server that is down.
        self.accepting = True

    def _request_context(
        self, connection_id: str, route_key: str, event_type: str, host: str, client: _Client | None = None
    ) -> dict[str, Any]:
        # ``client``: the connection's own record, which @connections DELETE has already dropped
        client = client or self.clients.get(connection_id)
        now = datetime.now(UTC)
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex[:16] + "=",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int((client.connected_at if client else time.time()) * 1000),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "sourceIp": client.source_ip if client else "127.0.0.1",
                "userAgent": client.user_agent if client else "",
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "domainName": host,
            "connectionId": connection_id,
            "apiId": API_ID,
            "accountId": ACCOUNT_ID,
        }

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> Any:
        function = self.functions[self.routes[route_key]]
        return await run_in_threadpool(function.invoke, event)

    async def websocket_endpoint(self, websocket: WebSocket) -> None:
        if not self.accepting:
            await websocket.send_denial_response(Response(status_code=503))
            return
        connection_id = _new_connection_id()
        host = websocket.headers.get("host", "127.0.0.1")
        me = self.clients[connection_id] = _Client(
            websocket=websocket,
            connected_at=time.time(),
            source_ip=websocket.client.host if websocket.client else "127.0.0.1",
            user_agent=websocket.headers.get("user-agent", ""),
        )
        query = dict(websocket.query_params)
        multi_query: dict[str, list[str]] = {}
        for key, value in websocket.query_params.multi_items():
            multi_query.setdefault(key, []).append(value)
        headers = dict(websocket.headers)
        connect_event = {
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "requestContext": self._request_context(connection_id, "$connect", "CONNECT", host),
            "isBase64Encoded": False,
        }
        if query:
            connect_event["queryStringParameters"] = query
            connect_event["multiValueQueryStringParameters"] = multi_query
        status = 200
        if "$connect" in self.routes:
            try:
                result = await self._invoke("$connect", connect_event)
                status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
            except FunctionError:
                status = 500
        if not 200 <= status < 300:
            self.clients.pop(connection_id, None)
            # API Gateway refuses the upgrade with the status $connect returned.
            await websocket.send_denial_response(Response(status_code=status))
            return
        await websocket.accept()
        close_code = 1000
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code", 1005))
                    break
                text = message.get("text")
                if text is None:
                    # API Gateway does not take binary frames: it drops the client with 1003 (unsupported
                    # data) and the function never sees the frame. A client tested here must meet the same.
                    await websocket.close(code=1003)
                    close_code = 1003
                    break
                if len(text.encode()) > MAX_MESSAGE_BYTES:
                    await websocket.close(code=1009)
                    close_code = 1009
                    break
                await self._on_message(connection_id, text, host)
        except WebSocketDisconnect as gone:
            close_code = gone.code
        finally:
            self.clients.pop(connection_id, None)
            if "$disconnect" in self.routes:
                disconnect_event = {
                    "headers": headers,
                    "multiValueHeaders": {k: [v] for k, v in headers.items()},
                    "requestContext": {
                        **self._request_context(connection_id, "$disconnect", "DISCONNECT", host, me),
                        "disconnectStatusCode": close_code,
                        "disconnectReason": "",
                    },
                    "isBase64Encoded": False,
                }
                with contextlib.suppress(FunctionError):  # API Gateway ignores $disconnect's outcome
                    await self._invoke("$disconnect", disconnect_event)

    async def _on_message(self, connection_id: str, text: str, host: str) -> None:
        client = self.clients.get(connection_id)
        if client:
            client.last_active_at = time.time()
        route_key = select_route(self.selection, text, set(self.routes))
        if route_key is None:
            await self._send(
                connection_id, json.dumps({"message": "Forbidden", "connectionId": connection_id})
            )
            return
        event = {
            "requestContext": {
                **self._request_context(connection_id, route_key, "MESSAGE", host),
                "messageId": _new_connection_id(),
            },
            "body": text,
            "isBase64Encoded": False,
        }
        try:
            await self._invoke(route_key, event)
        except FunctionError:
            await self._send(
                connection_id,
                json.dumps({"message": "Internal server error", "connectionId": connection_id}),
            )

    async def _send(self, connection_id: str, data: str) -> bool:
        client = self.clients.get(connection_id)
        if client is None:
            return False
        async with client.send_lock:
            try:
                await client.websocket.send_text(data)
            except (RuntimeError, WebSocketDisconnect):
                return False
        return True

    # ------------------------------------------------------------ @connections management API
    async def connections_api(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        client = self.clients.get(connection_id)
        if client is None:
            return _gone(connection_id)
        if request.method == "POST":
            body = await request.body()
            if len(body) > MAX_MESSAGE_BYTES:
                return JSONResponse(
                    {"message": "Message too long"},
                    status_code=413,
                    headers={"x-amzn-ErrorType": "PayloadTooLargeException"},
                )
            if not await self._send(connection_id, body.decode("utf-8", errors="replace")):
                return _gone(connection_id)
            return Response(status_code=200)
        if request.method == "DELETE":
            # As API Gateway's DeleteConnection: gone for @connections at once (later posts answer
            # 410), the socket closed after any frame already being sent, then $disconnect runs (the
            # client's receive loop ends, see websocket_endpoint).
            self.clients.pop(connection_id, None)
            async with client.send_lock:
                with contextlib.suppress(RuntimeError):  # the client was closing it already
                    await client.websocket.close(code=1000)
            return Response(status_code=204)
        return JSONResponse(
            {
                "connectedAt": datetime.fromtimestamp(client.connected_at, UTC).isoformat(),
                "lastActiveAt": datetime.fromtimestamp(client.last_active_at, UTC).isoformat(),
                "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
            }
        )

    async def close_all(self) -> None:
        """Drop every client, as a restart of the WebSocket service would."""
        self.accepting = False
        for connection_id, client in list(self.clients.items()):
            self.clients.pop(connection_id, None)
            with contextlib.suppress(RuntimeError):  # already closing
                await client.websocket.close(code=1001)

    def create_app(self) -> Starlette:
        stage = self.stage
        return Starlette(
            routes=[
                WebSocketRoute(f"/{stage}", self.websocket_endpoint),
                Route(
                    f"/{stage}/@connections/{{connection_id:path}}",
                    self.connections_api,
                    methods=["GET", "POST", "DELETE"],
                ),
            ]
        )


def _gone(connection_id: str) -> Response:
    # botocore reads the error code from this header: handlers see a real GoneException.
    return JSONResponse(
        {"message": f"Connection {connection_id} is gone"},
        status_code=410,
        headers={"x-amzn-ErrorType": "GoneException"},
    )
