"""Failed-login throttling per domain + ipphone + source address: a counter item per fixed window,
expired by TTL.

``check`` (one GetItem) runs before a login is verified; ``record_failure`` (one UpdateItem) after a
token is refused. After ``LOGIN_MAX_FAILURES`` failures in a window, further attempts from that address
for that agent answer 429 until the window ends, whatever the token, so guessing an access key online
from one address is hopeless.

The ipphone comes from the token's unverified payload (it is all we know before verifying), so keyed on
it alone anyone could lock any extension out, window after window: a denial of service on a call
center's logins. With the source address in the key, bad tokens lock out only the address that sent
them; the agent logging in from elsewhere is not affected. The address is the agent's also through
the webphone's CloudFront host (``ctibridge.client_address``), not the edge's. Guessing from many
addresses at once is bounded by the API's throttling and by the access key's length, which the tenant
chooses.
"""

import re
import time
from typing import Any

from ctibridge import aws, keys
from ctibridge.errors import TooManyAttempts
from ctibridge.settings import get_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _plain(value: str | None) -> str:
    # Attacker-controlled: keep the key short and plain.
    return _UNSAFE.sub("_", value)[:45] if value else "-"


def _subject(ipphone: str | None, source_ip: str | None) -> str:
    return f"{_plain(ipphone)[:32]}@{_plain(source_ip)}"


def _table() -> Any:
    return aws.table(get_settings().table_name)


def _window(now: float) -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    length = get_settings().login_failure_window_seconds
    number = int(now // length)
    return number, int((number + 1) * length - now) + 1


def check(domain: str, ipphone: str | None, source_ip: str | None) -> None:
    """Raise ``TooManyAttempts`` (429, with Retry-After) while this agent is locked out for this address."""
    settings = get_settings()
    window, remaining = _window(time.time())
    key = keys.login_failures(domain, _subject(ipphone, source_ip), window)
    item = _table().get_item(Key=key).get("Item")
    if item and int(item.get("failures", 0)) >= settings.login_max_failures:
        raise TooManyAttempts(headers={"Retry-After": str(remaining)})


def record_failure(domain: str, ipphone: str | None, source_ip: str | None) -> int:
    """Count one failed login; answers the failures of the current window so far."""
    now = time.time()
    window, remaining = _window(now)
    result = _table().update_item(
        Key=keys.login_failures(domain, _subject(ipphone, source_ip), window),
        UpdateExpression="ADD failures :one SET expires_at = if_not_exists(expires_at, :expires)",
        ExpressionAttributeValues={":one": 1, ":expires": int(now) + remaining},
        ReturnValues="UPDATED_NEW",
    )
    return int(result["Attributes"]["failures"])
