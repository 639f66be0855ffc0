"""Where a delivery may connect: public addresses only, unless the endpoint allows private networks.

A CRM URL is configured per tenant, but the worker runs inside AWS: without a check, a URL (or a DNS
name that later resolves) to loopback would reach the Lambda runtime API on 127.0.0.1, and private or
link-local ranges would reach whatever the network holds. So every request goes through
``ctibridge.outbound_guard`` (the same rules as recordings and the screen pop): the host resolved once,
every address public, the connection pinned to the checked address.

``CrmEndpoint.allow_private_network`` lifts the check for one endpoint: a CRM on the customer's LAN
behind a VPN, or the local stack's test CRM on loopback. It is configuration, set by an operator
(``ctibridge crm endpoint add --allow-private-network``); nothing in the code treats loopback specially.
"""

from __future__ import annotations

from ctibridge import outbound_guard
from ctibridge.outbound_guard import Destination, Resolver, system_resolver


class DestinationError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def resolve(url: str, *, allow_private_network: bool, resolver: Resolver = system_resolver) -> Destination:
    """The destination of ``url`` (send to ``.target`` with ``.headers`` and ``.extensions``); raises
    :class:`DestinationError` if it may not be reached.
    """
    try:
        return outbound_guard.check(url, allow_private_network=allow_private_network, resolver=resolver)
    except outbound_guard.InvalidUrl:
        raise DestinationError(
            "ENDPOINT_URL_INVALID", "Only absolute http(s) URLs are delivered to.", retryable=False
        ) from None
    except outbound_guard.HostUnresolved as error:
        raise DestinationError("DNS_FAILED", str(error), retryable=True) from None
    except outbound_guard.HostForbidden as error:
        raise DestinationError(
            "DESTINATION_FORBIDDEN",
            f"{error}; allow private networks for the endpoint to use it.",
            retryable=False,
        ) from None
