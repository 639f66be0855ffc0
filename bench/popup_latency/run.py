"""Ring-popup latency: from the PBX's webhook to the popup in the agent's tab, on the local stack.

A agents log in (seed login) and each opens a real WebSocket client on the local stack; M
``incoming_call`` webhooks then ring them in turn. Latency is measured from the moment the webhook
request is sent to the moment its ``call.ringing`` frame arrives at the right client.

The floor is measured in the same run, on the same machine: one bare WebSocket frame on loopback (a
``websockets`` server thread to a client, one way, no application code) plus one ``put_item`` to the
same moto server the stack uses. The popup path cannot be cheaper than that: the webhook stores the
call (one write) and a frame reaches the tab.

Targets: 0 popups lost (and none to a wrong agent); popup p99 <= 3x the floor (p50) with 50 agents.

    python -m bench.popup_latency.run [--agents 50] [--webhooks 300] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import boto3  # noqa: E402
import httpx  # noqa: E402
import jwt  # noqa: E402
import websockets  # noqa: E402
from jwt.warnings import InsecureKeyLengthWarning  # noqa: E402
from websockets.sync.client import connect as sync_connect  # noqa: E402
from websockets.sync.server import serve as sync_serve  # noqa: E402

from tests.support.hardening import stack_environment  # noqa: E402
from tests.support.local_stack import REGION, RunningStack, start_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "popup_latency.json"
TARGET_RATIO = 3.0
TENANT = "bench"
ACCESS_KEY = "bench-access-key-0123456789abcdef0123"
PBX_SECRET = "bench-pbx-secret-0123456789"
WARMUP = 10
POPUP_TIMEOUT = 5.0


def _stats(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        # nearest-rank percentile: p99 of 100 samples is the 99th value, not an interpolation
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(pct(90), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


# ---------------------------------------------------------------- the floor


class Floor:
    """The floor, one sample at a time: a one-way loopback WebSocket frame + one moto ``put_item``.

    Samples are taken right before each measured webhook, so the floor and the popups see the same
    machine load (these benchmarks often share a machine with other work).
    """

    def __init__(self, stack: RunningStack) -> None:
        self._sent_at: dict[str, float] = {}

        def handler(connection: Any) -> None:
            for message in connection:
                # the client asks; the server stamps and sends one frame: the one-way hop we time
                self._sent_at[message] = time.perf_counter()
                connection.send(message)

        self._server = sync_serve(handler, "127.0.0.1", 0)
        port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._resources = ExitStack()
        self._client = self._resources.enter_context(sync_connect(f"ws://127.0.0.1:{port}"))
        self._dynamodb = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        ).client("dynamodb", endpoint_url=stack.moto_url)
        self._table = stack.table_name
        self._http = httpx.Client(base_url=stack.http_url, timeout=10)
        self.ws_ms: list[float] = []
        self.put_ms: list[float] = []
        self.health_ms: list[float] = []
        for _ in range(WARMUP):
            self.sample(record=False)

    def sample(self, record: bool = True) -> None:
        key = uuid.uuid4().hex
        self._client.send(key)
        self._client.recv()
        ws = (time.perf_counter() - self._sent_at.pop(key)) * 1000
        started = time.perf_counter()
        self._dynamodb.put_item(
            TableName=self._table, Item={"PK": {"S": f"BENCH#{key}"}, "SK": {"S": "FLOOR"}}
        )
        put = (time.perf_counter() - started) * 1000
        # Context, not floor: one request through the stack's HTTP gateway to a function that does
        # no AWS call (GET /health) -- what the local stack adds around any webhook.
        started = time.perf_counter()
        self._http.get("/health").raise_for_status()
        health = (time.perf_counter() - started) * 1000
        if record:
            self.ws_ms.append(ws)
            self.put_ms.append(put)
            self.health_ms.append(health)

    def close(self) -> None:
        self._resources.close()
        self._server.shutdown()
        self._http.close()

    def result(self) -> dict[str, Any]:
        total = [w + p for w, p in zip(self.ws_ms, self.put_ms, strict=True)]
        return {
            "websocket_send": _stats(self.ws_ms),
            "moto_put_item": _stats(self.put_ms),
            "floor": _stats(total),
            "context_http_gateway_health": _stats(self.health_ms),
        }


# ---------------------------------------------------------------- the popup path


def seed_agents(stack: RunningStack, agents: int) -> list[str]:
    """The bench tenant with ``agents`` agents, through the tenants module against the stack's moto."""
    from ctibridge.tenants.provisioning import TenantAdmin

    extensions = [str(2000 + index) for index in range(1, agents + 1)]
    with stack_environment(stack):
        admin = TenantAdmin(stack.table_name, stack.stage)
        admin.create_tenant(TENANT, TENANT, jwt_access_key=ACCESS_KEY, pbx_secret=PBX_SECRET, timezone="UTC")
        for extension in extensions:
            admin.add_agent(TENANT, extension, sip_password=f"sip-{extension}")
    return extensions


