"""The PBX's secret, wherever the PBX puts it, compared in constant time.

Seed 004 sends ``?secret=`` and allows "API Key, Bearer Token, Basic Auth". We look, in this order, at
the ``secret`` parameter (query or body), ``X-Api-Key``, ``Authorization: Bearer <secret>`` and the
password of ``Authorization: Basic`` (the user name is ignored: PBXs put the customer code or
anything there). The first one present is the one checked: trying every candidate would give a client
several guesses per request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from ctibridge.errors import Unauthorized
from ctibridge.request_fields import header

SECRET_PARAM = "secret"
MAX_SECRET_CHARS = 512


class WebhookSecretInvalid(Unauthorized):
    code = "SECRET_INVALID"
    message = "The secret is missing or wrong."


def presented_secret(params: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The secret the request presents, or None if it presents none."""
    value = params.get(SECRET_PARAM)
    if isinstance(value, str) and value:
        return value
    api_key = header(headers, "x-api-key")
    if api_key:
        return api_key.strip()
    authorization = (header(headers, "authorization") or "").strip()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic" and credentials.strip():
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return password or user or None
    return None


def verify(presented: str | None, expected: SecretStr) -> None:
    """Raise ``WebhookSecretInvalid`` (401) unless ``presented`` equals the tenant's PBX secret."""
    if not presented or len(presented) > MAX_SECRET_CHARS:
        raise WebhookSecretInvalid()
    # compare_digest on bytes: constant time in the length of the presented value, whatever matches.
    if not hmac.compare_digest(presented.encode("utf-8"), expected.get_secret_value().encode("utf-8")):
        raise WebhookSecretInvalid()
