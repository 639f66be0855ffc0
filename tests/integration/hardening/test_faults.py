"""Faults on the real local stack: the WebSocket service restarting, a CRM timing out, a recording server
answering garbage or huge files. Nothing the PBX sent may be lost, and the PBX is never kept waiting.

(AWS itself failing during a webhook is tested in test_aws_outage.py, through the stack's fault proxy, and
in tests/unit/hardening/test_backend_faults.py, where one operation's botocore errors can be injected.)
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from ctibridge.delivery.models import CrmEndpoint
from ctibridge.delivery.signing import generate_secret
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.crm_server import CrmServer
from tests.support.delivery import add_endpoint
from tests.support.hardening import Tenant, login, provision
from tests.support.local_stack import RunningStack

PHONE = "0904824242"


def ring(stack: RunningStack, tenant: Tenant, extension: str, callid: str) -> httpx.Response:
    return httpx.get(
        f"{stack.http_url}/wsapi/{tenant.customer}/incoming_call",
        params={"secret": tenant.pbx_secret, "callid": callid, "phone": PHONE, "extension": extension},
        timeout=30,
    )


def call_log(
    stack: RunningStack, tenant: Tenant, extension: str, callid: str, recording: str = ""
) -> httpx.Response:
    body = {
        "callid": callid,
        "calldate": datetime.now(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M:%S"),
        "extension": extension,
        "phone": PHONE,
        "duration": 20,
        "billsec": 10,
        "status": "ANSWERED",
        "recording": recording,
    }
    return httpx.post(
        f"{stack.http_url}/wsapi/{tenant.customer}/call_answered",
        params={"secret": tenant.pbx_secret},
        json=body,
        timeout=30,
    )


# ---------------------------------------------------------------- the WebSocket service restarts


class ReconnectingTab:
    """A webphone tab's socket with the webphone's rule: when it drops, reconnect with backoff."""

    def __init__(self, stack: RunningStack, token: str) -> None:
        self._url = f"{stack.ws_url}?token={token}&tab={uuid.uuid4().hex[:12]}"
        self.reconnects = 0
        self.ws: ClientConnection = self._connect()

    def _connect(self, deadline: float | None = None) -> ClientConnection:
        deadline = deadline or time.monotonic() + 30
        delay = 0.2
        while True:
            try:
                return connect(self._url, open_timeout=10)
            except (OSError, InvalidStatus, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def reconnect_when_dropped(self, timeout: float = 30) -> None:
        """Wait for the server to drop the socket (bounded), then reconnect."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed:
            pass
        self.ws = self._connect(deadline + 30)
        self.reconnects += 1

    def next_of(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if frame.get("type") == kind:
                return frame  # type: ignore[no-any-return]

    def close(self) -> None:
        self.ws.close()


def test_after_a_websocket_restart_every_tab_reconnects_and_no_popup_is_lost(hardened: RunningStack) -> None:
    # Given 6 agents with a tab each
    extensions = [str(401 + i) for i in range(6)]
    tenant = provision(hardened, f"wsr{uuid.uuid4().hex[:6]}", extensions)
    with httpx.Client(timeout=30) as client:
        tabs = {ext: ReconnectingTab(hardened, login(client, hardened, tenant, ext)) for ext in extensions}
    try:
        # When the WebSocket service restarts (every client dropped, refused for ~1 s)
        hardened.restart_websocket()
        for tab in tabs.values():
            tab.reconnect_when_dropped()
        assert all(tab.reconnects == 1 for tab in tabs.values())
        # Then a call to each agent after the reconnection reaches its tab: none lost
        callids = {ext: f"{time.time():.6f}{ext}" for ext in extensions}
        for ext, callid in callids.items():
            assert ring(hardened, tenant, ext, callid).status_code == 200
        for ext, tab in tabs.items():
            assert tab.next_of("call.ringing")["callid"] == callids[ext]
    finally:
        for tab in tabs.values():
            tab.close()


# ---------------------------------------------------------------- the CRM times out


@pytest.fixture
def crm() -> Iterator[CrmServer]:
    server = CrmServer().start()
    yield server
    server.stop()


def test_a_crm_timing_out_never_delays_the_pbx_and_gets_the_event_once_it_answers(
    hardened: RunningStack, crm: CrmServer
) -> None:
    # Given a tenant whose CRM takes 3 s to answer (the stack gives up reading after 1 s)
    tenant = provision(hardened, f"crmto{uuid.uuid4().hex[:6]}", ["501"])
    endpoint = CrmEndpoint(id="slow-crm", url=f"{crm.url}/events", allow_private_network=True)
    add_endpoint(
        TenantAdmin(hardened.table_name, hardened.stage),
        tenant.customer,
        endpoint,
        signing_secret=generate_secret(),
    )
    crm.slow(3.0)
    # When the PBX sends a call
    callid = f"{time.time():.6f}"
    started = time.monotonic()
    answer = ring(hardened, tenant, "501", callid)
    # Then the PBX's answer does not wait for the CRM
    assert answer.status_code == 200
    assert time.monotonic() - started < 3.0
    crm.wait_for(lambda server: len(server.requests) >= 1, timeout=60)
    # And once the CRM answers in time again, the retried event is delivered
    crm.slow(0)
    crm.wait_for(lambda server: any(r.json().get("callid") == callid for r in server.accepted()), timeout=90)
    accepted = [r for r in crm.accepted() if r.json().get("callid") == callid]
    assert len({r.event_id for r in accepted}) == 1  # one event, however many attempts


# ---------------------------------------------------------------- the recording server misbehaves


class RecordingServer:
    """A PBX's recording server that answers garbage and oversized files."""

    HUGE = 2 * 1024 * 1024  # over the stack's RECORDING_MAX_BYTES (1 MiB)

    def __init__(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path.startswith("/garbage"):
                    self._answer(b"<html><body>Login required</body></html>", "text/html", length=True)
                elif self.path.startswith("/noise"):  # binary, neither declared nor sniffed as audio
                    self._answer(bytes(range(256)) * 64, "application/octet-stream", length=True)
                elif self.path.startswith("/huge-declared"):
                    self._answer(b"RIFF" + b"\0" * (outer.HUGE - 4), "audio/wav", length=True)
                else:  # huge, without a Content-Length: the cap must hold while streaming
                    self._answer(b"RIFF" + b"\0" * (outer.HUGE - 4), "audio/wav", length=False)

            def _answer(self, body: bytes, content_type: str, *, length: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                # The fetcher may stop reading a file that is too large: what it should do.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_garbage_or_huge_recordings_are_refused_and_the_call_log_kept(hardened: RunningStack) -> None:
    recordings = RecordingServer()
    resources = ExitStack()
    resources.callback(recordings.close)
    with resources:
        # Given a tenant whose PBX recording server (allowed on loopback) misbehaves
        tenant = provision(
            hardened, f"rec{uuid.uuid4().hex[:6]}", ["601"], recording_hosts_allowed=[recordings.host]
        )
        cases = {
            "garbage": "/garbage/1.wav",
            "noise": "/noise/2.wav",
            "huge-declared": "/huge-declared/3.wav",
            "huge-streamed": "/huge-streamed/4.wav",
        }
        callids = {name: f"{time.time():.6f}{i}" for i, name in enumerate(cases)}
        # When the PBX sends call logs pointing at them
        for name, path in cases.items():
            answer = call_log(hardened, tenant, "601", callids[name], f"http://{recordings.host}{path}")
            assert answer.status_code == 200  # the call log itself is stored at once
        # Then each recording ends refused for good (not retried forever), with a reason, and nothing
        # is stored in S3 for it; the call log stays complete
        views: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 90
        with httpx.Client(
            base_url=hardened.http_url, headers={"X-Api-Key": tenant.api_key}, timeout=30
        ) as api:
            while time.monotonic() < deadline and len(views) < len(cases):
                for name, callid in callids.items():
                    view = api.get(f"/v1/calls/{callid}").json()
                    if view["recording"]["state"] not in ("pending",):
                        views[name] = view
                time.sleep(0.5)
        assert set(views) == set(cases), f"still pending after 90 s: {set(cases) - set(views)}"
        for name, view in views.items():
            assert view["recording"]["state"] == "failed", (name, view["recording"])
            assert view["recording"]["error"], name
            assert view["recording"].get("url") is None
            assert (view["status"], view["duration"]) == ("ANSWERED", 20)
        objects = hardened.client("s3").list_objects_v2(
            Bucket=hardened.resource_name("RecordingsBucket"), Prefix=f"recordings/{tenant.customer}/"
        )
        assert objects.get("KeyCount", 0) == 0
