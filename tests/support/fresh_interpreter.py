"""Run code in a fresh Python interpreter: what a cold start imports and does, free of the test process's
own imports and state."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def last_json_line(code: str, *args: str) -> Any:
    """``python -c code *args`` in a new interpreter; the JSON document it printed on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
