"""Cold-start import time of every handler, against `import boto3` measured in the same run.

Each figure is the median wall time of a fresh interpreter importing the module, minus the median of
a bare interpreter (`python -c pass`), over REPEAT runs. Lambda's cold start pays exactly this import
before the first event; boto3 is the floor every Python function that touches AWS pays anyway.
Target: every handler <= 1.3x the boto3 import alone.

    python -m bench.cold_start.run [--repeat 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "local"))

from ctibridge_local.template import parse  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cold_start.json"
TARGET_RATIO = 1.3


def _time_python(code: str, cwd: Path, repeat: int, pythonpath: list[Path]) -> float:
    env = {
        "PYTHONPATH": ":".join(str(p) for p in pythonpath),
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "bench",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
    }
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    template = parse()
    layer = ROOT / "layers" / "shared"
    # one warm-up pass so every figure reads compiled bytecode, as a deployed layer does
    _time_python("import boto3", ROOT, 1, [layer])
    bare = _time_python("pass", ROOT, args.repeat, [layer])
    boto3_import = _time_python("import boto3", ROOT, args.repeat, [layer]) - bare
    rows = []
    for name, function in sorted(template.functions.items()):
        module = function.handler.rpartition(".")[0]
        _time_python(f"import {module}", function.code_uri, 1, [function.code_uri, layer])
        seconds = (
            _time_python(f"import {module}", function.code_uri, args.repeat, [function.code_uri, layer])
            - bare
        )
        rows.append(
            {
                "function": name,
                "import_ms": round(seconds * 1000, 1),
                "ratio_to_boto3": round(seconds / boto3_import, 2),
            }
        )
    result = {
        "boto3_import_ms": round(boto3_import * 1000, 1),
        "bare_interpreter_ms": round(bare * 1000, 1),
        "target_ratio": TARGET_RATIO,
        "repeat": args.repeat,
        "functions": rows,
        "all_within_target": all(r["ratio_to_boto3"] <= TARGET_RATIO for r in rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"boto3 import alone: {result['boto3_import_ms']} ms", f"(bare interpreter: {bare * 1000:.1f} ms)")
    print(f"{'function':28} {'import ms':>10} {'x boto3':>8}")
    for row in rows:
        flag = "" if row["ratio_to_boto3"] <= TARGET_RATIO else "  over target"
        print(f"{row['function']:28} {row['import_ms']:>10} {row['ratio_to_boto3']:>8}{flag}")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
