"""Outbound HTTP clients (``ctibridge.outbound_http``): an http:// request makes no SSL context, an
https:// one makes the process's one context and verifies the server's certificate, and a pinned TLS
connection is reused only for the name its certificate was checked for.

Real requests through httpx's transport to a server on 127.0.0.1 (pools and TLS handshakes are what is
tested, so httpx's MockTransport would skip the point); trustme makes the certificates.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import trustme

from ctibridge import outbound_guard, outbound_http
from ctibridge.click2call import pbx_client
from ctibridge.delivery import worker
from ctibridge.delivery.models import OutgoingRequest
from ctibridge.delivery.store import AttemptStatus
from ctibridge.realtime import screen_pop
from ctibridge.recordings.fetch import RecordingFetcher
from ctibridge.settings import get_settings
from ctibridge.tenants.models import Tenant
from tests.support.loopback_http import LoopbackServer

LOOPBACK = ["127.0.0.1"]


def _loopback(_host: str, _port: int) -> list[str]:
    return LOOPBACK  # every test name (crm-a.test, pbx.test...) is this machine


@pytest.fixture
def ssl_contexts(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """Every client-side SSL context created from now on (none cached from an earlier test)."""
    created: list[ssl.SSLContext] = []
    original = ssl.SSLContext.__new__

    def counting(
        cls: type[ssl.SSLContext], protocol: int = ssl.PROTOCOL_TLS_CLIENT, *args: object
    ) -> ssl.SSLContext:
        context = original(cls, protocol, *args)
        if protocol == ssl.PROTOCOL_TLS_CLIENT:
            created.append(context)
        return context

    monkeypatch.setattr(outbound_http, "_contexts", {})
    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(counting))
    return created


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def trusting(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's TLS contexts trust the test CA (and only it): certificates are still verified."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    monkeypatch.setattr(outbound_http, "_contexts", {False: context, True: context})


@pytest.fixture
def fresh_screen_pop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(screen_pop, "_client", None)
    monkeypatch.setattr(screen_pop, "_resolve", _loopback)
    yield
    if screen_pop._client is not None:
        screen_pop._client.close()


@pytest.fixture
def fresh_delivery_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(worker, "_client", None)
    yield
    if worker._client is not None:
        worker._client.close()


# ---------------------------------------------------------------- one request per kind of client


def _click_to_call(url: str) -> None:
    tenant = Tenant(tenant_id="demo", domain="demo.example.com", pbx_click2call_url=f"{url}/click2call.php")
    pbx_client.place_call(tenant, "pbx-secret", "101", "0901234567", "token")


def _delivery(url: str) -> None:
    client = worker.default_client(get_settings())
    attempt = worker.send_one(
        client,
        OutgoingRequest("POST", f"{url}/events", [], {"Content-Type": "application/json"}, b"{}"),
        0,
        allow_private_network=True,  # the operator's flag for a CRM on a private network: not pinned
        resolver=_loopback,
        now=lambda: datetime.now(UTC),
        deadline_seconds=30,
    )
    assert attempt.status is AttemptStatus.SUCCEEDED, attempt


def _screen_pop(url: str) -> None:
    pinned = url.replace("127.0.0.1", "crm-a.test")
    contact = screen_pop.lookup(f"{pinned}/lookup", "0901234567", allowed_hosts=["crm-a.test"])
    assert contact is not None
    assert contact.name == "Nguyen Van A"


def _recording(url: str) -> None:
    pinned = url.replace("127.0.0.1", "pbx.test")
    fetcher = RecordingFetcher(allowed_hosts=["pbx.test"], resolver=_loopback)
    with fetcher.fetch(f"{pinned}/recordings/a.wav") as fetched:
        assert fetched.content_type == "audio/wav"


CLIENTS: dict[str, Callable[[str], None]] = {
    "click-to-call": _click_to_call,
    "delivery": _delivery,
    "screen pop": _screen_pop,
    "recording": _recording,
}


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.usefixtures("fresh_screen_pop", "fresh_delivery_client")
def test_an_http_request_makes_no_ssl_context(kind: str, ssl_contexts: list[ssl.SSLContext]) -> None:
    # Given a server on plain http:// (a PBX's click2call.php often is)
    with LoopbackServer() as server:
        # When the client of that kind makes its request
        CLIENTS[kind](f"http://127.0.0.1:{server.port}")

    # Then the request arrived, and no SSL context was made for it (no certifi bundle loaded)
    assert len(server.seen) == 1
    assert ssl_contexts == []
    assert outbound_http._contexts == {}


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.usefixtures("fresh_screen_pop", "fresh_delivery_client", "trusting")
def test_an_https_request_is_sent_over_verified_tls(kind: str, ca: trustme.CA) -> None:
    # Given an https:// server whose certificate names 127.0.0.1 and the test names, from a trusted CA
    with LoopbackServer(tls=_server_context(ca, "127.0.0.1", "crm-a.test", "pbx.test")) as server:
        # When the client of that kind makes its request, Then it is served over TLS with the right name
        CLIENTS[kind](f"https://127.0.0.1:{server.port}")
    assert len(server.seen) == 1
    assert server.sni[0] in (None, "crm-a.test", "pbx.test")  # no SNI for an IP address


def test_an_https_request_makes_the_process_context_once_and_verifies_with_it(
    ca: trustme.CA, ssl_contexts: list[ssl.SSLContext]
) -> None:
    # Given a server whose certificate comes from a CA that certifi's bundle does not hold
    with LoopbackServer(tls=_server_context(ca, "127.0.0.1")) as server:
        url = f"https://127.0.0.1:{server.port}/"
        # When two clients send to it, Then both refuse its certificate: verification is on
        for _ in range(2):
            with (
                outbound_http.client(timeout=httpx.Timeout(5.0)) as client,
                pytest.raises(httpx.ConnectError) as error,
            ):
                client.get(url)
            assert "CERTIFICATE_VERIFY_FAILED" in str(error.value)
    # And the SSL context was made once, on the first https request, and shared
    assert len(ssl_contexts) == 1
    assert outbound_http._contexts == {False: ssl_contexts[0]}
    assert ssl_contexts[0].verify_mode == ssl.CERT_REQUIRED
    assert ssl_contexts[0].check_hostname
    assert server.seen == []


@pytest.mark.usefixtures("fresh_screen_pop", "trusting")
def test_a_tls_connection_is_reused_only_for_the_name_it_was_verified_for(ca: trustme.CA) -> None:
    # Given two tenants' CRMs on one IP (a shared host), a server whose certificate names only tenant A's
    with LoopbackServer(tls=_server_context(ca, "crm-a.test")) as server:
        a = f"https://crm-a.test:{server.port}/lookup"
        b = f"https://crm-b.test:{server.port}/lookup"
        # When tenant A's CRM is looked up twice, then tenant B's, on the one pooled screen-pop client
        first = screen_pop.lookup(a, "0901", allowed_hosts=["crm-a.test"])
        second = screen_pop.lookup(a, "0902", allowed_hosts=["crm-a.test"])
        other = screen_pop.lookup(b, "0903", allowed_hosts=["crm-b.test"])

    # Then A's lookups share one kept-alive connection
    assert first is not None
    assert second is not None
    assert [s.host for s in server.seen] == [f"crm-a.test:{server.port}"] * 2
    assert len(server.connections) == 1
    # And B's lookup did not ride A's connection: it opened its own handshake with B's name, whose
    # certificate check failed (the server is not crm-b.test), so nothing was sent to it
    assert other is None
    assert server.sni == ["crm-a.test", "crm-b.test"]


@pytest.mark.usefixtures("trusting")
def test_a_tls_pool_per_name_least_recently_used_closed_past_the_cap(
    ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client that keeps TLS pools for at most two names
    monkeypatch.setattr(outbound_http, "MAX_TLS_POOLS", 2)
    names = ["a.test", "b.test", "c.test"]
    with (
        LoopbackServer(tls=_server_context(ca, *names)) as server,
        outbound_http.client(timeout=httpx.Timeout(5.0)) as client,
    ):
        transport = client._transport
        assert isinstance(transport, outbound_http.OutboundTransport)
        # When requests pinned to 127.0.0.1 go out for a, b, a again, then c
        for name in ["a.test", "b.test", "a.test", "c.test"]:
            destination = outbound_guard.check(
                f"https://{name}:{server.port}/", allowed_hosts=[name], resolver=_loopback
            )
            response = client.get(
                destination.target, headers=destination.headers, extensions=destination.extensions
            )
            assert response.status_code == 200
        # Then the least recently used name's pool (b) was closed, a's and c's are kept
        assert transport.tls_names == ["a.test", "c.test"]
        assert not transport.has_plain_pool
    assert server.sni == ["a.test", "b.test", "c.test"]
    assert len(server.connections) == 3  # a's second request reused a's connection


def test_only_http_and_https_are_sent() -> None:
    with outbound_http.client(timeout=httpx.Timeout(1.0)) as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/file")
