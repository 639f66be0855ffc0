"""Where the bridge may connect on a tenant's behalf: the SSRF guard of every outbound request to a URL
that comes from outside (a PBX's recording URL, a tenant's CRM lookup or event endpoints).

Functions run inside AWS: a URL (or a DNS name that later resolves) to loopback reaches the Lambda
runtime API on 127.0.0.1, link-local reaches the cloud metadata service (169.254.169.254), and private
ranges reach whatever the network holds. So, for a URL:

* only absolute ``http``/``https`` URLs;
* the host is resolved once, and EVERY address it resolves to must be public: not loopback, private,
  link-local, CGNAT, multicast, reserved, unspecified, nor one of those hidden in IPv4-mapped, 6to4,
  Teredo or NAT64 IPv6 addresses (``forbidden_reason``) — unless the tenant's configuration lists the
  host (``host_allowed``: a PBX or CRM on the customer's LAN behind a VPN, the local stack's servers);
* the connection is pinned to the checked address: the request goes to the IP (``Destination.target``),
  with the ``Host`` header and TLS SNI/certificate checks keeping the name, so a DNS answer that
  changes between check and connect (DNS rebinding) cannot redirect it.

Callers also send without environment proxies (a proxy would connect after the check) and follow
redirects only by checking each hop here again, or not at all, through ``ctibridge.outbound_http``'s
clients: their TLS pools are per server name, so a connection pinned to an IP is reused only for the
name its certificate was checked for (httpcore's own pool is keyed by the URL's host, here the IP).
Errors name the host at most, never the path, query or credentials of a URL.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported on use: the screen pop's module is on the webhook's cold start
    import httpx

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationError(Exception):
    """The guard refuses a URL; ``retryable`` when trying later may help (DNS failures)."""

    retryable = False


class InvalidUrl(DestinationError):
    """Not an absolute http(s) URL."""


class HostUnresolved(DestinationError):
    """The host does not resolve (now)."""

    retryable = True


class HostForbidden(DestinationError):
    """The host resolves to an address that is not public, and the tenant does not allow it."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} resolves to a {reason} address")
        self.host = host
        self.reason = reason  # loopback, link-local, private, multicast, reserved, not-global


# ---------------------------------------------------------------- addresses and hosts


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    return addresses


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be connected to, or None if it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 host: judge the embedded one.
        embedded: IPAddress | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            # The embedded host decides, and the IPv6 form must itself be global: Python 3.13 counts the
            # deprecated 6to4 (2002::/16) and Teredo (2001::/32) prefixes as not globally reachable.
            return forbidden_reason(embedded) or (None if address.is_global else "not-global")
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:  # 169.254.0.0/16 holds the cloud metadata services
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if not address.is_global:  # 100.64.0.0/10 (CGNAT), 192.0.0.0/24, benchmarking ranges...
        return "not-global"
    return None


def host_allowed(host: str, port: int, allowed_hosts: Collection[str]) -> bool:
    """True if ``host`` or ``host:port`` is in a tenant's allow-list (exact names, no wildcards)."""
    name = host.lower().strip("[]")
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if entry == name or entry.strip("[]") == name:
            return True
        entry_host, sep, entry_port = entry.rpartition(":")
        if sep and entry_port.isdigit() and entry_host.strip("[]") == name and int(entry_port) == port:
            return True
    return False


# ---------------------------------------------------------------- URLs


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: httpx.URL  # as given (host name kept)
    host: str
    port: int
    address: str | None  # the checked address the connection is pinned to; None: not checked (allowed)
    allowed_by_tenant: bool

    @property
    def target(self) -> httpx.URL:
        """The URL to send the request to: the pinned address in place of the host name."""
        return self.url if self.address is None else self.url.copy_with(host=self.address)

    @property
    def headers(self) -> dict[str, str]:
        """``Host`` for a pinned request (the name the server expects)."""
        if self.address is None:
            return {}
        default_port = 443 if self.url.scheme == "https" else 80
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != default_port:
            host_header += f":{self.port}"
        return {"Host": host_header}

    @property
    def extensions(self) -> dict[str, object]:
        """httpx request extensions: TLS to the pinned IP, with SNI and certificate checks for the name."""
        if self.address is None or self.url.scheme != "https":
            return {}
        return {"sni_hostname": self.host}


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """``url`` as an absolute http(s) URL with a host; raises :class:`InvalidUrl`."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise InvalidUrl("The URL is malformed.") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidUrl("Only http and https URLs are allowed.")
    if not parsed.host:
        raise InvalidUrl("The URL has no host.")
    return parsed


def _ipv4_first(addresses: list[str]) -> list[str]:
    # Lambda functions outside a VPC have no IPv6 route: connect to an IPv4 address when there is one.
    return sorted(addresses, key=lambda a: ipaddress.ip_address(a).version)


def check(
    url: str | httpx.URL,
    *,
    allowed_hosts: Collection[str] = (),
    allow_private_network: bool = False,
    resolver: Resolver = system_resolver,
) -> Destination:
    """Where ``url`` leads, checked; raises :class:`InvalidUrl`, :class:`HostUnresolved` or
    :class:`HostForbidden` before any byte is sent.

    ``allowed_hosts``: the tenant's exact ``host`` or ``host:port`` entries that may be internal (still
    resolved and pinned). ``allow_private_network``: no address check at all (one CRM endpoint an
    operator marked so); the URL is used as is.
    """
    parsed = parse_url(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if allow_private_network:
        return Destination(url=parsed, host=host, port=port, address=None, allowed_by_tenant=True)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal else resolver(host, port)
    except (OSError, UnicodeError):
        raise HostUnresolved(f"Cannot resolve {host}.") from None
    if not addresses:
        raise HostUnresolved(f"{host} has no address.")
    allowed = host_allowed(host, port, allowed_hosts)
    if not allowed:
        for text in addresses:
            reason = forbidden_reason(ipaddress.ip_address(text))
            if reason:
                raise HostForbidden(host, reason)
    return Destination(
        url=parsed, host=host, port=port, address=_ipv4_first(addresses)[0], allowed_by_tenant=allowed
    )
