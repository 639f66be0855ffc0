"""Screen pop: ask the tenant's CRM who is calling, within a hard time bound.

The tenant's ``crm_lookup_url`` is called as ``GET {url}?phone={phone}`` (``phone`` as the PBX sent
it, plus ``phone_e164`` when known). The CRM answers 200 with a JSON object ``{"name": ..., "url": ...,
"id": ...}`` (all optional; ``{"contact": {...}}`` is accepted too), or 404/204 when it does not know
the number. Anything else, a slow answer, or a body over 16 KB means "unknown": the popup never
waits for the CRM (see ``ctibridge.realtime.call_events``).
"""

import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

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

    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False,  # a redirect could lead anywhere; the tenant configures the URL
                headers={"Accept": "application/json", "User-Agent": "ctibridge-screen-pop/1"},
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
        return _client


def valid_lookup_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def lookup(
    url: str, phone: str, phone_e164: str | None = None, *, timeout: float = LOOKUP_TIMEOUT_SECONDS
) -> Contact | None:
    """The CRM's contact for ``phone``, or None (unknown number, CRM slow, failing or malformed).

    ``timeout`` bounds each phase (connect, each read); callers that need a bound on the total wait
    for the result with their own deadline (``Future.result(timeout=...)``).
    """
    if not valid_lookup_url(url):
        logger.warning("crm lookup url refused", extra={"reason": "scheme"})
        return None
    import httpx

    params = {"phone": phone, **({"phone_e164": phone_e164} if phone_e164 else {})}
    try:
        with _http().stream("GET", url, params=params, timeout=httpx.Timeout(timeout)) as response:
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
