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

``install()`` registers ``before_snapshot`` (import what the first event needs, so a restore pays for
no import, then forget anything created) and ``after_restore`` (forget again and reseed) with AWS's
``snapshot_restore_py``, which the managed runtime provides. Without SnapStart the hooks never run.
"""

import random
import sys
from typing import Any

from ctibridge import aws, lazy

_installed = False


def _warm() -> None:
    # Modules only: no client, no credential, no connection is created here.
    import boto3  # noqa: F401
    import botocore.config  # noqa: F401

    lazy.parameters()
    lazy.Key("PK")


def _close_http(module_name: str) -> None:
    module: Any = sys.modules.get(module_name)
    client = getattr(module, "_client", None) if module is not None else None
    if client is not None:
        client.close()
        module._client = None


def forget() -> None:
    """Drop every client, connection pool and cache that holds credentials, secrets or tenant data."""
    aws.reset()
    parameters: Any = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()  # drops the providers too: their clients hold credentials
    push = sys.modules.get("ctibridge.push")
    if push is not None:
        push._client.cache_clear()
    repository = sys.modules.get("ctibridge.tenants.repository")
    if repository is not None:
        repository.clear_cache()
    store = sys.modules.get("ctibridge.recordings.store")
    if store is not None:
        store.reset()
    for name in ("ctibridge.delivery.worker", "ctibridge.realtime.screen_pop"):
        _close_http(name)


def before_snapshot() -> None:
    _warm()
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
