"""A short run of bench/load (the full 60 s run is `make bench`): 50 agents, calls for 10 s, 0 lost."""

from __future__ import annotations

from bench.load.run import LoadConfig, print_summary, run_load
from tests.support.local_stack import RunningStack


def test_a_short_load_run_loses_nothing(hardened: RunningStack) -> None:
    # Given 50 connected agents and a loopback CRM; when calls come at 3/s for 10 s
    result = run_load(hardened, LoadConfig(agents=50, rate=2.0, duration=10.0, talk=0.3, drain=90.0))
    print_summary(result)
    # Then every call is stored complete, every popup reached its agent, every event reached the CRM
    assert result["sent"]["calls"] == 20
    assert result["lost"] == {"calls": 0, "popups": 0, "crm_deliveries": 0}
    assert result["errors"]["webhooks_not_200"] == 0
    assert result["errors"]["misrouted_popups"] == 0
    assert result["ok"] is True
