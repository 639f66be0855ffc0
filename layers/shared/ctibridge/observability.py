"""The one place where logger and metrics are created; every module imports them from here.

Metrics are CloudWatch embedded-metric-format (EMF) lines, namespace ``POWERTOOLS_METRICS_NAMESPACE``:
count them with :func:`count` anywhere, and decorate the handler with :func:`log_metrics` to print
them once per invocation. ``METRICS`` names every metric the code emits; template.yaml's dashboard and
alarms use the same names (a unit test keeps both in step).
"""

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

METRICS: dict[str, str] = {
    "WebhooksReceived": "PBX webhooks authenticated, valid and stored (new or duplicate)",
    "WebhooksDuplicate": "PBX webhooks that repeated an event already stored (nothing written)",
    "WebhooksRejected": "PBX webhooks refused with a 4xx (customer, secret, tenant, fields)",
    "PopupsSent": "call popups posted to agents' open tabs",
    "PopupsGone": "tabs API Gateway said were gone (410) when a popup was posted; forgotten",
    "PopupsFailed": "popup posts that failed otherwise (throttled, network)",
    "DeliveriesSucceeded": "call events the CRM accepted",
    "DeliveriesFailed": "CRM delivery attempts that failed and will be retried",
    "DeliveriesDeadLettered": "CRM deliveries that failed for the whole retry window (to the DLQ)",
    "BackendUnavailable": "requests answered 503 because AWS throttled or could not be reached",
}

# The local stack runs many invocations at once in one process; Lambda runs one. The lock keeps a
# flush from iterating the metric set while another thread adds to it.
_lock = threading.Lock()
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to the count metric ``name`` (one of ``METRICS``); printed by :func:`log_metrics`."""
    if value <= 0:
        return
    from aws_lambda_powertools.metrics import MetricUnit

    with _lock:
        if not metrics.default_dimensions:
            # One namespace for every stage: the stage tells dev's figures from prod's.
            from ctibridge.settings import get_settings

            metrics.set_default_dimensions(stage=get_settings().stage)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Print the metrics counted so far as one EMF line; never raises (metrics must not fail a request)."""
    with _lock:
        if not metrics.metric_set:
            return
        try:
            # A Metrics object shares its metric set with every other; one made now reads the
            # namespace and service of this function's environment, whenever this module was imported.
            Metrics().flush_metrics()
        except Exception:
            logger.exception("metrics could not be flushed")
            metrics.clear_metrics()


def log_metrics(handler: _Handler) -> _Handler:
    """Like Powertools' ``metrics.log_metrics``: flush after every invocation, even a failed one."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            flush()

    return wrapper  # type: ignore[return-value]
