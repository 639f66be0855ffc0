"""When to try a failed delivery again, and when to give up (the dead-letter queue).

Exponential backoff with jitter: after the n-th failed attempt the ceiling is ``base * 2**(n-1)``
(capped at ``cap``, and at SQS's 12 h visibility limit); the delay is half the ceiling plus a random
part of the other half ("equal jitter" in AWS's *Exponential Backoff And Jitter*). Not full jitter
(``uniform(0, ceiling)``): full jitter can draw near-zero delays again and again, which would make the
number of receives within the window unbounded, and SQS's ``maxReceiveCount`` (the safety net for
messages that crash the worker) would then dead-letter an event before its time. With half of each
delay fixed, the most attempts the window can take is a small constant (``max_attempts``), checked
against the template's ``maxReceiveCount`` by a unit test.

Giving up is by time, not by count: a message is dead-lettered at the first failure at least
``window`` seconds after it was queued (its SQS ``SentTimestamp``), so "retried for at least 24 h"
holds whatever the jitter drew.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

SQS_MAX_VISIBILITY_SECONDS = 12 * 60 * 60


def ceiling(attempt: int, base: int, cap: int) -> int:
    """The upper bound of the delay after the ``attempt``-th failure (1-based)."""
    exponent = max(0, min(attempt - 1, 30))
    return int(min(cap, SQS_MAX_VISIBILITY_SECONDS, base * 2**exponent))


def retry_delay(attempt: int, base: int, cap: int, rng: Callable[[], float] = random.random) -> int:
    """Seconds to wait after the ``attempt``-th failure: in [ceiling/2, ceiling], at least 1."""
    top = ceiling(attempt, base, cap)
    delay = top / 2 + rng() * top / 2
    return max(1, min(math.ceil(delay), SQS_MAX_VISIBILITY_SECONDS))


def exhausted(elapsed_seconds: float, window_seconds: int) -> bool:
    """True once a message has been retried for the whole window: time for the dead-letter queue."""
    return elapsed_seconds >= window_seconds


def max_attempts(base: int, cap: int, window: int) -> int:
    """The most attempts a message can get before the window closes (every delay at its minimum).

    Attempts themselves take time too, which only lowers the count.
    """
    elapsed = 0.0
    attempts = 0
    while True:
        attempts += 1  # an attempt at ``elapsed``; it fails
        if exhausted(elapsed, window):
            return attempts
        elapsed += max(1, math.ceil(ceiling(attempts, base, cap) / 2))


def retry_after(value: str | None, now: datetime) -> int | None:
    """Seconds a CRM asked us to wait in its ``Retry-After`` header (delta-seconds or an HTTP-date, RFC
    9110 §10.2.3), or None if it asked nothing usable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, math.ceil((when - now).total_seconds()))
