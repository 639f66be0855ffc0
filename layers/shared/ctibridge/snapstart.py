"""Lambda SnapStart runtime hooks: nothing unique or expiring survives a restore.

With SnapStart (template parameter ``SnapStart``), Lambda runs a function's init once per published
version, snapshots its memory and restores that snapshot for every cold start, in as many execution
environments as needed, hours or days later. So whatever init (or a warm-up) left in memory is shared by
all of them and may be stale:

- credentials and the boto3 clients holding them (Lambda gives a restored environment new ones), and
  their open connections; the same for httpx pools (CRM delivery, screen pops);
- cached secrets (Powertools parameters, with their providers' clients) and tenant lookups;
- the ``random`` module's state: seeded once at import, it would repeat in every restored copy
  (``secrets`` and ``uuid4`` read the OS and need nothing).

``install()`` registers ``before_snapshot`` and ``after_restore`` with AWS's ``snapshot_restore_py``,
which the managed runtime provides. Without SnapStart the hooks never run.

``before_snapshot`` primes (AWS's SnapStart advice: do the expensive loading in init, so the snapshot
holds it). It creates the boto3 clients and the DynamoDB resource of the services the latency-critical
functions call, once, so that botocore's session parses endpoints.json and each service's model and
endpoint ruleset into memory (~70 ms for the first DynamoDB client of a fresh session); imports what
the first event imports lazily (phonenumbers and its metadata, PyJWT's, httpx: modules, never a client or
an SSL context); and builds every loaded pydantic model of ctibridge still unbuilt (``ctibridge.model.Model``
defers the build to first use). Then it forgets every client, credential, connection, secret and
tenant lookup, keeping only that parsed data (``aws.forget_credentials``). ``after_restore`` forgets
again and reseeds.
"""

import importlib
import random
import sys
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from ctibridge import aws, lazy

_installed = False


# What the latency-critical functions call first (tenant lookups, sessions and calls in DynamoDB, the
# tenant's secrets, the call-state and delivery queues, the popup's @connections posts). A client of a
# service the function never calls costs its init a few ms and its snapshot the parsed model, no more.
PRIMED_SERVICES = ("dynamodb", "secretsmanager", "sqs", "apigatewaymanagementapi")
# A Table resource needs a name, never used: the resource model and classes are what is loaded.
_PRIMING_TABLE = "snapstart-priming"


def _prime_aws() -> None:
    # Creating a client loads its service model, endpoint ruleset and endpoints.json into the shared
    # session. No request is made, so no connection is opened; the credentials botocore resolves for
    # the clients (init's) are dropped with them by forget().
    import botocore.config  # noqa: F401

    for service in PRIMED_SERVICES:
        aws.client(service)
    aws.table(_PRIMING_TABLE)  # boto3's DynamoDB resource model (ctibridge.aws.table)
    lazy.parameters()  # Powertools' parameters, its Secrets Manager provider on the shared session
    lazy.Key("PK")  # boto3.dynamodb.conditions
    lazy.TypeSerializer().serialize("")  # boto3.dynamodb.types
    lazy.TypeDeserializer().deserialize({"S": ""})


# Modules a first event imports lazily (kept off the cold start's import), by the module that imports
# them: imported before the snapshot when that module is loaded. Modules only: no client, no SSL context
# (outbound_http makes TLS on first use).
_HTTPX = ("httpx", "httpcore", "h11", "ctibridge.outbound_http")
_LAZY_IMPORTS: dict[str, tuple[str, ...]] = {
    "ctibridge.click2call.pbx_client": _HTTPX,
    "ctibridge.realtime.screen_pop": _HTTPX,
    "ctibridge.delivery.worker": _HTTPX,
    # PyJWT's __init__ is deferred (ctibridge.deferred_package): decode/encode load these on first use.
    "ctibridge.auth.crm_jwt": ("jwt.api_jwt", "jwt.exceptions", "jwt.warnings"),
    # The MIME parser, for the first multipart form (the vendors' login.php, a PHP PBX's curl array).
    "ctibridge.request_fields": ("email.parser", "email.policy"),
}


def _prime_modules() -> None:
    """Import what the first event would import lazily, when the handler's modules would."""
    import encodings.idna  # noqa: F401  (the first HTTP request encodes its host name: botocore's too)

    phones: Any = sys.modules.get("ctibridge.phones")
    if phones is not None:
        # phonenumbers and the default region's metadata, loaded by its first parse (~90 ms here);
        # the number is a fixed example, and the cache is emptied so the snapshot holds no caller.
        phones.normalize("0901234567")
        phones.normalize.cache_clear()
    for user, modules in _LAZY_IMPORTS.items():
        if user in sys.modules:
            for name in modules:
                importlib.import_module(name)


def _subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def unbuilt_models() -> list[type[BaseModel]]:
    """ctibridge's loaded pydantic models whose schema is not built yet (``defer_build``)."""
    return [
        model
        for model in dict.fromkeys(_subclasses(BaseModel))  # a model may be reached twice (diamonds)
        if model.__module__.split(".")[0] == "ctibridge" and not model.__pydantic_complete__
    ]


def build_models() -> None:
    """Build every loaded ctibridge model still unbuilt, so the first event after a restore builds none.

    A model whose annotations cannot be resolved yet stays unbuilt (raise_errors=False) rather than fail
    the snapshot, and then builds on first use as without SnapStart; a unit test checks none is left.
    """
    for model in unbuilt_models():
        model.model_rebuild(raise_errors=False)


def _close_http(module_name: str) -> None:
    module: Any = sys.modules.get(module_name)
    client = getattr(module, "_client", None) if module is not None else None
    if client is not None:
        client.close()
        module._client = None


def forget() -> None:
    """Drop every client, connection pool and cache that holds credentials, secrets or tenant data;
    keep boto3's session with the service models it parsed (``aws.forget_credentials``)."""
    aws.forget_credentials()
    parameters: Any = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()  # drops the providers too: their clients hold credentials
    push = sys.modules.get("ctibridge.push")
    if push is not None:
        push._client.cache_clear()
    repository = sys.modules.get("ctibridge.tenants.repository")
    if repository is not None:
        repository.clear_cache()
    secrets: Any = sys.modules.get("ctibridge.tenants.secrets")
    if secrets is not None:
        secrets.forget_rereads()  # monotonic times of the snapshot's clock, per tenant
    store = sys.modules.get("ctibridge.recordings.store")
    if store is not None:
        store.reset()
    for name in ("ctibridge.delivery.worker", "ctibridge.realtime.screen_pop"):
        _close_http(name)


def before_snapshot() -> None:
    """Prime (load what the first event needs), then forget anything unique or expiring."""
    _prime_aws()
    _prime_modules()
    build_models()
    forget()


def after_restore() -> None:
    forget()
    random.seed()  # from os.urandom: each restored environment draws its own sequence


def install() -> None:
    """Register the hooks once per process (a handler module calls this at import)."""
    global _installed
    if _installed:
        return
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not a Lambda runtime (the local stack without it): there is no snapshot
        return
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    _installed = True
