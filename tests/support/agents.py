"""Agents as the CRM and the webphone drive them on a running local stack: seed login, open tabs."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning
from websockets.sync.client import ClientConnection, connect

from tests.support.local_stack import RunningStack

DEMO_ACCESS_KEY = "demo-access-key"
RECV_TIMEOUT = 10.0


def login(stack: RunningStack, ipphone: str, domain: str = "demo", key: str = DEMO_ACCESS_KEY) -> str:
    """The seed login: a CRM-signed JWT in, ``user.token`` (the session token) out."""
    expired = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    with warnings.catch_warnings():
        # The demo tenant's published key is short on purpose (seed-style); PyJWT warns about it.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        crm_token = jwt.encode({"ipphone": ipphone, "expired": expired}, key, algorithm="HS256")
    answer = httpx.post(f"{stack.http_url}/{domain}/thirdParty/login", json={"token": crm_token}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["user"]["token"])


class Tab:
    """One webphone tab: a real WebSocket client."""

    def __init__(self, stack: RunningStack, token: str, tab: str | None = None) -> None:
        self.tab = tab or uuid.uuid4().hex[:12]
        self._resources = ExitStack()
        self.ws: ClientConnection = self._resources.enter_context(
            connect(f"{stack.ws_url}?token={token}&tab={self.tab}", open_timeout=10)
        )

    def send(self, body: dict[str, Any]) -> None:
        self.ws.send(json.dumps(body))

    def recv(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))  # type: ignore[no-any-return]

    def recv_type(self, kind: str, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        """The next frame of type ``kind`` (earlier frames of other types are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame["type"] == kind:
                return frame

    def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives until ``quiet`` seconds pass without one."""
        frames = []
        while True:
            try:
                frames.append(self.recv(quiet))
            except TimeoutError:
                return frames

    def sync(self) -> dict[str, Any]:
        self.send({"action": "sync"})
        return self.recv_type("state")

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
