"""Per-invocation isolation of Powertools' event-handler state, for the local stack only.

Lambda runs one invocation at a time per process. The local stack runs many at once, on threads of one
process, and Powertools' resolvers keep the request they handle in shared places:

* ``BaseRouter.current_event`` and ``BaseRouter.lambda_context`` are *class* attributes (shared by every
  resolver of every function, so routers can see them);
* ``resolver.context`` (the matched route, its path parameters) is an attribute of the module-level
  resolver, shared by every invocation of that function.

Two concurrent requests then read each other's event: a webhook could store another request's fields,
an API call could answer with another tenant's path parameters. :func:`install` turns those three
attributes into per-thread values (each local invocation runs on one thread from start to end), which
is what a Lambda process gives each invocation. Nothing of this is deployed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_state = threading.local()
_installed = False


def _values() -> dict[Any, Any]:
    values: dict[Any, Any] | None = getattr(_state, "values", None)
    if values is None:
        values = _state.values = {}
    return values


class _PerThread:
    """A data descriptor whose value is per thread (and per instance when ``per_instance``)."""

    def __init__(self, name: str, *, per_instance: bool = False, default: Callable[[], Any] | None = None):
        self.name = name
        self.per_instance = per_instance
        self.default = default

    def _key(self, obj: Any) -> Any:
        return (id(obj), self.name) if self.per_instance else self.name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if self.per_instance and obj is None:
            return self
        values = _values()
        key = self._key(obj)
        if key not in values:
            if self.default is None:
                raise AttributeError(self.name)
            values[key] = self.default()
        return values[key]

    def __set__(self, obj: Any, value: Any) -> None:
        _values()[self._key(obj)] = value


def install() -> None:
    """Make Powertools' per-request resolver state per thread in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from aws_lambda_powertools.event_handler import api_gateway

    base = api_gateway.BaseRouter
    shared = ("current_event", "lambda_context")
    # Reads through instances (self.current_event) find these in the class dictionary...
    for name in shared:
        type.__setattr__(base, name, _PerThread(name))
    type.__setattr__(base, "context", _PerThread("context", per_instance=True, default=dict))

    # ...and Powertools' writes to the class (BaseRouter.current_event = ...) go through the metaclass.
    class _PerThreadMeta(type(base)):  # type: ignore[misc]
        current_event = _PerThread("current_event")
        lambda_context = _PerThread("lambda_context")

    base.__class__ = _PerThreadMeta  # type: ignore[method-assign]
    _installed = True
