"""The CRM lookup against a real loopback server: a slow CRM is cut at the timeout."""

from __future__ import annotations

import time

import pytest

from ctibridge.realtime import screen_pop
from tests.support.realtime import SlowCrm


@pytest.mark.parametrize(("delay", "found"), [(0.0, True), (2.0, False)])
def test_lookup_against_a_real_server_is_bounded(delay: float, found: bool) -> None:
    # Given a CRM on loopback answering after ``delay`` seconds, a host the tenant allows
    crm = SlowCrm(delay)
    try:
        # When we look a number up
        contact = screen_pop.lookup(crm.url, "0901234567", "+84901234567", allowed_hosts=[crm.host])
        returned = time.monotonic()
        # Then a fast CRM answers; a slow one is cut at the timeout: the lookup gave up before the CRM
        # answered (an order of events, not a time bound: these tests share the machine with others)
        assert (contact is not None) is found
        if not found:
            assert returned < crm.first_answer()
    finally:
        crm.close()
    assert crm.requests == ["/lookup?phone=0901234567&phone_e164=%2B84901234567"]
