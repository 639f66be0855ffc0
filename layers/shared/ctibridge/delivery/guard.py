"""Where a delivery may connect: public addresses only, unless the endpoint allows private networks.

A CRM URL is configured per tenant, but the worker runs inside AWS: without a check, a URL (or a DNS
name that later resolves) to loopback would reach the Lambda runtime API on 127.0.0.1, and private or
link-local ranges would reach whatever the network holds. So the host is resolved once, every
address must be public (the recording fetcher's rules, ``recordings.fetch.forbidden_reason``), and the
connection is pinned to the checked address (``Host`` and TLS SNI keep the name), so a DNS answer that
changes between check and connect cannot redirect us.

``CrmEndpoint.allow_private_network`` lifts the check for one endpoint: a CRM on the customer's LAN
behind a VPN, or the local stack's test CRM on loopback. It is configuration, set by an operator
(``ctibridge crm endpoint add --allow-private-network``); nothing in the code treats loopback specially.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import httpx

from ctibridge.recordings.fetch import Resolver, forbidden_reason, system_resolver


class DestinationError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class Destination:
    url: httpx.URL  # what to connect to (the checked address when pinned)
    headers: dict[str, str] = field(default_factory=dict)  # Host, when pinned
    extensions: dict[str, object] = field(default_factory=dict)  # TLS SNI, when pinned


def _ipv4_first(addresses: list[str]) -> list[str]:
    # Lambda functions outside a VPC have no IPv6 route: try an IPv4 address first.
    return sorted(addresses, key=lambda a: ipaddress.ip_address(a).version)


def resolve(url: str, *, allow_private_network: bool, resolver: Resolver = system_resolver) -> Destination:
    """The destination of ``url``; raises :class:`DestinationError` if it may not be reached."""
    target = httpx.URL(url)
    host = target.host
    if target.scheme not in ("http", "https") or not host:
        raise DestinationError(
            "ENDPOINT_URL_INVALID", "Only absolute http(s) URLs are delivered to.", retryable=False
        )
    if allow_private_network:
        return Destination(url=target)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal else resolver(host, port)
    except (OSError, UnicodeError):
        raise DestinationError("DNS_FAILED", f"Cannot resolve {host}.", retryable=True) from None
    if not addresses:
        raise DestinationError("DNS_FAILED", f"{host} has no address.", retryable=True)
    for address in addresses:
        reason = forbidden_reason(ipaddress.ip_address(address))
        if reason:
            raise DestinationError(
                "DESTINATION_FORBIDDEN",
                f"{host} resolves to a {reason} address; allow private networks for the endpoint to use it.",
                retryable=False,
            )
    address = _ipv4_first(addresses)[0]
    default_port = 443 if target.scheme == "https" else 80
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    extensions: dict[str, object] = {"sni_hostname": host} if target.scheme == "https" else {}
    return Destination(
        url=target.copy_with(host=address), headers={"Host": host_header}, extensions=extensions
    )
