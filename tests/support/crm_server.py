"""A test CRM on a free loopback port: records every request and can be down, slow or flaky.

    crm = CrmServer().start()
    crm.down("503")         # answer 503 to everything        (crm.down("refuse"): stop listening)
    crm.up()                # back to 200
    crm.fail_next(3)        # the next 3 requests answer 503
    crm.slow(2.5)           # wait 2.5 s before answering
    crm.wait_for(lambda reqs: len(crm.accepted()) >= 3)
    crm.stop()

Runs uvicorn on its own thread and event loop; "refuse" really closes the listening socket (a CRM
whose server is stopped), and ``up`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ctibridge_local.moto_backend import wait_for_port
from tests.support.ports import free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]  # in the order received
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the CRM answered
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def event_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)


class CrmServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._mode: Literal["up", "503"] = "up"
        self._fail_next = 0
        self._delay = 0.0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # ------------------------------------------------------------ switches

    def down(self, how: Literal["503", "refuse"] = "503") -> CrmServer:
        if how == "refuse":
            self._shutdown()
        else:
            with self._lock:
                self._mode = "503"
        return self

    def up(self) -> CrmServer:
        with self._lock:
            self._mode = "up"
            self._fail_next = 0
        if self._server is None:
            self.start()
        return self

    def fail_next(self, count: int) -> CrmServer:
        with self._lock:
            self._fail_next = count
        return self

    def slow(self, seconds: float) -> CrmServer:
        with self._lock:
            self._delay = seconds
        return self

    # ------------------------------------------------------------ what was received

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def accepted(self) -> list[Recorded]:
        return [r for r in self.requests if r.ok]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, condition: Callable[[CrmServer], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return
            time.sleep(0.05)
        summary = [(r.method, r.path, r.status, r.event_id) for r in self.requests]
        raise AssertionError(f"the CRM did not get what was expected in {timeout} s; it got {summary}")

    # ------------------------------------------------------------ the server

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            delay = self._delay
            if self._mode == "503":
                status = 503
            elif self._fail_next > 0:
                self._fail_next -= 1
                status = 503
            else:
                status = 200
        if delay:
            await asyncio.sleep(delay)
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            status=status,
        )
        with self._lock:
            self._requests.append(recorded)
        if status != 200:
            return JSONResponse({"error": "unavailable"}, status_code=status)
        return JSONResponse({"ok": True})

    def start(self) -> CrmServer:
        app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])]
        )
        config = uvicorn.Config(
            app, host=HOST, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"crm-{self.port}", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        wait_for_port(HOST, self.port, timeout=10.0)
        return self

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def stop(self) -> None:
        self._shutdown()
