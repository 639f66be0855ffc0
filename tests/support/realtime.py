"""Helpers of the real-time tests: a fake @connections API, session tokens, table inspection."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ctibridge.auth import sessions
from ctibridge.tenants import repository

Connect = Callable[..., dict[str, Any]]


def _gone(operation: str) -> ClientError:
    error: Any = {
        "Error": {"Code": "GoneException", "Message": "gone"},
        "ResponseMetadata": {"HTTPStatusCode": 410},
    }
    return ClientError(error, operation)


@dataclass
class FakeManagementApi:
    """API Gateway's @connections API: records posts and closes, answers 410 GoneException for closed tabs.

    moto's own apigatewaymanagementapi accepts any id and never says Gone, so it cannot test cleanup.
    """

    open: set[str] = field(default_factory=set)
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    closed: list[str] = field(default_factory=list)  # ids closed by DeleteConnection, in order
    delay: float = 0.0  # seconds each post takes (to see that posts overlap)
    fail: set[str] = field(default_factory=set)  # ids whose posts fail with a throttling error
    fail_close: set[str] = field(default_factory=set)  # ids whose DeleteConnection is throttled
    in_flight: int = 0  # posts being answered now
    most_in_flight: int = 0  # the most posts answered at the same time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        if self.delay:
            with self._lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.delay)
            with self._lock:
                self.in_flight -= 1
        if ConnectionId in self.fail:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": "slow down"}}, "PostToConnection"
            )
        if ConnectionId not in self.open:
            raise _gone("PostToConnection")
        with self._lock:
            self.frames[ConnectionId].append(json.loads(Data))
        return {}

    def delete_connection(self, ConnectionId: str) -> dict[str, Any]:
        if ConnectionId in self.fail_close:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": "slow down"}}, "DeleteConnection"
            )
        with self._lock:
            if ConnectionId not in self.open:
                raise _gone("DeleteConnection")
            self.open.discard(ConnectionId)
            self.closed.append(ConnectionId)
        return {}

    def get_connection(self, ConnectionId: str) -> dict[str, Any]:
        if ConnectionId not in self.open:
            raise _gone("GetConnection")
        return {"connectedAt": "2024-01-01T00:00:00Z"}

    def types(self, connection_id: str) -> list[str]:
        return [frame["type"] for frame in self.frames[connection_id]]

    def last(self, connection_id: str) -> dict[str, Any]:
        return self.frames[connection_id][-1]


def session_token(tenant_id: str, ipphone: str) -> str:
    """A live session token, as the seed login would hand out in ``user.token``."""
    tenant = repository.get_by_customer(tenant_id)
    agent = repository.get_agent(tenant_id, ipphone)
    assert tenant is not None
    assert agent is not None
    token, _ = sessions.issue(tenant, agent)
    return token


def open_tab(
    gateway: FakeManagementApi,
    ws_connect: Connect,
    tenant_id: str,
    ipphone: str,
    connection_id: str,
    *,
    token: str | None = None,
) -> None:
    """A tab that connected (with ``token``, default a new login's) and is still open."""
    assert ws_connect(tenant_id, ipphone, connection_id, token=token)["statusCode"] == 200
    gateway.open.add(connection_id)


def all_items(table: Any) -> list[dict[str, Any]]:
    """Every item of the table: a test's view only (the code never scans)."""
    return list(table.scan()["Items"])


class SlowCrm:
    """A real loopback HTTP server standing in for a tenant's CRM lookup, answering after ``delay`` s."""

    def __init__(self, delay: float = 0.0, body: dict[str, Any] | None = None) -> None:
        import http.server

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                time.sleep(outer.delay)
                outer.answered_at.append(time.monotonic())
                payload = json.dumps(outer.body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is the point of the test

            def log_message(self, *args: Any) -> None:
                pass

        self.delay = delay
        self.body = (
            body if body is not None else {"name": "Nguyen Van A", "url": "https://crm.example.com/c/1"}
        )
        self.requests: list[str] = []
        # time.monotonic() of each answer (given or not: the client may have gone)
        self.answered_at: list[float] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"  # for the tenant's crm_hosts_allowed
        self.url = f"http://{self.host}/lookup"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def first_answer(self, timeout: float = 10.0) -> float:
        """``time.monotonic()`` of the first answer, once it was given (waits up to ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while not self.answered_at and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.answered_at, "the CRM was never asked"
        return self.answered_at[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for_call_state(
    tenant_id: str, ipphone: str, state: str, *, callid: str | None = None, timeout: float = 10.0
) -> Any:
    """The agent's state once its call state is ``state`` (and ``callid``, if given).

    The webhook queues the call state (CallStateQueue); the local stack's poller applies it a moment
    later, as Lambda's SQS event source does on AWS.
    """
    from ctibridge.realtime import presence

    deadline = time.monotonic() + timeout
    while True:
        current = presence.get_state(tenant_id, ipphone)
        if current.call.state == state and (callid is None or current.call.callid == callid):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{tenant_id}/{ipphone} call state {current.call} never became {state}")
        time.sleep(0.05)
