"""Runtime settings, read once from the function's environment (set by template.yaml)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict

from ctibridge.model import Model

# Values given by a process that is not a function (see ``overridden``); empty in every Lambda.
_overrides: dict[str, Any] = {}


class Settings(Model):
    """Every setting a function may need; each function's template entry sets the ones it uses.

    Plain pydantic over ``os.environ`` rather than pydantic-settings: the latter costs ~300 ms of
    import time on a cold start, for nothing we use.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    table_name: str
    recordings_bucket: str | None = None
    recording_queue_url: str | None = None
    delivery_queue_url: str | None = None
    # Agents' call state, queued by the webhook (realtime.call_state_jobs).
    call_state_queue_url: str | None = None
    websocket_callback_url: str | None = None
    # --- PBX webhooks, call logs and recordings (issue 5)
    webhook_max_body_bytes: int = 64 * 1024  # larger webhook bodies answer 413 before any parsing
    recording_max_bytes: int = 200 * 1024 * 1024  # ~3.6 h of 8 kHz 16-bit mono WAV
    recording_fetch_timeout_seconds: float = 60.0  # whole download, all redirects included
    recording_max_redirects: int = 3
    recording_retry_base_seconds: int = 30  # backoff: base * 2**(attempt-1), capped below
    recording_retry_max_seconds: int = 900
    recording_url_ttl_seconds: int = 300  # lifetime of presigned recording URLs given to the CRM
    # --- tenants, agent login and sessions (issue 4)
    realtime_ws_url: str | None = None  # wss:// URL the webphone opens with ?token=<session token>
    # In-process tenant cache: bounds how late a change of what decides access (status, expiry, API keys,
    # callout prefixes, allowed origins, CRM endpoints at enqueue) is seen. README "Changes take effect".
    tenant_cache_ttl_seconds: int = 5
    # Powertools parameters cache of the tenants' secrets; a request that finds what it needs missing or
    # wrong in the cached copy re-reads once (tenants.secrets.reread_secrets), so rotations and new
    # endpoints work at once; this TTL only bounds how long a replaced value still works.
    secrets_cache_ttl_seconds: int = 300
    jwt_leeway_seconds: int = 30  # clock skew tolerated between the CRM and us
    login_token_default_lifetime_seconds: int = 86400  # seed token without "expired": iat + this
    session_ttl_seconds: int = 3600  # lifetime of user.token; the webphone refreshes before the end
    session_max_lifetime_seconds: int = 12 * 3600  # refreshing cannot extend a login beyond this
    login_max_failures: int = 5  # failed logins per domain+ipphone and window, then 429
    login_failure_window_seconds: int = 300
    # The per-stack value CloudFront sends the API origin (template OriginVerifySecret): a request that
    # carries it came through our distribution, so its viewer address header is the agent's
    # (ctibridge.client_address).
    origin_verify_secret_arn: str | None = None
    minted_token_max_ttl_seconds: int = 86400  # POST /v1/tokens upper bound for ttl_seconds
    # --- call events forwarded to the CRM (issue 10)
    delivery_dead_letter_queue_url: str | None = None  # the worker moves events there after the window
    delivery_connect_timeout_seconds: float = 3.0
    delivery_read_timeout_seconds: float = 10.0
    delivery_retry_base_seconds: int = 30  # backoff ceiling base * 2**(n-1), half of it random
    delivery_retry_max_seconds: int = 6 * 3600  # per step; SQS visibility allows at most 12 h
    delivery_retry_window_seconds: int = 24 * 3600  # retried at least this long, then the DLQ
    delivery_record_ttl_days: int = 30  # delivery attempts and states expire (table TTL)
    delivery_recording_url_ttl_seconds: int = 3600  # presigned URL in recording.ready

    @classmethod
    def from_environ(cls) -> "Settings":
        wanted = {name.upper(): name for name in cls.model_fields}
        environ = {wanted[k]: v for k, v in os.environ.items() if k in wanted}
        return cls.model_validate({**environ, **_overrides})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process; validated on first use, not at import (no import-time I/O)."""
    return Settings.from_environ()


@contextmanager
def overridden(**values: Any) -> Iterator[Settings]:
    """Within the block, ``values`` win over the environment (and are validated the same way).

    For the operators' CLI, whose table, stage and WebSocket endpoint come from its options, when it
    runs shared code written for functions (closing the tabs of revoked sessions). Functions never use it.
    """
    previous = dict(_overrides)
    _overrides.update(values)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        _overrides.clear()
        _overrides.update(previous)
        get_settings.cache_clear()
