"""Short garbage-collector pauses for the local stack's long-running processes (moto, the gateway).

CPython's cyclic collector stops every thread while it walks the objects it tracks. A full collection
walks all of them: in the gateway, botocore's service models and every handler's imports; in moto,
every item of every table. Measured under ``bench/popup_latency`` they took 75-240 ms each, the whole
tail of a ring popup's latency. Objects that survived a full collection are long-lived (modules, models,
stored items), so they are moved out of the collector's reach (``gc.freeze``): the next full collection
walks only what was created since. Reference counting still frees them when they are dropped; only a
frozen object that later becomes part of an unreachable cycle stays in memory, a small price for a
development server.

Local only: a Lambda process lives minutes and its collections are the runtime's business.
"""

from __future__ import annotations

import gc
from typing import Any

_FULL = 2  # the oldest generation


def _freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == _FULL:
        gc.freeze()


def keep_pauses_short() -> None:
    """Freeze what is alive now and after every full collection (idempotent)."""
    gc.collect()
    gc.freeze()
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)
