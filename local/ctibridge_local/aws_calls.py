"""Counts (and times) the AWS API calls the functions make in the local stack.

Enabled with ``--count-aws-calls`` (the webhook benchmark does): every botocore session created after
:func:`install` gets a ``before-call`` hook, which botocore emits once per API operation (before its
retry loop, so a retried request still counts once), and an ``after-call`` hook that measures how long
the operation took. DynamoDB calls are also grouped by the item family they touch (the partition key
with its ids blanked, e.g. ``UpdateItem TENANT#*#CALL#*``), which tells one feature's calls from
another's, and by the function that made them (``by_function``, so a webhook's calls are told from
those of the queue consumers working beside it). ``GET {web_url}/_local/aws-calls`` answers the
figures, ``DELETE`` resets them. Local only: the deployed functions have nothing of this.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import botocore.session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_lock = threading.Lock()
_counts: Counter[str] = Counter()  # "dynamodb.UpdateItem" -> calls
_families: Counter[str] = Counter()  # "UpdateItem TENANT#*#CALL#*" -> calls
_family_ms: Counter[str] = Counter()  # same keys -> total milliseconds
# The same counts by the function that made the call (see ``invoking``): a webhook's own calls apart
# from those of the queue consumers running beside it.
_by_function: defaultdict[str, Counter[str]] = defaultdict(Counter)  # function -> operation -> calls
_function_families: defaultdict[str, Counter[str]] = defaultdict(Counter)
_function: ContextVar[str] = ContextVar("ctibridge_local.function", default="(stack)")
_installed = False
_SQS = "sqs:"  # family keys of SQS calls ("sqs:SendMessage fifo"), apart from DynamoDB's
_STARTED = "ctibridge_local.started"
_FAMILY = "ctibridge_local.family"


def key_family(key: str) -> str:
    """``TENANT#demo#CALL#1565944170.123`` → ``TENANT#*#CALL#*``: the item type, without the ids."""
    return "#".join(p if p.isupper() and p.isalpha() else "*" for p in key.split("#"))


def _dynamodb_family(params: dict[str, Any] | None) -> str:
    """The item family a serialized DynamoDB request touches: its partition key, ids blanked."""
    try:
        body = json.loads((params or {}).get("body") or b"{}")
    except ValueError:
        return "?"
    key = body.get("Key") or body.get("Item") or {}
    partition = key.get("PK", {}).get("S") if isinstance(key.get("PK"), dict) else None
    if partition is None:  # a Query: the partition is among the expression values
        for value in (body.get("ExpressionAttributeValues") or {}).values():
            text = value.get("S") if isinstance(value, dict) else None
            if isinstance(text, str) and "#" in text:
                partition = text
                break
    return key_family(partition) if partition else "?"


def _sqs_queue_kind(params: dict[str, Any] | None) -> str:
    """``fifo`` or ``standard``: SQS prices the two differently."""
    body = (params or {}).get("body") or b""
    try:
        url = json.loads(body).get("QueueUrl", "") if body else ""
    except (ValueError, AttributeError):
        url = ""
    return "fifo" if str(url).endswith(".fifo") else "standard"


def _before(
    event_name: str = "", params: dict[str, Any] | None = None, context: Any = None, **kwargs: Any
) -> None:
    # event_name is "before-call.<service>.<Operation>"; params is the serialized request; context is
    # the request's context dict, which botocore hands to after-call as well.
    operation = event_name.partition(".")[2]
    family = None
    if operation.startswith("dynamodb."):
        family = f"{operation.split('.', 1)[1]} {_dynamodb_family(params)}"
    elif operation.startswith("sqs."):
        family = f"{_SQS}{operation.split('.', 1)[1]} {_sqs_queue_kind(params)}"
    function = _function.get()
    with _lock:
        _counts[operation] += 1
        _by_function[function][operation] += 1
        if family is not None:
            _families[family] += 1
            _function_families[function][family] += 1
    if isinstance(context, dict):
        context[_STARTED] = time.perf_counter()
        context[_FAMILY] = family


def _after(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if not isinstance(context, dict) or context.get(_FAMILY) is None or _STARTED not in context:
        return
    elapsed = (time.perf_counter() - context[_STARTED]) * 1000
    with _lock:
        _family_ms[context[_FAMILY]] += elapsed


@contextmanager
def invoking(function: str) -> Iterator[None]:
    """Attribute the AWS calls made in this context to ``function`` (not those of threads it starts)."""
    token = _function.set(function)
    try:
        yield
    finally:
        _function.reset(token)


def install() -> None:
    """Hook every botocore session created from now on (boto3 creates one per Session())."""
    global _installed
    if _installed:
        return
    original = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("before-call", _before)
        self.register("after-call", _after)

    botocore.session.Session.__init__ = init  # type: ignore[method-assign]
    _installed = True


def _services(operations: dict[str, int]) -> dict[str, int]:
    services: Counter[str] = Counter()
    for operation, n in operations.items():
        services[operation.split(".", 1)[0]] += n
    return dict(services)


def snapshot() -> dict[str, Any]:
    with _lock:
        counts, families, family_ms = dict(_counts), dict(_families), dict(_family_ms)
        by_function = {name: dict(ops) for name, ops in _by_function.items()}
        function_families = {name: dict(f) for name, f in _function_families.items()}
    return {
        "operations": counts,
        "services": _services(counts),
        "by_function": {
            name: {
                "operations": ops,
                "services": _services(ops),
                "dynamodb_families": {
                    f: n for f, n in function_families.get(name, {}).items() if not f.startswith(_SQS)
                },
            }
            for name, ops in by_function.items()
        },
        "dynamodb_families": {
            family: {"calls": n, "total_ms": round(family_ms.get(family, 0.0), 1)}
            for family, n in families.items()
            if not family.startswith(_SQS)
        },
        # SQS calls by operation and queue kind ("SendMessage fifo": n), for the cost model.
        "sqs_queues": {f.removeprefix(_SQS): n for f, n in families.items() if f.startswith(_SQS)},
    }


def reset() -> None:
    with _lock:
        _counts.clear()
        _families.clear()
        _family_ms.clear()
        _by_function.clear()
        _function_families.clear()


async def endpoint(request: Request) -> Response:
    if request.method == "DELETE":
        reset()
        return Response(status_code=204)
    return JSONResponse(snapshot())
