"""Soak: the load benchmark held for a long time (run by hand, never in CI).

Same measure as ``bench/load`` (agents connected, calls at a fixed rate, 0 lost is the bar) over
``--duration`` seconds (default 30 minutes, at most 3 hours), at a gentler default rate, to show what
only time shows: memory or connection leaks, queues that drift, latency that creeps.

    python -m bench.soak.run --duration 1800 [--agents 200] [--rate 2]

Results go to ``bench/results/soak.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load.run import LoadConfig, main  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "soak.json"

if __name__ == "__main__":
    sys.exit(
        main(default_out=RESULTS, defaults=LoadConfig(agents=200, rate=2.0, duration=1800.0, drain=120.0))
    )
