"""Screen pop: ask the tenant's CRM who is calling, within a hard time bound.

The tenant's ``crm_lookup_url`` is called as ``GET {url}?phone={phone}`` (``phone`` as the PBX sent
it, plus ``phone_e164`` when known). The CRM answers 200 with a JSON object ``{"name": ..., "url": ...,
"id": ...}`` (all optional; ``{"contact": {...}}`` is accepted too), or 404/204 when it does not know
the number. Anything else, a slow answer, or a body over 16 KB means "unknown": the popup never
waits for the CRM (see ``ctibridge.realtime.call_events``).

The URL is the tenant's configuration, but the request leaves from inside AWS: it goes through
``ctibridge.outbound_guard`` (http(s) only, the host resolved and every address public, the connection
pinned to the checked address, no redirects, no environment proxy). A CRM on a private network (the
customer's LAN over a VPN, the local stack's test CRM on loopback) is reached only if the tenant lists
its host in ``crm_hosts_allowed`` (``ctibridge tenant update --crm-host host[:port]``).
"""

import contextlib
import json
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ctibridge import outbound_guard
from ctibridge.observability import logger
from ctibridge.realtime.messages import Contact

if TYPE_CHECKING:
    import httpx

LOOKUP_TIMEOUT_SECONDS = 0.8
MAX_RESPONSE_BYTES = 16 * 1024

_client: "httpx.Client | None" = None
_client_lock = threading.Lock()


def _http() -> "httpx.Client":
    # One pooled client per container: keep-alive to the CRM saves a TLS handshake per call. httpx is
    # imported here, not at module level: most tenants have no CRM lookup, and cold starts pay imports.
    import httpx

    from ctibridge import outbound_http

    global _client
    with _client_lock:
        if _client is None:
            # No redirects (one could lead anywhere; the tenant configures the URL), no environment
            # proxy (it would connect after the address check): outbound_http's defaults.
            _client = outbound_http.client(
                timeout=httpx.Timeout(LOOKUP_TIMEOUT_SECONDS),  # each lookup passes its own
                headers={"Accept": "application/json", "User-Agent": "ctibridge-screen-pop/1"},
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
        return _client


def _resolve(host: str, port: int) -> list[str]:
    """The addresses of the CRM's host (tests replace this: they have no DNS)."""
    return outbound_guard.system_resolver(host, port)


def lookup(
    url: str,
    phone: str,
    phone_e164: str | None = None,
    *,
    allowed_hosts: Collection[str] = (),
    timeout: float = LOOKUP_TIMEOUT_SECONDS,
) -> Contact | None:
    """The CRM's contact for ``phone``, or None (unknown number, CRM slow, failing or malformed, or
    its URL refused by the address guard: pass the tenant's ``crm_hosts_allowed`` as ``allowed_hosts``).

    ``timeout`` bounds each phase (connect, each read); callers that need a bound on the total wait
    for the result with their own deadline (``Future.result(timeout=...)``).
    """
    try:
        destination = outbound_guard.check(url, allowed_hosts=allowed_hosts, resolver=_resolve)
    except outbound_guard.DestinationError as error:
        # The reason and the host at most: never the URL's path or query (they may carry a key).
        reason = error.reason if isinstance(error, outbound_guard.HostForbidden) else type(error).__name__
        logger.warning("crm lookup url refused", extra={"reason": reason})
        return None
    import httpx

    params = {"phone": phone, **({"phone_e164": phone_e164} if phone_e164 else {})}
    client = _http()
    request = client.build_request(
        "GET",
        # Merged here: httpx's ``params=`` would replace the URL's own query (a CRM's key, say).
        destination.target.copy_merge_params(params),
        headers=destination.headers,
        extensions=destination.extensions,
        timeout=httpx.Timeout(timeout),
    )
    try:
        with contextlib.closing(client.send(request, stream=True)) as response:
            if response.status_code in (204, 404):
                return None
            if response.status_code != 200:
                logger.info("crm lookup failed", extra={"status": response.status_code})
                return None
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    logger.info("crm lookup failed", extra={"reason": "too large"})
                    return None
    except httpx.HTTPError as error:
        logger.info("crm lookup failed", extra={"reason": type(error).__name__})
        return None
    return _parse(body)


def _parse(body: bytes) -> Contact | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        logger.info("crm lookup failed", extra={"reason": "not json"})
        return None
    if isinstance(data, dict) and isinstance(data.get("contact"), dict):
        data = data["contact"]
    if not isinstance(data, dict):
        return None
    try:
        contact = Contact.model_validate(data)
    except ValidationError:
        logger.info("crm lookup failed", extra={"reason": "invalid contact"})
        return None
    return contact if (contact.name or contact.url or contact.id) else None
