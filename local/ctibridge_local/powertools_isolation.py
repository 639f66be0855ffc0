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
is what a Lambda process gives each invocation.

The Powertools *logger* has the same problem: its formatter keeps the keys of every line (the function
name and request id appended by ``inject_lambda_context``, the tenant, the callid) in one dict shared by
every function of the process, so a line of one invocation could carry another's function name. Its
``log_format`` becomes per thread too, reset to the keys set at import time when an invocation begins
(:func:`begin_invocation`, with the invoked function's name), and handed to the threads an invocation
starts through a ``ThreadPoolExecutor`` (the popup fan-out, the CRM lookups), whose lines are then that
invocation's. Nothing of this is deployed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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


_FORMAT = "log_format"
_BASE = "_ctibridge_base_log_format"
_formatters: weakref.WeakSet[Any] = weakref.WeakSet()


class _PerInvocationFormat:
    """``LambdaPowertoolsFormatter.log_format``: the keys of every log line, per thread.

    The first value a formatter gets (at its creation, at import time) and what is appended to it before
    any invocation is its *base*; each thread starts from a copy of the base.
    """

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        values = _values()
        key = (id(obj), _FORMAT)
        if key not in values:
            values[key] = dict(self._base(obj))
        return values[key]

    def __set__(self, obj: Any, value: Any) -> None:
        _formatters.add(obj)
        if _BASE not in obj.__dict__:
            obj.__dict__[_BASE] = value  # same dict object: import-time append_keys land in the base
        _values()[(id(obj), _FORMAT)] = value

    @staticmethod
    def _base(obj: Any) -> dict[str, Any]:
        _formatters.add(obj)
        if _BASE not in obj.__dict__:
            # A formatter created before install(): its own dict is the base.
            obj.__dict__[_BASE] = obj.__dict__.get(_FORMAT) or {}
        base: dict[str, Any] = obj.__dict__[_BASE]
        return base


def begin_invocation(function_name: str) -> None:
    """This thread starts an invocation of ``function_name``: its log keys are the base's, plus the name
    (``inject_lambda_context`` then adds the request's own keys, as on Lambda)."""
    values = _values()
    for formatter in list(_formatters):
        values[(id(formatter), _FORMAT)] = {
            **_PerInvocationFormat._base(formatter),
            "function_name": function_name,
        }


def _current_formats() -> dict[int, dict[str, Any]]:
    values = _values()
    return {
        id(formatter): dict(values[(id(formatter), _FORMAT)])
        for formatter in list(_formatters)
        if (id(formatter), _FORMAT) in values
    }


def _adopt(formats: dict[int, dict[str, Any]]) -> None:
    values = _values()
    for formatter_id, log_format in formats.items():
        values[(formatter_id, _FORMAT)] = log_format


def _install_logger_isolation() -> None:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    type.__setattr__(LambdaPowertoolsFormatter, _FORMAT, _PerInvocationFormat())
    original_submit = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # The pool's thread logs as the invocation that handed it the work (a copy of its keys).
        formats = _current_formats()

        def run(*inner_args: Any, **inner_kwargs: Any) -> Any:
            _adopt(formats)
            return fn(*inner_args, **inner_kwargs)

        return original_submit(self, run, *args, **kwargs)

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]


def install() -> None:
    """Make Powertools' per-request resolver state per thread in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _install_logger_isolation()
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
