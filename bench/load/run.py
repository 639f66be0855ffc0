"""Bounded load on the local stack: agents connected, calls at a fixed rate, nothing may be lost.

A tenant with ``--agents`` agents is provisioned on a fresh local stack, each agent logs in (seed login)
and opens a real WebSocket client; the tenant forwards its call events to a loopback CRM (JSON format,
signed, retried). For ``--duration`` seconds a new call starts every ``1/--rate`` seconds, round-robin over
the agents: ``incoming_call`` (GET, query string) then, ``--talk`` seconds later, ``call_answered`` (POST,
JSON). Afterwards the run waits (bounded) for the popups and CRM deliveries still in flight, and counts:

* **sent**: calls started (two webhooks each) and webhooks answered 200;
* **stored**: calls read back through ``GET /v1/calls`` (the CRM's API) with both events merged
  (status ANSWERED, the ringing extension kept), never a Scan;
* **popups delivered**: ``call.ringing`` and ``call.ended`` frames received by the right agent's socket;
* **CRM deliveries**: distinct events (``webhook-id``) the CRM accepted, two per call;
* **latency p50/p99**: webhook answer (PBX side), popup (webhook sent → frame on the agent's socket),
  CRM (webhook sent → request at the CRM);
* **errors** (non-200 answers, transport errors, misrouted popups) and **lost** (what was sent and never
  stored, shown or delivered). 0 lost is the bar.

    python -m bench.load.run                          # 200 agents, 2 calls/s for 60 s (make bench)
    python -m bench.load.run --agents 50 --duration 10  # what `make test` runs (tests/integration)

Results go to ``bench/results/load.json`` (``--out``). Every loop is bounded in count and time.
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
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
import websockets  # noqa: E402

from tests.support.crm_server import CrmServer  # noqa: E402
from tests.support.hardening import Tenant, login, provision, stack_environment  # noqa: E402
from tests.support.local_stack import RunningStack, start_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load.json"
# The stack's settings for a load run: CRM retries back off from 1 s (not 30 s), so a failed delivery is
# retried within the drain window and counted, not left in the queue.
STACK_ARGS = (
    "--no-seed",
    "--env",
    "DELIVERY_RETRY_BASE_SECONDS=1",
    "--env",
    "RECORDING_RETRY_BASE_SECONDS=1",
)
MAX_AGENTS = 500
MAX_RATE = 50.0
MAX_DURATION = 3 * 3600
PHONE = "0904824242"


@dataclass(frozen=True)
class LoadConfig:
    agents: int = 200
    # Calls per second. What the local stack sustains on 2 CPUs with every function, moto and the CRM
    # on them (README, Load); at 3/s nothing is lost either, but latencies grow with the backlog.
    rate: float = 2.0
    duration: float = 60.0  # seconds of calls
    talk: float = 0.5  # seconds between a call's ring and its call log
    drain: float = 60.0  # at most this long to wait for what is in flight after the last call

    def check(self) -> None:
        if not (1 <= self.agents <= MAX_AGENTS and 0 < self.rate <= MAX_RATE):
            raise ValueError(f"keep it bounded: 1..{MAX_AGENTS} agents, rate in (0, {MAX_RATE}] calls/s")
        if not (1 <= self.duration <= MAX_DURATION and 0 <= self.talk <= 10 and 0 < self.drain <= 600):
            raise ValueError(f"keep it bounded: duration 1..{MAX_DURATION} s, talk 0..10 s, drain 0..600 s")


@dataclass
class Call:
    callid: str
    extension: str
    sent_at: float = 0.0  # perf_counter when the ring webhook was sent
    sent_wall: float = 0.0  # time.time() of the same moment (the CRM server stamps wall time)
    answers: list[int] = field(default_factory=list)  # HTTP statuses of its two webhooks


def _stats(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pct(p: float) -> float:  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(pct(99), 1),
        "max_ms": round(ordered[-1], 1),
    }


def prepare(stack: RunningStack, crm: CrmServer, agents: int) -> tuple[Tenant, dict[str, str]]:
    """A tenant with ``agents`` agents forwarding to ``crm``; answers it and each agent's session token."""
    from ctibridge.delivery.models import CrmEndpoint
    from ctibridge.delivery.signing import generate_secret
    from ctibridge.tenants.provisioning import TenantAdmin
    from tests.support.delivery import add_endpoint

    customer = f"load{uuid.uuid4().hex[:8]}"
    extensions = [str(3000 + i) for i in range(agents)]
    with stack_environment(stack):
        tenant = provision(stack, customer, extensions, timezone="Asia/Ho_Chi_Minh")
        endpoint = CrmEndpoint(id="load-crm", url=f"{crm.url}/events", allow_private_network=True)
        signing_secret = generate_secret()
        add_endpoint(
            TenantAdmin(stack.table_name, stack.stage), customer, endpoint, signing_secret=signing_secret
        )
        tenant.other_secrets.append(signing_secret)
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(max_workers=4) as pool:
        tokens = dict(
            zip(extensions, pool.map(lambda e: login(client, stack, tenant, e), extensions), strict=True)
        )
    return tenant, tokens


