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

Import this module where the first outbound request is made (it imports httpx): handlers whose first
event makes none must not pay httpx's import.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping

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
                    self._plain = httpx.HTTPTransport(verify=None, limits=self._limits)  # type: ignore[arg-type]
                return self._plain
            if scheme != "https":
                raise httpx.UnsupportedProtocol(f"Only http and https are sent, not {scheme!r}.")
            sni = request.extensions.get("sni_hostname")
            name = (sni.decode("ascii") if isinstance(sni, bytes) else sni) or request.url.host
            transport = self._tls.get(name)
            if transport is None:
                transport = httpx.HTTPTransport(verify=tls_context(self._trust_env), limits=self._limits)
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
