"""boto3 clients and resources, created once per process (per thread for resources).

Endpoints come from the standard AWS_ENDPOINT_URL variables, so the same code talks to AWS, to the
local stack's moto server, or to a moto mock in tests without a branch here.
"""

import threading
from functools import cache, lru_cache
from typing import Any

_local = threading.local()
# botocore sessions are not thread-safe while they create clients; what they load is shared.
_creating = threading.Lock()


@lru_cache(maxsize=1)
def _session() -> tuple[Any, Any]:
    # boto3 is imported on first use, not at import: handlers that answer without AWS (health, a
    # refused request) keep a cold start free of its ~0.3-0.5 s import.
    import boto3
    import botocore.session
    from botocore.config import Config

    # Short timeouts and one retry: a webhook must answer the PBX well within its own timeout (often
    # 5 s) and the function's (6 s), even when AWS fails; a 503 then makes the PBX retry, which is the
    # retry that matters. (botocore's max_attempts counts retries: 3 meant four tries and ~7 s of backoff.)
    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})
    # One botocore session for every client and resource: its service models and credentials are
    # loaded once, so a new thread's resource costs microseconds, not a fresh session's ~50 ms.
    return boto3.session.Session(botocore_session=botocore.session.get_session()), config


@cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    """A thread-safe boto3 client for ``service``, cached for the life of the process."""
    session, config = _session()
    with _creating:
        return session.client(service, endpoint_url=endpoint_url, config=config)


def dedicated_client(service: str, endpoint_url: str | None = None, **config: Any) -> Any:
    """A client with its own botocore ``Config(**config)`` (e.g. a connection pool sized for a
    fan-out), where the shared timeouts don't fit; the caller caches it. It shares the one session:
    a session of its own would load the service models and endpoint rules again (cold start)."""
    from botocore.config import Config

    session, _ = _session()
    with _creating:
        return session.client(service, endpoint_url=endpoint_url, config=Config(**config))


def table(name: str) -> Any:
    """The DynamoDB Table resource ``name``; resources are not thread-safe, so one per thread."""
    tables: dict[str, Any] = getattr(_local, "tables", None) or {}
    if name not in tables:
        session, config = _session()
        with _creating:
            resource = session.resource("dynamodb", config=config)
        tables[name] = resource.Table(name)
        _local.tables = tables
    return tables[name]


def reset() -> None:
    """Forget cached clients and the session itself (tests switch endpoints between cases)."""
    global _local
    client.cache_clear()
    _session.cache_clear()
    _local = threading.local()


def forget_credentials() -> None:
    """Forget every client, resource and credential, but keep the session and the models it loaded.

    For SnapStart (``ctibridge.snapstart``): a restored environment gets new credentials and must open
    its own connections, so no client (its credentials, its connection pool) may survive the snapshot.
    What the session has parsed (endpoints.json, each service's model and endpoint ruleset, boto3's
    resource model) is plain data, the same in every environment: keeping it is the point of priming,
    since the first client of a fresh session costs ~70 ms (DynamoDB) and each further one ~5 ms, against
    ~3-5 ms per client on a loaded session. A new session would also cost ~12 ms to create (its handlers
    and config), hence this, not ``reset()``.
    """
    global _local
    client.cache_clear()
    _local = threading.local()  # every thread's Table resources (and their clients)
    if _session.cache_info().currsize:
        botocore_session = _session()[0]._session
        # botocore caches the resolved credentials on the session (no public way to drop them) and the
        # resolver may hold fetchers with their own connections (container credentials, which a
        # SnapStart environment uses): both are made anew when the next client is created.
        botocore_session._credentials = None
        botocore_session._auth_token = None
        botocore_session.lazy_register_component(
            "credential_provider", botocore_session._create_credential_resolver
        )
        botocore_session.lazy_register_component("token_provider", botocore_session._create_token_resolver)
