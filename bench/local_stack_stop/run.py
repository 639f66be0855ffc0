"""How long the local stack takes to stop on Ctrl-C (target: under 3 s).

Each run starts ``python -m ctibridge_local`` in its own process group, as ``make dev`` runs in a
terminal, on free ports; opens an agent's WebSocket tab (a webphone left open) and plays a call, so the
servers and queue pollers have work and clients; then sends SIGINT to the whole group, as Ctrl-C does,
and times until the process has exited. It used to take 12 s here (17 s reported): Ctrl-C killed
moto (same process group) first, and the queue pollers then sat in botocore's connection retries; moto
now runs in its own session and is stopped last, the pollers are told to stop together, without retries.

    python -m bench.local_stack_stop.run [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from ctibridge_local.state_file import STATE_ENV, read  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

READY_LINE = "CTI Bridge local stack is ready"
TARGET_SECONDS = 3.0


def one_run(workdir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    state_path = workdir / "state.json"
    env.update({STATE_ENV: str(state_path), "PYTHONUNBUFFERED": "1"})
    command = [sys.executable, "-m", "ctibridge_local"]
    for flag in ("--http-port", "--ws-port", "--web-port", "--moto-port", "--pbx-port"):
        command += [flag, str(free_port())]
    log_path = workdir / "stack.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while READY_LINE not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.2)
        stack = read(state_path)
        token = httpx.get(f"{stack.web_url}/dev/token?ipphone=101").json()["token"]
        session = httpx.post(f"{stack.http_url}/demo/thirdParty/login", json={"token": token}).json()
        tab = connect(f"{stack.ws_url}?token={session['user']['token']}")
        httpx.get(
            f"{stack.http_url}/wsapi/demo/incoming_call",
            params={"secret": "demo-secret", "phone": "0904824242", "extension": "101", "callid": "stop.1"},
        ).raise_for_status()
        tab.recv(timeout=10)  # the popup: the stack is busy with its queues now
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole process group
        process.wait(timeout=60)
        elapsed = time.monotonic() - started
        tab.close()
        if state_path.exists():
            raise RuntimeError("the state file outlived the stack")
        return elapsed
    finally:
        if process.poll() is None:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    samples = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as workdir:
            samples.append(one_run(Path(workdir)))
        print(f"run {n + 1}: stopped in {samples[-1]:.2f} s", flush=True)
    result = {
        "benchmark": "local_stack_stop",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "runs": args.runs,
        "stop_seconds": [round(s, 3) for s in samples],
        "max_seconds": round(max(samples), 3),
        "median_seconds": round(statistics.median(samples), 3),
        "target_seconds": TARGET_SECONDS,
        "target_met": max(samples) < TARGET_SECONDS,
    }
    out = ROOT / "bench" / "results" / "local_stack_stop.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
