"""Standard Webhooks signatures (https://www.standardwebhooks.com), as Svix and Stripe-like platforms do.

Every ``json`` delivery carries three headers:

* ``webhook-id``: the event id (stable across retries: the CRM dedupes on it);
* ``webhook-timestamp``: Unix seconds of this attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, space-separated if
  there are several (a rotation signs with the old and the new secret).

The secret is ``whsec_`` + base64 of random bytes; the HMAC key is the decoded bytes, so the official
Standard Webhooks libraries verify our requests unchanged. :func:`verify` is what a CRM runs (the
README's Python and PHP verifiers mirror it): constant-time comparison and a timestamp tolerance
against replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 5 * 60
SIGNATURE_VERSION = "v1"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class SignatureError(Exception):
    """A request that does not verify; ``code`` says why (never which byte differed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def generate_secret() -> str:
    """A new signing secret: 32 random bytes, ``whsec_``-prefixed base64."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret`` (``whsec_`` prefix optional); ValueError if it is not base64."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("a signing secret must hold at least 16 bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: signature(secret, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a request's signature; answers its ``webhook-id``, raises :class:`SignatureError` otherwise.

    ``body`` must be the raw bytes received: re-serialized JSON would not verify.
    """
    msg_id = _header(headers, HEADER_ID)
    stamp = _header(headers, HEADER_TIMESTAMP)
    signatures = _header(headers, HEADER_SIGNATURE)
    if not msg_id or not stamp or not signatures:
        raise SignatureError(
            "MISSING_HEADERS", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("INVALID_TIMESTAMP", "webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError("TIMESTAMP_OUT_OF_TOLERANCE", "the request is too old or from the future")
    expected = signature(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        version, _, _ = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise SignatureError("SIGNATURE_MISMATCH", "no signature matches")