def login(client: httpx.Client, stack: RunningStack, extension: str) -> str:
    expired = (datetime.now(ZoneInfo("UTC")) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = jwt.encode({"ipphone": extension, "expired": expired}, ACCESS_KEY, algorithm="HS256")
    answer = client.post(f"{stack.http_url}/{TENANT}/thirdParty/login", json={"token": token})
    answer.raise_for_status()
    return str(answer.json()["user"]["token"])


async def measure_popups(
    stack: RunningStack, tokens: dict[str, str], webhooks: int, concurrency: int, floor: Floor | None = None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[float]] = {}
    misrouted: list[str] = []
    received: dict[str, int] = dict.fromkeys(tokens, 0)

    async def reader(extension: str, socket: Any) -> None:
        async for raw in socket:
            frame = json.loads(raw)
            if frame.get("type") != "call.ringing":
                continue
            arrived = time.perf_counter()
            received[extension] += 1
            if frame["extension"] != extension:
                misrouted.append(frame["callid"])
            future = waiting.get(frame["callid"])
            if future is not None and not future.done():
                future.set_result(arrived)

    sockets = {}
    for extension, token in tokens.items():
        sockets[extension] = await websockets.connect(
            f"{stack.ws_url}?token={token}&tab=bench-{extension}", open_timeout=30
        )
    readers = [asyncio.create_task(reader(ext, sock)) for ext, sock in sockets.items()]
    extensions = list(tokens)
    latencies: list[float] = []
    answer_ms: list[float] = []
    lost: list[str] = []
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as http:

        async def ring(index: int, record: bool) -> None:
            extension = extensions[index % len(extensions)]
            callid = f"bench-{uuid.uuid4().hex[:12]}"
            future: asyncio.Future[float] = loop.create_future()
            waiting[callid] = future
            params = {"secret": PBX_SECRET, "phone": "0901234567", "extension": extension, "callid": callid}
            started = time.perf_counter()
            answer = await http.get(f"/wsapi/{TENANT}/incoming_call", params=params)
            answered = time.perf_counter()
            answer.raise_for_status()
            try:
                arrived = await asyncio.wait_for(future, POPUP_TIMEOUT)
            except TimeoutError:
                lost.append(callid)
                return
            if record:
                latencies.append((arrived - started) * 1000)
                answer_ms.append((answered - started) * 1000)

        for index in range(WARMUP):  # warm every code path (imports, caches, pools) first
            await ring(index, record=False)
        started_all = time.perf_counter()  # includes the floor samples when they are interleaved
        for batch in range(0, webhooks, concurrency):
            if floor is not None:
                floor.sample()  # blocking on purpose: nothing else is in flight between two rings
            await asyncio.gather(
                *(ring(WARMUP + i, True) for i in range(batch, min(webhooks, batch + concurrency)))
            )
        elapsed = time.perf_counter() - started_all
    for task in readers:
        task.cancel()
    for socket in sockets.values():
        await socket.close()
    return {
        "popup": _stats(latencies) if latencies else {},
        "webhook_answer": _stats(answer_ms) if answer_ms else {},
        "lost": len(lost),
        "misrouted": len(misrouted),
        "popups_received": sum(received.values()),
        "webhooks_per_second": round(webhooks / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    # 300: the nearest-rank p99 is then the 297th sample, not the slowest one (as it is of 100)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1, help="webhooks in flight at once")
    parser.add_argument(
        "--burst-concurrency", type=int, default=10, help="a second, informative pass; 0: skip"
    )
    args = parser.parse_args()
    if not (1 <= args.agents <= 200 and 1 <= args.webhooks <= 2000):
        parser.error("keep it bounded: 1..200 agents, 1..2000 webhooks")

    keep = os.environ.get("BENCH_KEEP_LOGS")  # set it to keep the stack's log for a look afterwards
    with tempfile.TemporaryDirectory(prefix="popup-bench-") as scratch:
        logs = Path(tempfile.mkdtemp(prefix="popup-bench-logs-")) if keep else Path(scratch)
        if keep:
            print(f"stack log: {logs / 'local-stack.log'}", flush=True)
        stack = start_stack(logs, "--no-seed")
        try:
            extensions = seed_agents(stack, args.agents)
            with httpx.Client(timeout=10) as client:
                tokens = {ext: login(client, stack, ext) for ext in extensions}
            floor_meter = Floor(stack)
            load_before = os.getloadavg()
            popups = asyncio.run(measure_popups(stack, tokens, args.webhooks, args.concurrency, floor_meter))
            load_after = os.getloadavg()
            floor_meter.close()
            floor = floor_meter.result()
            burst = (
                asyncio.run(measure_popups(stack, tokens, args.webhooks, args.burst_concurrency))
                if args.burst_concurrency > 1
                else None
            )
        finally:
            stack.stop()

    breakdown = cpu_breakdown()
    floor_ms = floor["floor"]["p50_ms"]
    ratio = popups["popup"]["p99_ms"] / floor_ms if floor_ms else float("inf")
    result: dict[str, Any] = {
        "measured_at": datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "config": {
            "agents": args.agents,
            "webhooks": args.webhooks,
            "concurrency": args.concurrency,
            "warmup_webhooks": WARMUP,
        },
        "floor": floor,
        "popup_latency": popups,
        "burst": {"concurrency": args.burst_concurrency, **burst} if burst else None,
        "cpu_breakdown_ms": breakdown,
        "target": {
            "popup_p99_over_floor_p50_max": TARGET_RATIO,
            "popup_p99_over_floor_p50": round(ratio, 2),
            "popup_p99_over_floor_p99": round(popups["popup"]["p99_ms"] / floor["floor"]["p99_ms"], 2),
            "lost_max": 0,
            "met": popups["lost"] == 0 and popups["misrouted"] == 0 and ratio <= TARGET_RATIO,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    _print_table(result)
    return 0 if result["target"]["met"] else 1


def cpu_breakdown() -> dict[str, float] | None:
    """``breakdown.py`` in a child process (it runs moto's in-process mock, not the stack)."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.popup_latency.breakdown"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"cpu breakdown failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def _print_table(result: dict[str, Any]) -> None:
    rows = [
        ("floor: ws send (loopback)", result["floor"]["websocket_send"]),
        ("floor: moto put_item", result["floor"]["moto_put_item"]),
        ("floor: ws send + put_item", result["floor"]["floor"]),
        ("context: GET /health via the stack", result["floor"]["context_http_gateway_health"]),
        ("webhook -> popup", result["popup_latency"]["popup"]),
        ("webhook answer (PBX side)", result["popup_latency"]["webhook_answer"]),
    ]
    if result["burst"]:
        rows.append(
            (f"webhook -> popup, {result['burst']['concurrency']} in flight", result["burst"]["popup"])
        )
    config = result["config"]
    load = result["machine"]["load_average_1m_before_after"]
    print(
        f"\npopup latency: {config['agents']} agents, {config['webhooks']} webhooks, "
        f"concurrency {config['concurrency']}; {result['machine']['cpus']} CPUs, "
        f"load average {load[0]}..{load[1]}"
    )
    print(f"{'':34} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, stats in rows:
        figures = " ".join(f"{stats[k]:8.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        print(f"{label:34} {figures}")
    if result["cpu_breakdown_ms"]:
        print("\nCPU per step (ms, median, moto in-process):")
        for step, value in result["cpu_breakdown_ms"].items():
            print(f"  {step:40} {value:8.2f}")
    popups = result["popup_latency"]
    target = result["target"]
    print(
        f"\nlost {popups['lost']}, misrouted {popups['misrouted']}, received {popups['popups_received']}; "
        f"p99 / floor p50 = {target['popup_p99_over_floor_p50']} "
        f"(target <= {target['popup_p99_over_floor_p50_max']}): "
        f"{'met' if target['met'] else 'NOT met'}\n-> {RESULTS.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    sys.exit(main())
