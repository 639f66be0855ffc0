"""SnapStart restore, emulated locally: the first answer of a restored environment, against boto3.

With SnapStart, Lambda runs a function's init once per published version (imports, then the
``before_snapshot`` hooks), snapshots the environment's memory, and for each cold start restores that
snapshot, runs the ``after_restore`` hooks and hands it the event. This emulates it on the layer
``sam build`` makes, with ``bench/cold_start``'s build, path layout, local stack and events:

- "init + snapshot": a fresh interpreter with the Lambda-like path (``-I -S -B``; the function's code,
  the layer's ``python/``, the runtime's boto3) imports the handler and runs
  ``ctibridge.snapstart.before_snapshot()``, then waits;
- "restore": for each sample it ``os.fork()``s; the child (a copy of the snapshot's memory) runs
  ``after_restore()`` and answers one real event against the local stack's moto, timed in the child,
  then exits. Every sample starts from the same snapshot: the parent never answers an event.

Interleaved with it, in a shuffled order each round: the same baseline as ``bench/cold_start`` (a fresh
interpreter: ``import boto3`` + one DynamoDB ``get_item`` on the same moto) and the first answer without
SnapStart (a fresh interpreter importing the handler and answering). Medians per pass; the whole is
made twice back to back (``--passes``) and the results say how far the passes' ratios are apart.

What this does not include, and Lambda bills or reports:

- the restore itself: Firecracker resuming the microVM from the snapshot, and the page faults that load
  its memory from the snapshot cache on first touch (cold for a version's first restores). A fork here
  shares the parent's pages, already in RAM, so the child's first touches cost a copy at most. Lambda
  reports that part as "Restore Duration" (hundreds of ms are commonly reported for Python);
- the hooks' own share of it: Lambda counts ``after_restore`` in Restore Duration, here it is measured
  and shown apart (``after_restore_ms``) and included in the restored first answer;
- the runtime's own restore work (the Runtime API client, fetching new credentials: the child reads the
  same environment variables the snapshot had).

So the restored figure is the floor of what SnapStart can give: the part the code controls.

    python -m bench.snapstart_restore.run [--rounds 9] [--passes 2] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The build, the Lambda-like path, the env, the events and the one-sample runner of bench/cold_start:
# both benchmarks measure the same code the same way.
from bench.cold_start.run import (  # noqa: E402
    ANSWER_TARGET,
    BUILD_DIR,
    CRITICAL,
    Scenario,
    _path,
    _sample,
    _spread,
    answer_spec,
    baseline_spec,
    build,
)

RESULTS = ROOT / "bench" / "results" / "snapstart_restore.json"
MARKER = "SNAPSTART-RESULT "

# The snapshotted interpreter: init (import + before_snapshot), then one fork per event read on stdin.
# Results go to stdout behind MARKER (the handler's logs may write there too).
SNAPSHOT = r"""
import json, os, sys, time
MARKER = "SNAPSTART-RESULT "
spec = json.loads(sys.stdin.readline())
sys.path[:0] = spec["path"]
started = time.perf_counter()
import app
imported = time.perf_counter()
from ctibridge import snapstart
snapstart.before_snapshot()
snapshotted = time.perf_counter()
print(MARKER + json.dumps({"import_s": imported - started, "before_snapshot_s": snapshotted - imported}),
      flush=True)

class Context:
    function_name = spec["function"]
    function_version = "1"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"] + ":live"
    log_group_name = log_stream_name = "bench"
    def __init__(self, request_id):
        self.aws_request_id = request_id
    def get_remaining_time_in_millis(self):
        return 6000

for line in sys.stdin:
    sample = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            restored = time.perf_counter()
            snapstart.after_restore()
            hooked = time.perf_counter()
            answer = app.handler(sample["event"], Context(sample["request_id"]))
            answered = time.perf_counter()
            print(MARKER + json.dumps({
                "after_restore_s": hooked - restored, "total_s": answered - restored,
                "status": answer.get("statusCode"), "body": str(answer.get("body"))[:300],
            }), flush=True)
        except BaseException as error:
            print(MARKER + json.dumps({"error": repr(error)}), flush=True)
            code = 1
        finally:
            sys.stdout.flush()
            os._exit(code)
    os.waitpid(pid, 0)
"""


class Snapshot:
    """One function's snapshotted interpreter; ``restore(event)`` answers from a fresh fork of it."""

    def __init__(self, function: str, env: dict[str, str]) -> None:
        self.function = function
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", "-c", SNAPSHOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        self._send({"path": _path(function), "function": function})
        self.init = self._read()

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(MARKER):
                result: dict[str, Any] = json.loads(line[len(MARKER) :])
                if "error" in result:
                    raise RuntimeError(f"{self.function} restored failed: {result['error']}")
                return result
        assert self.process.stderr is not None
        raise RuntimeError(f"{self.function} snapshot exited:\n{self.process.stderr.read()[-3000:]}")

    def restore(self, event: dict[str, Any]) -> dict[str, Any]:
        self._send({"event": event, "request_id": str(uuid.uuid4())})
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _ms(samples: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(s[key] for s in samples) * 1000, 1)


