"""Every outbound httpx client the bridge makes (the PBX's click-to-call, CRM deliveries, screen pops,
recording downloads) comes from here, so two things hold for all of them:

* TLS costs nothing until an ``https://`` request goes out. ``httpx.Client()`` builds its transport's
  SSL context at once, and loading certifi's bundle into it is most of a client's ~70 ms: paid on the
  cold start of a click-to-call whose PBX answers on plain ``http://`` (many ``click2call.php`` do), and
  by every client made per call. :class:`OutboundTransport` sends ``http://`` through a pool that has
  no SSL context at all, and makes the TLS side on the first ``https://`` request, with one SSL
  context per process (:func:`tls_context`), verified against certifi's bundle as httpx does.
* A TLS connection is reused only for the name it was opened and verified for. ``outbound_guard`` pins a
  request to the checked IP (the URL's host is the IP, the name travels as ``Host`` and as the
  ``sni_hostname`` extension), and httpcore keys its pool by the URL's scheme, host and port only: two
  names on one IP (two tenants' CRMs on a shared host or CDN) would share a connection whose
  certificate was checked for the other name. Here each server name has its own TLS pool, so a
  connection is reused only for the same name, IP and port. Plain ``http://`` has no identity to check,
  so its one pool may carry requests for several names to the same IP, as any HTTP/1.1 connection does.

* A request can have a **deadline** (:func:`deadline`): httpx's timeouts are per socket operation, so a
  server that trickles its answer a byte at a time, each within the read timeout, holds a request (and a
  Lambda) for as long as it likes. Every connect, TLS handshake, write and read of a request made under
  a deadline is given at most the time left, then fails as httpx's own timeouts do.

Import this module where the first outbound request is made (it imports httpx): handlers whose first
event makes none must not pay httpx's import.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

# A cap on one client's TLS pools (server names): beyond it the least recently used is closed. It is
# far above the requests one process has in flight at once (a screen pop per call event, a delivery's
# few URLs), so the pool closed is an idle one.
MAX_TLS_POOLS = 64

_contexts: dict[bool, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(trust_env: bool = False) -> ssl.SSLContext:
    """The process's SSL context for verified TLS (certifi's bundle, as httpx's default), made on first
    use. ``trust_env``: honour ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as httpx does (one context per value)."""
    with _contexts_lock:
        context = _contexts.get(trust_env)
        if context is None:
            context = _contexts[trust_env] = httpx.create_ssl_context(trust_env=trust_env)
        return context


_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests sent by this thread within the block end after ``seconds`` at most, whatever the server
    does: each socket operation gets the smaller of its own timeout and the time left."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation honours the deadline of the request using it."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _with_deadlines(transport: httpx.HTTPTransport) -> httpx.HTTPTransport:
    # httpx.HTTPTransport takes no network backend; its httpcore pool does, and hands it to every
    # connection it opens. Without a deadline set, the wrapper passes every timeout through unchanged.
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


class OutboundTransport(httpx.BaseTransport):
    """httpx's own ``HTTPTransport`` underneath, made on first use: one pool without TLS for
    ``http://``, one pool per server name (the ``sni_hostname`` extension, else the URL's host) for
    ``https://``, all TLS pools on the process's :func:`tls_context`."""

    def __init__(self, *, limits: httpx.Limits, trust_env: bool = False) -> None:
        self._limits = limits
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._plain: httpx.HTTPTransport | None = None
        self._tls: OrderedDict[str, httpx.HTTPTransport] = OrderedDict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport_for(request).handle_request(request)

    def _transport_for(self, request: httpx.Request) -> httpx.HTTPTransport:
        scheme = request.url.scheme
        with self._lock:
            if scheme == "http":
                if self._plain is None:
                    # httpx passes a ``verify`` that is neither a bool nor a path on to httpcore as the
                    # pool's SSL context; None is httpcore's "no context". This pool never opens TLS:
                    # https requests go to the pools below.
                    self._plain = _with_deadlines(
                        httpx.HTTPTransport(verify=None, limits=self._limits)  # type: ignore[arg-type]
                    )
                return self._plain
            if scheme != "https":
                raise httpx.UnsupportedProtocol(f"Only http and https are sent, not {scheme!r}.")
            sni = request.extensions.get("sni_hostname")
            name = (sni.decode("ascii") if isinstance(sni, bytes) else sni) or request.url.host
            transport = self._tls.get(name)
            if transport is None:
                transport = _with_deadlines(
                    httpx.HTTPTransport(verify=tls_context(self._trust_env), limits=self._limits)
                )
                self._tls[name] = transport
                if len(self._tls) > MAX_TLS_POOLS:
                    self._tls.popitem(last=False)[1].close()
            else:
                self._tls.move_to_end(name)
            return transport

    @property
    def tls_names(self) -> list[str]:
        """The server names this transport holds a TLS pool for, least recently used first."""
        with self._lock:
            return list(self._tls)

    @property
    def has_plain_pool(self) -> bool:
        with self._lock:
            return self._plain is not None

    def close(self) -> None:
        with self._lock:
            pools = [*([self._plain] if self._plain else []), *self._tls.values()]
            self._plain = None
            self._tls.clear()
        for pool in pools:
            pool.close()


def client(
    *,
    timeout: httpx.Timeout,
    limits: httpx.Limits | None = None,
    headers: Mapping[str, str] | None = None,
    trust_env: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client that never follows redirects (a caller that follows them checks each hop with
    ``outbound_guard``) and sends through an :class:`OutboundTransport` (or ``transport``: tests).

    ``trust_env=False`` (the default) ignores environment proxies, which would connect after the
    address check, and ``.netrc``; only the PBX's click-to-call, which is not pinned, keeps httpx's
    default of trusting the environment.
    """
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
    return httpx.Client(
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=trust_env,
        transport=transport or OutboundTransport(limits=limits, trust_env=trust_env),
    )
