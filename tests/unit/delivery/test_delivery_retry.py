"""The retry schedule: exponential with jitter, at least 24 h before the dead-letter queue, and never
more attempts than the DeliveryQueue's maxReceiveCount (the safety net must not fire first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ctibridge.delivery import retry
from ctibridge.settings import Settings
from tests.support.aws import load_template

DEFAULTS = Settings(table_name="t")
BASE = DEFAULTS.delivery_retry_base_seconds
CAP = DEFAULTS.delivery_retry_max_seconds
WINDOW = DEFAULTS.delivery_retry_window_seconds


def simulate(draws: list[float], attempt_seconds: float = 0.0) -> tuple[int, float]:
    """Attempts and seconds from the first attempt until the worker dead-letters, every attempt failing."""
    queued = datetime(2024, 5, 1, tzinfo=UTC)
    now = queued
    attempt = 0
    while True:
        attempt += 1
        now += timedelta(seconds=attempt_seconds)
        if retry.exhausted((now - queued).total_seconds(), WINDOW):  # the worker's decision
            return attempt, (now - queued).total_seconds()
        draw = draws[(attempt - 1) % len(draws)]
        now += timedelta(seconds=retry.retry_delay(attempt, BASE, CAP, lambda d=draw: d))


def test_defaults_retry_for_a_day_with_steps_below_the_sqs_limit() -> None:
    # Given the default settings
    # Then the window is at least 24 h and no step exceeds SQS's 12 h visibility limit
    assert WINDOW >= 24 * 3600
    assert CAP <= retry.SQS_MAX_VISIBILITY_SECONDS
    assert retry.ceiling(1, BASE, CAP) == BASE


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40))
@settings(max_examples=300)
def test_any_jitter_retries_for_at_least_24_hours(draws: list[float]) -> None:
    # Given any sequence of random draws
    # When every attempt fails
    attempts, total = simulate(draws)
    # Then the message reaches the dead-letter queue only after 24 h
    assert total >= 24 * 3600
    # And within the attempts SQS allows before its own redrive
    max_receive = int(
        load_template()["Resources"]["DeliveryQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    )
    assert attempts <= retry.max_attempts(BASE, CAP, WINDOW) < max_receive


def test_delays_grow_exponentially_with_half_of_each_random() -> None:
    # Given attempts 1..12
    # Then each delay lies in [ceiling/2, ceiling], the ceiling doubling up to the cap
    for attempt in range(1, 13):
        top = min(CAP, BASE * 2 ** (attempt - 1))
        assert retry.retry_delay(attempt, BASE, CAP, lambda: 0.0) == -(-top // 2)
        assert retry.retry_delay(attempt, BASE, CAP, lambda: 1.0) == top


def test_slow_attempts_only_shorten_the_count() -> None:
    # Given attempts that each take the worker's worst case (three URLs timing out)
    attempts, total = simulate([0.0], attempt_seconds=3 * 13)
    # Then the window still holds and fewer attempts are made
    assert total >= 24 * 3600
    assert attempts <= retry.max_attempts(BASE, CAP, WINDOW)


def test_a_test_stack_schedule_in_seconds() -> None:
    # Given the integration tests' settings (base 1 s, cap 2 s, window 12 s)
    # Then retries come every 1-2 s and the window needs at most a dozen attempts
    assert [retry.retry_delay(n, 1, 2, lambda: 1.0) for n in (1, 2, 3)] == [1, 2, 2]
    assert retry.max_attempts(1, 2, 12) <= 13
