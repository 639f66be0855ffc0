"""The delivery worker against real CRMs on loopback sockets (the real httpx client, not a mock): CRMs
that answer in ways a mock transport cannot, a byte at a time or never quite."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import trustme
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ctibridge import outbound_http
from ctibridge.delivery import signing
from ctibridge.delivery.models import CrmEndpoint, DeliveryMessage, OutboundEvent
from ctibridge.delivery.store import AttemptStatus, DeliveryStore
from ctibridge.delivery.worker import Deliverer, ResultKind
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.crm_server import CrmServer
from tests.support.delivery import add_endpoint
from tests.unit.delivery.conftest import CUSTOMER, SIGNING_SECRET, TABLE, Clock

Behaviour = Callable[[socket.socket], None]


class RawCrm:
    """A CRM on a loopback socket that answers each connection with ``behaviour``."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        if self.tls:
            return f"https://localhost:{self.port}/hooks"
        return f"http://127.0.0.1:{self.port}/hooks"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        if self.tls:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError):
                connection.close()  # the worker refused our certificate
                return
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                received += chunk
            with contextlib.suppress(OSError):  # the worker hung up: what a deadline does
                self.behaviour(connection)

    def trickle(self, connection: socket.socket, data: bytes) -> None:
        """Send ``data`` a byte every 0.2 s (each far within the read timeout), unless stopped."""
        for byte in data:
            if self.stopped.wait(0.2):
                return
            connection.sendall(bytes([byte]))

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def raw_crms() -> Iterator[list[RawCrm]]:
    servers: list[RawCrm] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def http_crm() -> Iterator[CrmServer]:
    server = CrmServer().start()
    yield server
    server.stop()


@pytest.fixture
def deliverer(monkeypatch: pytest.MonkeyPatch, clock: Clock, admin: TenantAdmin) -> Iterator[Deliverer]:
    """The worker with the real outbound client: connect 0.5 s, read 1 s."""
    monkeypatch.setenv("DELIVERY_CONNECT_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("DELIVERY_READ_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    client = outbound_http.client(
        timeout=httpx.Timeout(
            settings.delivery_read_timeout_seconds, connect=settings.delivery_connect_timeout_seconds
        )
    )
    yield Deliverer(settings=settings, client=client, resolver=lambda host, port: ["127.0.0.1"], now=clock)
    client.close()


def ringing() -> DeliveryMessage:
    event = OutboundEvent(
        id="evt_slow1",
        type="call.ringing",
        tenant=CUSTOMER,
        callid="slow1",
        occurred_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        data={"callid": "slow1", "phone": "0901234567", "extension": "101"},
    )
    return DeliveryMessage(tenant=CUSTOMER, endpoint_id="main", event=event)


def test_a_crm_trickling_its_answer_times_out_and_the_backup_gets_the_event(
    admin: TenantAdmin, raw_crms: list[RawCrm], http_crm: CrmServer, deliverer: Deliverer, clock: Clock
) -> None:
    # Given a main CRM that sends its status line and headers a byte every 0.2 s (each read within the
    # 1 s read timeout, the whole answer taking 30 s), and a backup URL
    slow = RawCrm(lambda c: slow.trickle(c, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 150 + b"\r\n\r\n"))
    raw_crms.append(slow)
    endpoint = CrmEndpoint(id="main", url=slow.url, backup_urls=[http_crm.url], allow_private_network=True)
    add_endpoint(admin, CUSTOMER, endpoint, signing_secret=SIGNING_SECRET)
    msg = ringing()
    # When the worker delivers an event
    result = deliverer.process(msg, queued_at=clock.now)
    # Then the main URL's request ended at its deadline as a timeout, and the backup got the event
    assert result.kind is ResultKind.DELIVERED
    (received,) = http_crm.requests
    assert signing.verify(SIGNING_SECRET, received.headers, received.body) == msg.event.id
    attempts = DeliveryStore(TABLE).list_attempts(CUSTOMER).items
    assert sorted((a.target, a.status, a.error_code) for a in attempts) == [
        (0, AttemptStatus.FAILED, "TIMEOUT"),
        (1, AttemptStatus.SUCCEEDED, None),
    ]


def test_a_2xx_with_a_body_that_never_ends_is_delivered(
    admin: TenantAdmin, raw_crms: list[RawCrm], deliverer: Deliverer, clock: Clock
) -> None:
    # Given a CRM that answers 200 at once, then trickles a 1 MB body and hangs up after 100 bytes
    def answer(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        slow.trickle(connection, b"x" * 100)

    slow = RawCrm(answer)
    raw_crms.append(slow)
    add_endpoint(
        admin,
        CUSTOMER,
        CrmEndpoint(id="main", url=slow.url, allow_private_network=True),
        signing_secret=SIGNING_SECRET,
    )
    # When the worker delivers an event, Then the CRM's 200 is its answer: delivered, not retried
    result = deliverer.process(ringing(), queued_at=clock.now)
    assert result.kind is ResultKind.DELIVERED
    assert result.last_http_status == 200


def test_a_crm_with_a_certificate_nobody_trusts_is_told_so(
    admin: TenantAdmin, raw_crms: list[RawCrm], deliverer: Deliverer, clock: Clock
) -> None:
    # Given a CRM on https whose certificate comes from a CA no one trusts
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("localhost").configure_cert(context)

    def answer(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    crm = RawCrm(answer, tls=context)
    raw_crms.append(crm)
    add_endpoint(
        admin,
        CUSTOMER,
        CrmEndpoint(id="main", url=crm.url, allow_private_network=True),
        signing_secret=SIGNING_SECRET,
    )
    # When the worker delivers an event
    result = deliverer.process(ringing(), queued_at=clock.now)
    # Then nothing is sent, the attempt says why (not "connection failed"), and it will be retried
    assert (result.kind, result.reason) == (ResultKind.RETRY, "TLS_CERTIFICATE_INVALID")
    (failed,) = DeliveryStore(TABLE).list_attempts(CUSTOMER).items
    assert failed.error == "localhost: TLS certificate refused (unable to get local issuer certificate)"


def test_the_standard_webhooks_reference_verifier_accepts_what_the_crm_receives(
    admin: TenantAdmin, http_crm: CrmServer, deliverer: Deliverer, clock: Clock
) -> None:
    # Given a CRM that verifies with the official Standard Webhooks library and dedupes on webhook-id
    add_endpoint(
        admin,
        CUSTOMER,
        CrmEndpoint(id="main", url=http_crm.url, allow_private_network=True),
        signing_secret=SIGNING_SECRET,
    )
    msg = ringing()
    # When the worker delivers an event, and an operator replays it (--include-delivered)
    assert deliverer.process(msg, queued_at=clock.now).kind is ResultKind.DELIVERED
    replay = msg.model_copy(update={"force": True})
    assert deliverer.process(replay, queued_at=clock.now).kind is ResultKind.DELIVERED
    # Then each request verifies as received, with the same webhook-id (the CRM processes it once)
    first, again = http_crm.requests
    verifier = Webhook(SIGNING_SECRET)
    assert verifier.verify(first.body, first.headers) == verifier.verify(again.body, again.headers)
    assert first.event_id == again.event_id == msg.event.id
    # And a body changed on the way is refused
    with pytest.raises(WebhookVerificationError):
        verifier.verify(first.body.replace(b"0901234567", b"0901234568"), first.headers)
