"""Login tokens built byte for byte as the seeds' PHP demo builds them (firebase/php-jwt).

login.php does ``JWT::encode(array("ipphone" => ..., "expired" => "Y-m-d H:i:s"), $key)``: header
``{"typ":"JWT","alg":"HS256"}`` (that key order), compact JSON, base64url without padding, HMAC-SHA256.
Written out here rather than with PyJWT so the tests do not trust the library the server uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def php_json(value: Any) -> str:
    # PHP's json_encode: compact, and "/" escaped as "\/".
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def signed_token(
    header: dict[str, Any], payload: dict[str, Any], key: bytes | str, digest: Any = hashlib.sha256
) -> str:
    key_bytes = key.encode() if isinstance(key, str) else key
    signing_input = f"{b64url(php_json(header).encode())}.{b64url(php_json(payload).encode())}"
    signature = hmac.new(key_bytes, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def php_demo_token(key: str, ipphone: str, expired: str | None) -> str:
    payload: dict[str, Any] = {"ipphone": ipphone}
    if expired is not None:
        payload["expired"] = expired
    return signed_token({"typ": "JWT", "alg": "HS256"}, payload, key)


def local_time(delta: timedelta, zone: ZoneInfo = VIETNAM) -> str:
    """'Y-m-d H:i:s' in ``zone``, ``delta`` from now (what PHP's date() would print there)."""
    return (datetime.now(zone) + delta).strftime("%Y-%m-%d %H:%M:%S")