async def drive(
    stack: RunningStack, tenant: Tenant, tokens: dict[str, str], config: LoadConfig
) -> dict[str, Any]:
    """Connect the agents, run the calls, wait for the popups; answers the client-side figures."""
    frames: dict[tuple[str, str], float] = {}  # (callid, type) -> perf_counter of arrival
    misrouted: list[str] = []
    transport_errors: list[str] = []

    async def reader(extension: str, socket: Any) -> None:
        try:
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") in ("call.ringing", "call.ended"):
                    if frame.get("extension") != extension:
                        misrouted.append(str(frame.get("callid")))
                    frames.setdefault((str(frame["callid"]), frame["type"]), time.perf_counter())
        except websockets.ConnectionClosed:
            transport_errors.append(f"socket of {extension} closed")

    sockets: dict[str, Any] = {}
    for extension, token in tokens.items():
        sockets[extension] = await websockets.connect(
            f"{stack.ws_url}?token={token}&tab=load-{extension}", open_timeout=30, max_queue=None
        )
    readers = [asyncio.create_task(reader(ext, sock)) for ext, sock in sockets.items()]
    extensions = list(tokens)
    calls: list[Call] = []
    answer_ms: list[float] = []
    retries: list[str] = []

    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:

        async def webhook(call: Call, kind: str) -> None:
            # As a PBX does: a timeout or a 5xx is retried (3 attempts); duplicates are harmless.
            for attempt in range(3):
                if attempt:
                    retries.append(f"{kind} {call.callid}")
                if await send_once(call, kind):
                    return

        async def send_once(call: Call, kind: str) -> bool:
            started = time.perf_counter()
            try:
                if kind == "incoming_call":
                    params = {"secret": tenant.pbx_secret, "phone": PHONE, "extension": call.extension}
                    answer = await http.get(
                        f"/wsapi/{tenant.customer}/{kind}", params={**params, "callid": call.callid}
                    )
                else:
                    calldate = datetime.now(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M:%S")
                    body = {
                        "callid": call.callid,
                        "calldate": calldate,
                        "extension": call.extension,
                        "phone": PHONE,
                        "duration": 12,
                        "billsec": 8,
                        "status": "ANSWERED",
                        "recording": "",
                    }
                    answer = await http.post(
                        f"/wsapi/{tenant.customer}/{kind}", params={"secret": tenant.pbx_secret}, json=body
                    )
            except httpx.HTTPError as error:
                transport_errors.append(f"{kind} {call.callid}: {type(error).__name__}")
                return False
            answer_ms.append((time.perf_counter() - started) * 1000)
            if answer.status_code >= 500:
                return False
            call.answers.append(answer.status_code)
            return True

        async def one_call(call: Call) -> None:
            call.sent_at, call.sent_wall = time.perf_counter(), time.time()
            await webhook(call, "incoming_call")
            await asyncio.sleep(config.talk)
            await webhook(call, "call_answered")

        started = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        total = max(1, int(config.duration * config.rate))
        for index in range(total):
            # A fixed rate: call i starts at i/rate, whatever the earlier calls are doing.
            delay = started + index / config.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            call = Call(callid=f"{time.time():.6f}.{index}", extension=extensions[index % len(extensions)])
            calls.append(call)
            tasks.append(asyncio.create_task(one_call(call)))
        await asyncio.gather(*tasks)
        sending_seconds = time.perf_counter() - started

    # Popups go out before the webhook answers; a bounded wait covers frames still on the wire.
    deadline = time.monotonic() + min(config.drain, 10)
    expected = {(c.callid, t) for c in calls for t in ("call.ringing", "call.ended")}
    while time.monotonic() < deadline and not expected <= frames.keys():
        await asyncio.sleep(0.1)
    for task in readers:
        task.cancel()
    for socket in sockets.values():
        await socket.close()
    popup_ms = [
        (frames[(c.callid, "call.ringing")] - c.sent_at) * 1000
        for c in calls
        if (c.callid, "call.ringing") in frames
    ]
    return {
        "calls": calls,
        "sending_seconds": sending_seconds,
        "answer_ms": answer_ms,
        "popup_ms": popup_ms,
        "popups_expected": len(expected),
        "popups_delivered": len(expected & frames.keys()),
        "misrouted": misrouted,
        "transport_errors": transport_errors,
        "retries": retries,
    }


def stored_calls(stack: RunningStack, tenant: Tenant, callids: set[str]) -> dict[str, dict[str, Any]]:
    """The tenant's calls as the CRM reads them (``GET /v1/calls``, every page), keyed by callid."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    with httpx.Client(base_url=stack.http_url, timeout=30, headers={"X-Api-Key": tenant.api_key}) as client:
        for _ in range(1 + len(callids) // 100 + 5):  # bounded: pages of 200
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/calls", params=params)
            page.raise_for_status()
            body = page.json()
            found.update({item["callid"]: item for item in body["items"]})
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return found


def crm_deliveries(
    crm: CrmServer, calls: list[Call], wait: float
) -> tuple[dict[tuple[str, str], float], int]:
    """Distinct events the CRM accepted: (callid, type) -> first arrival (wall time); waits ``wait`` s."""
    wanted = {(c.callid, t) for c in calls for t in ("call.ringing", "call.ended")}
    deadline = time.monotonic() + wait
    while True:
        received: dict[tuple[str, str], float] = {}
        for request in crm.accepted():
            body = request.json()
            key = (str(body.get("callid")), str(body.get("type")))
            received.setdefault(key, request.at)
        if wanted <= received.keys() or time.monotonic() > deadline:
            return received, len(crm.requests)
        time.sleep(0.25)


def run_load(stack: RunningStack, config: LoadConfig) -> dict[str, Any]:
    """The whole measure on a running stack; answers the result document."""
    config.check()
    crm = CrmServer().start()
    try:
        tenant, tokens = prepare(stack, crm, config.agents)
        load_before = os.getloadavg()
        client = asyncio.run(drive(stack, tenant, tokens, config))
        calls: list[Call] = client["calls"]
        delivered, crm_requests = crm_deliveries(crm, calls, config.drain)
        load_after = os.getloadavg()
    finally:
        crm.stop()
    callids = {c.callid for c in calls}
    stored = stored_calls(stack, tenant, callids)
    complete = {
        callid
        for callid, item in stored.items()
        if item.get("status") == "ANSWERED"
        and item.get("direction") == "inbound"
        and item.get("duration") == 12
    }
    by_id = {c.callid: c for c in calls}
    crm_ms = [
        (at - by_id[callid].sent_wall) * 1000
        for (callid, kind), at in delivered.items()
        if callid in by_id and kind == "call.ringing"
    ]
    # A webhook fails when its last attempt did not answer 200 (a 4xx, or 3 timeouts/5xx in a row)
    webhook_errors = sum(2 - sum(1 for status in c.answers if status == 200) for c in calls)
    deliveries_expected = 2 * len(calls)
    deliveries = len({key for key in delivered if key[0] in callids})
    lost = {
        "calls": len(callids - complete),
        "popups": client["popups_expected"] - client["popups_delivered"],
        "crm_deliveries": deliveries_expected - deliveries,
    }
    return {
        "measured_at": datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "config": {
            "agents": config.agents,
            "rate_calls_per_second": config.rate,
            "duration_seconds": config.duration,
            "talk_seconds": config.talk,
        },
        "sent": {
            "calls": len(calls),
            "webhooks": 2 * len(calls),
            "webhooks_ok": sum(1 for c in calls for s in c.answers if s == 200),
            "pbx_retries": len(client["retries"]),
            "seconds": round(client["sending_seconds"], 1),
            "calls_per_second": round(len(calls) / client["sending_seconds"], 2),
        },
        "stored": {"calls": len(callids & stored.keys()), "complete": len(complete)},
        "popups": {"expected": client["popups_expected"], "delivered": client["popups_delivered"]},
        "crm": {"expected": deliveries_expected, "delivered": deliveries, "requests": crm_requests},
        "latency": {
            "webhook_answer": _stats(client["answer_ms"]),
            "popup": _stats(client["popup_ms"]),
            "crm_delivery": _stats(crm_ms),
        },
        "errors": {
            "webhooks_not_200": webhook_errors,
            "transport_attempts": len(client["transport_errors"]),
            "misrouted_popups": len(client["misrouted"]),
            "examples": (client["transport_errors"] + client["misrouted"])[:5],
        },
        "lost": lost,
        "ok": not any(lost.values()) and webhook_errors == 0 and not client["misrouted"],
    }


def print_summary(result: dict[str, Any]) -> None:
    config, latency = result["config"], result["latency"]
    print(
        f"\nload: {config['agents']} agents, {config['rate_calls_per_second']} calls/s for "
        f"{config['duration_seconds']} s; load average {result['machine']['load_average_1m_before_after']}"
    )
    print(
        f"sent {result['sent']['calls']} calls ({result['sent']['webhooks']} webhooks, "
        f"{result['sent']['webhooks_ok']} ok); stored {result['stored']['complete']}; popups "
        f"{result['popups']['delivered']}/{result['popups']['expected']}; CRM deliveries "
        f"{result['crm']['delivered']}/{result['crm']['expected']}"
    )
    for name, stats in latency.items():
        if stats.get("n"):
            print(
                f"  {name:16} p50 {stats['p50_ms']:8.1f} ms   p99 {stats['p99_ms']:8.1f} ms"
                f"   (n={stats['n']})"
            )
    print(f"errors {result['errors']}; lost {result['lost']}: {'OK' if result['ok'] else 'NOT OK'}")


def main(
    argv: list[str] | None = None, default_out: Path = RESULTS, defaults: LoadConfig | None = None
) -> int:
    defaults = defaults or LoadConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=defaults.agents)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="calls per second")
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds of calls")
    parser.add_argument("--talk", type=float, default=defaults.talk, help="seconds from ring to call log")
    parser.add_argument("--drain", type=float, default=defaults.drain, help="max seconds to wait at the end")
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    config = LoadConfig(args.agents, args.rate, args.duration, args.talk, args.drain)
    try:
        config.check()
    except ValueError as error:
        parser.error(str(error))
    with tempfile.TemporaryDirectory(prefix="load-bench-") as logs:
        stack = start_stack(Path(logs), *STACK_ARGS)
        try:
            result = run_load(stack, config)
        finally:
            stack.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result)
    print(f"-> {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
