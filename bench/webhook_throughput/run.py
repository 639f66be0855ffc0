"""Webhook throughput: N simulated calls through the local stack's PBX webhooks with concurrency C.

Each call is what a PBX sends: ``incoming_call`` (GET, query string) then ``call_answered`` (POST,
JSON body); a share of the call logs is delivered twice, as PBX retries are. Calls carry no recording
URL, so the recording fetcher stays idle and every DynamoDB call counted is a webhook's.

Figures (printed, and written to ``bench/results/webhook_throughput.json``):

* **webhooks/s**: webhooks answered ÷ wall time of the run;
* **handler latency p50/p99**: the local API gateway's own measure of each request (``x-local-duration-ms``:
  event built, function run, answer), and the client's round trip for reference;
* **DynamoDB calls per webhook**: the stack runs with ``--count-aws-calls``, which registers a botocore
  ``before-call`` hook on every boto3 session of the stack process (``ctibridge_local.aws_calls``);
  the counts are read at ``{web_url}/_local/aws-calls`` after the run (reset after the warm-up, so a cold
  tenant lookup is not counted, as in a warm Lambda) and divided by the webhooks sent. The webhook
  function's own calls (what the PBX waits for) are the target; the queue consumers' calls made for the
  same webhooks (the agents' call state) are reported beside them;
* **lost**: calls sent minus calls stored complete (both events merged), read back from the table
  with a Query on the tenant's by-date index — never a Scan;
* **raw moto put_item/s**: in the same run, C threads put items of the same size straight into the same
  moto server. The bridge does one conditional UpdateItem per webhook plus HTTP, parsing, validation
  and auth, so this is its ceiling on this machine; the target is at least half of it.

Targets: 0 lost, <= 2 DynamoDB calls per webhook, bridge webhooks/s >= 50% of raw put_item/s.

    python -m bench.webhook_throughput.run [--calls 300] [--concurrency 8] [--retry-share 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import boto3  # noqa: E402
import httpx  # noqa: E402

from tests.support.local_stack import REGION, RunningStack, start_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "webhook_throughput.json"
CUSTOMER = "demo"
SECRET = "demo-secret"
WARMUP_CALLS = 10
TARGET_RATIO = 0.5
TARGET_DDB_PER_WEBHOOK = 2.0
WEBHOOK_FUNCTION = "PbxWebhookFunction"


def _percentile(samples: list[float], p: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _stats(samples: list[float]) -> dict[str, float]:
    return {
        "p50": _percentile(samples, 50),
        "p90": _percentile(samples, 90),
        "p99": _percentile(samples, 99),
        "max": round(max(samples), 2) if samples else 0.0,
        "mean": round(statistics.fmean(samples), 2) if samples else 0.0,
    }


@dataclass
class Run:
    webhooks: int = 0
    errors: list[str] = field(default_factory=list)
    handler_ms: list[float] = field(default_factory=list)
    round_trip_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call_events(
    callid: str, phone: str, extension: str, retry: bool
) -> list[tuple[str, str, dict[str, Any]]]:
    calldate = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S")
    log = {
        "callid": callid,
        "calldate": calldate,
        "extension": extension,
        "phone": phone,
        "duration": 42,
        "billsec": 35,
        "status": "ANSWERED",
        "recording": "",
        "userfield": "bench",
    }
    events: list[tuple[str, str, dict[str, Any]]] = [
        (
            "GET",
            "incoming_call",
            {"params": {"secret": SECRET, "phone": phone, "extension": extension, "callid": callid}},
        ),
        ("POST", "call_answered", {"params": {"secret": SECRET}, "json": log}),
    ]
    if retry:
        events.append(events[-1])
    return events


def drive(http_url: str, calls: list[tuple[str, str, str, bool]], concurrency: int) -> tuple[Run, float]:
    """Play ``calls`` with ``concurrency`` workers; returns the run and its wall time in seconds."""
    run = Run()
    work: queue.Queue[tuple[str, str, str, bool]] = queue.Queue()
    for call in calls:
        work.put(call)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.Client(base_url=http_url, timeout=30.0, limits=limits)

    def worker() -> None:
        while True:
            try:
                callid, phone, extension, retry = work.get_nowait()
            except queue.Empty:
                return
            for method, kind, kwargs in _call_events(callid, phone, extension, retry):
                started = time.perf_counter()
                try:
                    response = client.request(method, f"/wsapi/{CUSTOMER}/{kind}", **kwargs)
                except httpx.HTTPError as error:
                    with run.lock:
                        run.errors.append(f"{kind}: {type(error).__name__}")
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                with run.lock:
                    run.webhooks += 1
                    run.round_trip_ms.append(elapsed)
                    run.handler_ms.append(float(response.headers.get("x-local-duration-ms", elapsed)))
                    if response.status_code != 200:
                        run.errors.append(f"{kind}: HTTP {response.status_code} {response.text[:100]}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    client.close()
    return run, wall


def raw_put_items(stack: RunningStack, count: int, concurrency: int) -> tuple[float, list[float]]:
    """``count`` put_item calls of call-sized items from ``concurrency`` threads; (items/s, latencies ms)."""
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    client = session.client("dynamodb", endpoint_url=stack.moto_url)
    table = stack.resource_name("Table")
    run_id = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def item(n: int) -> dict[str, Any]:
        callid = f"raw-{run_id}-{n}"
        sort_key = f"2024-05-01T08:00:00.000Z#{callid}"
        text = {
            "PK": f"TENANT#rawbench#CALL#{callid}",
            "SK": "CALL",
            "GSI1PK": "TENANT#rawbench#CALLS",
            "GSI1SK": sort_key,
            "GSI2PK": "TENANT#rawbench#PHONE#+84904824242",
            "GSI2SK": sort_key,
            "GSI3PK": "TENANT#rawbench#EXT#101",
            "GSI3SK": sort_key,
            "callid": callid,
            "phone": "0904824242",
            "phone_e164": "+84904824242",
            "extension": "101",
            "status": "ANSWERED",
            "calldate": "2024-05-01T08:00:00Z",
            "userfield": "bench",
        }
        return {k: {"S": v} for k, v in text.items()} | {"duration": {"N": "42"}, "billsec": {"N": "35"}}

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.perf_counter()
            client.put_item(TableName=table, Item=item(n))
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)

    for n in range(5):  # warm the connection pool
        client.put_item(TableName=table, Item=item(count + n))
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return count / wall, latencies


def raw_merge_updates(stack: RunningStack, count: int, concurrency: int) -> tuple[float, list[float]]:
    """``count`` of the webhook's own merge UpdateItems (``calls.merge``), straight into moto.

    A second baseline: moto's cost of an UpdateItem grows with the number of clauses in its update
    expression, so this isolates the storage operation from the bridge's HTTP, parsing and fan-out.
    """
    from datetime import UTC, timedelta

    from ctibridge.calls import merge
    from ctibridge.calls.models import CallEvent, EventKind

    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    table = session.resource("dynamodb", endpoint_url=stack.moto_url).Table(stack.resource_name("Table"))
    run_id = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def event(n: int) -> CallEvent:
        ring = n % 2 == 0
        return CallEvent(
            kind=EventKind.INCOMING if ring else EventKind.ANSWERED,
            callid=f"merge-{run_id}-{n // 2}",
            received_at=now,
            phone="0904824242",
            phone_e164="+84904824242",
            phone_key="+84904824242",
            extension="101",
            calldate=None if ring else now - timedelta(seconds=42),
            calldate_local=None if ring else "2024-05-01 08:00:00",
            duration=None if ring else 42,
            billsec=None if ring else 35,
            status=None if ring else "ANSWERED",
            status_raw=None if ring else "ANSWERED",
            userfield=None if ring else "bench",
        )

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            kwargs = merge.to_update_kwargs(merge.plan("rawbench", event(n)))
            started = time.perf_counter()
            table.update_item(**kwargs, ReturnValues="ALL_NEW")
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started), latencies


def stored_calls(stack: RunningStack, prefix: str) -> tuple[int, int, list[dict[str, Any]]]:
    """(calls stored with ``prefix``, of which complete: ringing merged with the call log, and the
    incomplete ones as stored)."""
    client = stack.client("dynamodb")
    stored = complete = 0
    incomplete: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": stack.resource_name("Table"),
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk",
        "FilterExpression": "begins_with(PK, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"TENANT#{CUSTOMER}#CALLS"},
            ":prefix": {"S": f"TENANT#{CUSTOMER}#CALL#{prefix}"},
        },
    }
    while True:
        page = client.query(**kwargs)
        for item in page["Items"]:
            stored += 1
            ring = item.get("ring", {}).get("M", {})  # the first ring event (calls.merge)
            if (
                ring.get("kind", {}).get("S") == "incoming_call"
                and item.get("status", {}).get("S") == "ANSWERED"
                and "log" in item
            ):
                complete += 1
            else:
                incomplete.append({k: item[k] for k in ("PK", "ring", "status", "event_ids") if k in item})
        if "LastEvaluatedKey" not in page:
            return stored, complete, incomplete
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_for_queues(stack: RunningStack, logical_ids: tuple[str, ...], timeout: float = 120.0) -> bool:
    """Wait until the queue consumers have caught up, so the baselines run on a quiet moto."""
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    sqs = session.client("sqs", endpoint_url=stack.moto_url)
    names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = 0
        for logical_id in logical_ids:
            url = sqs.get_queue_url(QueueName=stack.resource_name(logical_id))["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"]
            pending += sum(int(attributes.get(name, 0)) for name in names)
        if pending == 0:
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="simulated calls (N)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent PBX connections (C)")
    parser.add_argument("--retry-share", type=float, default=0.1, help="share of call logs delivered twice")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as logs:
        print("starting the local stack (with --count-aws-calls)…", flush=True)
        stack = start_stack(Path(logs), "--count-aws-calls")
        try:
            prefix = f"bench-{uuid.uuid4().hex[:8]}-"
            warmup = [(f"{prefix}warm-{n}", "0904824242", "101", False) for n in range(WARMUP_CALLS)]
            drive(stack.http_url, warmup, args.concurrency)
            httpx.delete(f"{stack.web_url}/_local/aws-calls")

            every = max(1, round(1 / args.retry_share)) if args.retry_share > 0 else 0
            calls = [
                (f"{prefix}{n}", f"09{n:08d}", str(101 + n % 20), bool(every) and n % every == 0)
                for n in range(args.calls)
            ]
            print(f"playing {args.calls} calls with concurrency {args.concurrency}…", flush=True)
            run, wall = drive(stack.http_url, calls, args.concurrency)
            drained = wait_for_queues(stack, ("CallStateQueue", "RecordingQueue"))
            counts = httpx.get(f"{stack.web_url}/_local/aws-calls").json()
            stored, complete, incomplete = stored_calls(stack, prefix)
            stored -= WARMUP_CALLS
            complete -= WARMUP_CALLS

            print(f"raw moto put_item with concurrency {args.concurrency}…", flush=True)
            raw_rate, raw_latencies = raw_put_items(stack, run.webhooks, args.concurrency)
            print(f"raw moto merge UpdateItem with concurrency {args.concurrency}…", flush=True)
            merge_rate, merge_latencies = raw_merge_updates(stack, run.webhooks, args.concurrency)
        finally:
            stack.stop()

    webhook_function = counts["by_function"].get(WEBHOOK_FUNCTION, {})
    dynamodb_calls = int(webhook_function.get("services", {}).get("dynamodb", 0))
    rate = run.webhooks / wall if wall else 0.0
    per_webhook = dynamodb_calls / run.webhooks if run.webhooks else 0.0
    timed = counts["dynamodb_families"]  # every function's calls of a family, with their total time

    def ms_per_call(family: str) -> float:
        figures = timed.get(family)
        return round(figures["total_ms"] / figures["calls"], 2) if figures and figures["calls"] else 0.0

    families: dict[str, dict[str, float]] = {
        family: {
            "calls": calls,
            "calls_per_webhook": round(calls / run.webhooks, 3) if run.webhooks else 0.0,
            "ms_per_call": ms_per_call(family),
        }
        for family, calls in sorted(webhook_function.get("dynamodb_families", {}).items())
    }
    # What the queue consumers did for the same webhooks (the agents' call state), per webhook.
    followups = {
        name: round(int(figures["services"].get("dynamodb", 0)) / run.webhooks, 3) if run.webhooks else 0.0
        for name, figures in sorted(counts["by_function"].items())
        if name != WEBHOOK_FUNCTION and figures["services"].get("dynamodb")
    }
    # The call write touches call items; the others are the popup's (the agent's tabs).
    own_calls = sum(f["calls"] for name, f in families.items() if "#CALL#" in name)
    own_per_webhook = own_calls / run.webhooks if run.webhooks else 0.0
    lost = args.calls - complete
    ratio = rate / raw_rate if raw_rate else 0.0
    latency = _stats(run.handler_ms)
    targets = {
        "lost_is_0": lost == 0,
        "dynamodb_calls_per_webhook_le_2": per_webhook <= TARGET_DDB_PER_WEBHOOK,
        "call_log_dynamodb_calls_per_webhook_le_2": own_per_webhook <= TARGET_DDB_PER_WEBHOOK,
        "throughput_ge_50pct_of_raw_put_item": ratio >= TARGET_RATIO,
    }
    result = {
        "benchmark": "webhook_throughput",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 1),
        },
        "parameters": {"calls": args.calls, "concurrency": args.concurrency, "retry_share": args.retry_share},
        "bridge": {
            "webhooks": run.webhooks,
            "errors": len(run.errors),
            "wall_seconds": round(wall, 3),
            "webhooks_per_second": round(rate, 1),
            "handler_latency_ms": latency,
            "round_trip_latency_ms": _stats(run.round_trip_ms),
            "dynamodb_calls": dynamodb_calls,
            "dynamodb_calls_per_webhook": round(per_webhook, 3),
            "call_log_dynamodb_calls_per_webhook": round(own_per_webhook, 3),
            "dynamodb_by_item_family": families,
            "queue_consumers_dynamodb_calls_per_webhook": followups,
            # Every AWS operation per webhook, by the function that made it (SQS sends included).
            "aws_operations_per_webhook": {
                name: {
                    operation: round(n / run.webhooks, 3)
                    for operation, n in sorted(figures["operations"].items())
                }
                for name, figures in sorted(counts["by_function"].items())
            }
            if run.webhooks
            else {},
            "queues_drained": drained,
            "calls_sent": args.calls,
            "calls_stored": stored,
            "calls_stored_complete": complete,
            "incomplete": incomplete,
            "lost": lost,
        },
        "raw_moto_put_item": {
            "items": run.webhooks,
            "items_per_second": round(raw_rate, 1),
            "latency_ms": _stats(raw_latencies),
        },
        "raw_moto_merge_update_item": {
            "items": run.webhooks,
            "updates_per_second": round(merge_rate, 1),
            "latency_ms": _stats(merge_latencies),
        },
        "bridge_vs_raw_ratio": round(ratio, 3),
        "bridge_vs_merge_update_ratio": round(rate / merge_rate, 3) if merge_rate else 0.0,
        "targets": targets,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    lines = [
        f"webhook throughput: {args.calls} calls, {run.webhooks} webhooks, concurrency {args.concurrency}",
        f"  bridge             {rate:>7.1f} webhooks/s"
        f"   handler p50 {latency['p50']} ms, p99 {latency['p99']} ms",
        f"  raw moto put_item  {raw_rate:>7.1f} items/s"
        f"      bridge/raw {ratio:.0%} (target >= {TARGET_RATIO:.0%})",
        f"  raw moto merge     {merge_rate:>7.1f} updates/s    (the webhook's own UpdateItem, alone)",
        f"  DynamoDB calls     {per_webhook:.2f} per webhook, {own_per_webhook:.2f} of them the call log's"
        f" (target <= {TARGET_DDB_PER_WEBHOOK:g})",
        *(
            f"    {name:<32} {f['calls_per_webhook']:.2f}/webhook, {f['ms_per_call']} ms each"
            for name, f in families.items()
        ),
        *(f"    after the answer, {name}: {n:.2f}/webhook" for name, n in followups.items()),
        f"  lost               {lost} (stored complete {complete} of {args.calls}); errors {len(run.errors)}",
        "  targets            " + ", ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in targets.items()),
        f"  results            {args.output}",
    ]
    print("\n" + "\n".join(lines), flush=True)
    for error in run.errors[:5]:
        print(f"  error: {error}")
    return 0 if all(targets.values()) and not run.errors else 1


if __name__ == "__main__":
    sys.exit(main())
