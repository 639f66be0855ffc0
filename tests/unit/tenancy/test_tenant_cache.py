"""The tenant cache of the request path: entries live TENANT_CACHE_TTL_SECONDS (5 s), one read per expiry."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ctibridge.settings import get_settings
from ctibridge.tenants import repository


def test_the_tenant_cache_ttl_is_a_few_seconds() -> None:
    # The README's documented bound for tenant state (expiry, prefixes, origins, API keys)
    assert get_settings().tenant_cache_ttl_seconds == 5


def test_an_entry_is_served_until_its_ttl_then_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cache and a clock
    cache = repository._TtlCache()
    now = [1000.0]
    monkeypatch.setattr(repository.time, "monotonic", lambda: now[0])
    reads: list[int] = []

    def load() -> int:
        reads.append(1)
        return len(reads)

    # When read within the TTL, Then one read; after it, a new read
    assert cache.get_or_load("k", load, 5.0) == 1
    now[0] += 4.9
    assert cache.get_or_load("k", load, 5.0) == 1
    now[0] += 0.2
    assert cache.get_or_load("k", load, 5.0) == 2


def test_concurrent_requests_on_an_expired_entry_read_it_once() -> None:
    # Given an empty cache and a slow read
    cache = repository._TtlCache()
    reads: list[int] = []
    gate = threading.Event()

    def load() -> str:
        reads.append(1)
        gate.wait(1.0)
        return "tenant"

    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get_or_load("k", load, 5.0))) for _ in range(8)
    ]
    # When eight requests want it at once
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join()
    # Then it was read once, and all eight got it
    assert len(reads) == 1
    assert answers == ["tenant"] * 8