def measure(scenario: Scenario, rounds: int, fresh: bool) -> dict[str, Any]:
    from websockets.sync.client import connect

    snapshots = {name: Snapshot(name, scenario.env) for name in CRITICAL}
    kinds = (
        ["boto3"] + [f"restored:{n}" for n in CRITICAL] + ([f"fresh:{n}" for n in CRITICAL] if fresh else [])
    )
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    try:
        # An open tab of agent 101: the webhook's first answer includes its ring popup (as in cold_start).
        with connect(
            f"{scenario.stack.ws_url}?token={scenario.session_token()}&tab=bench-popup", open_timeout=30
        ) as tab:
            for _ in range(rounds):
                order = list(kinds)
                random.shuffle(order)
                for kind in order:
                    name = kind.partition(":")[2]
                    if kind == "boto3":
                        sample = _sample(baseline_spec(scenario), scenario.env)
                    elif kind.startswith("fresh:"):
                        sample = _sample(answer_spec(scenario, name), scenario.env)
                    else:
                        sample = snapshots[name].restore(scenario.event(name))
                    if sample["status"] not in (200, 202):
                        raise RuntimeError(f"{kind} answered {sample['status']}: {sample.get('body')}")
                    if name == "PbxWebhookFunction":
                        frame = json.loads(tab.recv(timeout=10))  # the popup reached the tab
                        while frame.get("type") != "call.ringing":
                            frame = json.loads(tab.recv(timeout=10))
                    samples[kind].append(sample)
    finally:
        for snapshot in snapshots.values():
            snapshot.close()
    base = _ms(samples["boto3"], "total_s")
    rows: dict[str, Any] = {}
    for name in CRITICAL:
        restored = _ms(samples[f"restored:{name}"], "total_s")
        row: dict[str, Any] = {
            "restored_first_answer_ms": restored,
            "of_which_after_restore_ms": _ms(samples[f"restored:{name}"], "after_restore_s"),
            "ratio_to_boto3_call": round(restored / base, 3),
            "init_import_ms": round(snapshots[name].init["import_s"] * 1000, 1),
            "init_before_snapshot_ms": round(snapshots[name].init["before_snapshot_s"] * 1000, 1),
        }
        if fresh:
            row["fresh_first_answer_ms"] = _ms(samples[f"fresh:{name}"], "total_s")
            row["fresh_ratio_to_boto3_call"] = round(row["fresh_first_answer_ms"] / base, 3)
        rows[name] = row
    return {"boto3_import_and_one_call_ms": base, "functions": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="samples per function and kind, per pass")
    parser.add_argument(
        "--passes", type=int, default=2, help="back-to-back passes (their agreement is the spread)"
    )
    parser.add_argument("--no-fresh", action="store_true", help="skip the first answer without SnapStart")
    parser.add_argument("--no-build", action="store_true", help="reuse .aws-sam/bench-build")
    args = parser.parse_args()
    if not args.no_build or not BUILD_DIR.exists():
        build()

    from tests.support.local_stack import start_stack

    fresh = not args.no_fresh
    with tempfile.TemporaryDirectory() as logs:
        stack = start_stack(Path(logs))
        try:
            scenario = Scenario(stack)
            # Click-to-call needs a free agent per answer (restored, and fresh if measured).
            scenario.add_agents(args.rounds * args.passes * (2 if fresh else 1))
            passes = [measure(scenario, args.rounds, fresh) for _ in range(args.passes)]
        finally:
            stack.stop()

    worst = max(max(p["functions"][n]["ratio_to_boto3_call"] for p in passes) for n in CRITICAL)
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "layer": str(BUILD_DIR.relative_to(ROOT) / "SharedLayer"),
        "emulation": "fork of an interpreter after import + before_snapshot (not Lambda's Restore Duration)",
        "first_answer_target_ratio": ANSWER_TARGET,
        "rounds": args.rounds,
        "passes": passes,
        "spread_between_passes": _spread(passes, "ratio_to_boto3_call"),
        "worst_ratio": worst,
        "restored_first_answer_within_target": worst <= ANSWER_TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    last = passes[-1]
    print(f"import boto3 + one moto call: {last['boto3_import_and_one_call_ms']} ms (last pass)")
    header = f"{'function':22} {'restored ms':>11} {'hook ms':>8} {'x base':>7} {'snapshot init ms':>16}"
    print(header + (f" {'fresh ms':>9} {'x base':>7}" if fresh else ""))
    for name, row in last["functions"].items():
        line = (
            f"{name:22} {row['restored_first_answer_ms']:>11} {row['of_which_after_restore_ms']:>8}"
            f" {row['ratio_to_boto3_call']:>7}"
            f" {row['init_import_ms'] + row['init_before_snapshot_ms']:>16.1f}"
        )
        if fresh:
            line += f" {row['fresh_first_answer_ms']:>9} {row['fresh_ratio_to_boto3_call']:>7}"
        print(line)
    print(f"spread between passes (restored ratio): {result['spread_between_passes']:.1%}")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
