"""Cost model: US$ per 1 million calls on AWS list prices, from requests per call measured on the stack.

A small instrumented run on the local stack (``--count-aws-calls``: every AWS API call the functions
make is counted by botocore hooks) sends ``--calls`` calls, each as a PBX does it: ``incoming_call``, then
``call_answered`` with a recording URL (a real WAV served on loopback), to an agent with an open
WebSocket tab, for a tenant that forwards its events to a CRM. Counted per call: HTTP API requests,
Lambda invocations (webhooks + one per SQS message: recording jobs, agents' call-state jobs (batched
by up to 10 on AWS: an upper bound) and CRM deliveries), WebSocket
messages (``PostToConnection``), DynamoDB reads and writes, SQS requests, S3 PUTs, Secrets Manager reads,
and the bytes of log lines the functions print. What one run cannot see is a stated assumption (below):
Lambda billed duration, the average recording's size and how long it is kept, agent connection minutes.

    python -m bench.cost_model.run [--calls 20]

Results go to ``bench/results/cost_model.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

RESULTS = ROOT / "bench" / "results" / "cost_model.json"

# AWS list prices, us-east-1, US$, as published on the AWS pricing pages (on-demand, no free tier,
# first volume tier), last reviewed 2025-06. Check them before quoting a customer.
PRICES_REVIEWED = "2025-06"
PRICES: dict[str, float] = {
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_second_arm64": 0.0000133334,  # per GB-second, arm64
    "http_api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300 M/month
    "websocket_message": 1.00 / 1e6,  # API Gateway WebSocket, per message (32 KB units), first 1 B
    "websocket_connection_minute": 0.25 / 1e6,
    "dynamodb_write_request_unit": 0.625 / 1e6,  # on-demand (prices of Nov 2024)
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "sqs_request_standard": 0.40 / 1e6,  # per 64 KB request
    "sqs_request_fifo": 0.50 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_standard_gb_month": 0.023,
    "s3_standard_ia_gb_month": 0.0125,
    "secrets_manager_api_call": 0.05 / 10_000,
    "cloudwatch_logs_ingested_gb": 0.50,
    # The one public host (template.yaml WebphoneDistribution): HTTPS requests (US/EU, per request) and the
    # viewer-address CloudFront Function every API behaviour runs.
    "cloudfront_https_request": 0.0100 / 10_000,
    "cloudfront_function_invocation": 0.10 / 1e6,
    # Lambda SnapStart for Python (template parameter SnapStart): the snapshot cache, per GB-second
    # for as long as a published version's snapshot is active, and each restore (a cold start), per GB.
    "snapstart_cache_gb_second": 0.0000015046,
    "snapstart_restore_gb": 0.0001397998,
}

# template.yaml's SnapStart functions (SnapStartOn): PBX webhook, $connect, agent login, click-to-call.
SNAPSTART_FUNCTIONS = 4


@dataclass(frozen=True)
class Assumptions:
    """What the local run cannot measure; each is stated in the README next to the result."""

    lambda_memory_mb: int = 512  # template.yaml's Globals.Function.MemorySize
    http_lambda_ms: float = 60.0  # billed duration of a webhook on AWS (warm; ms rounding included)
    worker_lambda_ms: float = 300.0  # a recording download + upload, or a CRM POST
    recording_mb: float = 2.88  # a 3-minute call, 8 kHz 16-bit mono WAV (128 kbit/s)
    retention_days: int = 365  # template default: 30 days S3 Standard, then Standard-IA
    agent_minutes_per_call: float = 8.0  # a WebSocket tab open 8 h for 60 calls a day
    ws_keepalive_messages_per_call: float = 2.0  # ping/pong and sync, amortized over an agent's calls
    write_units_per_write: float = 2.0  # items of 1-2 KB (a call item with its index keys)
    read_units_per_read: float = 1.0  # strongly consistent reads of items under 4 KB


def cost_per_million(per_call: dict[str, float], assumptions: Assumptions) -> dict[str, Any]:
    """US$ per 1,000,000 calls, by service, from counts per call."""
    a = assumptions
    gb = a.lambda_memory_mb / 1024
    invocations = per_call["lambda_http_invocations"] + per_call["lambda_worker_invocations"]
    gb_seconds = gb * (
        per_call["lambda_http_invocations"] * a.http_lambda_ms / 1000
        + per_call["lambda_worker_invocations"] * a.worker_lambda_ms / 1000
    )
    months_standard = min(a.retention_days, 30) / 30
    months_ia = max(0, a.retention_days - 30) / 30
    recording_gb = a.recording_mb / 1024 * per_call["recordings_stored"]
    per_service = {
        "lambda": invocations * PRICES["lambda_request"] + gb_seconds * PRICES["lambda_gb_second_arm64"],
        "api_gateway_http": per_call["http_api_requests"] * PRICES["http_api_request"],
        # An upper bound: every API request through the public host, as a PBX or CRM that changed only the
        # host name sends them (the execute-api URL skips CloudFront).
        "cloudfront": per_call["http_api_requests"]
        * (PRICES["cloudfront_https_request"] + PRICES["cloudfront_function_invocation"]),
        "api_gateway_websocket": (per_call["websocket_messages"] + a.ws_keepalive_messages_per_call)
        * PRICES["websocket_message"]
        + a.agent_minutes_per_call * PRICES["websocket_connection_minute"],
        "dynamodb": per_call["dynamodb_writes"]
        * a.write_units_per_write
        * PRICES["dynamodb_write_request_unit"]
        + per_call["dynamodb_reads"] * a.read_units_per_read * PRICES["dynamodb_read_request_unit"],
        "sqs": per_call["sqs_requests_standard"] * PRICES["sqs_request_standard"]
        + per_call["sqs_requests_fifo"] * PRICES["sqs_request_fifo"],
        "s3": per_call["s3_puts"] * PRICES["s3_put"]
        + per_call["s3_gets"] * PRICES["s3_get"]
        + recording_gb
        * (months_standard * PRICES["s3_standard_gb_month"] + months_ia * PRICES["s3_standard_ia_gb_month"]),
        "secrets_manager": per_call["secrets_reads"] * PRICES["secrets_manager_api_call"],
        "cloudwatch_logs": per_call["log_bytes"] / 1024**3 * PRICES["cloudwatch_logs_ingested_gb"],
    }
    per_million = {name: round(value * 1e6, 2) for name, value in per_service.items()}
    return {"by_service": per_million, "total": round(sum(per_million.values()), 2)}


def snapstart_per_month(
    assumptions: Assumptions, functions: int = SNAPSTART_FUNCTIONS, restores_per_function: int = 3000
) -> dict[str, Any]:
    """SnapStart's price, a fixed cost per month (not per call): the cache of each function's active
    version all month, plus its restores (cold starts; 3000 a month is ~100 a day per function).

    Each deploy publishes new versions (AutoPublishAlias); Lambda deactivates a version's snapshot
    after 14 days without invocations, so a superseded one adds at most ~14 days of cache.
    """
    gb = assumptions.lambda_memory_mb / 1024
    cache = functions * gb * 30 * 24 * 3600 * PRICES["snapstart_cache_gb_second"]
    restores = functions * restores_per_function * gb * PRICES["snapstart_restore_gb"]
    return {
        "functions": functions,
        "memory_mb": assumptions.lambda_memory_mb,
        "restores_per_function_per_month": restores_per_function,
        "cache_usd_per_month": round(cache, 2),
        "restores_usd_per_month": round(restores, 2),
        "total_usd_per_month": round(cache + restores, 2),
    }


# ---------------------------------------------------------------- the instrumented run


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    data = b"\0\0" * int(seconds * rate)
    header = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += rate.to_bytes(4, "little") + (rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little")
    header += (16).to_bytes(2, "little") + b"data" + len(data).to_bytes(4, "little")
    return header + data


class _Recordings:
    def __init__(self) -> None:
        body = _wav()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def measure(calls: int) -> dict[str, Any]:
    import httpx

    from ctibridge.delivery.models import CrmEndpoint
    from ctibridge.delivery.signing import generate_secret
    from ctibridge.tenants.provisioning import TenantAdmin
    from tests.support.crm_server import CrmServer
    from tests.support.delivery import add_endpoint
    from tests.support.hardening import login, provision, stack_environment
    from tests.support.local_stack import start_stack

    recordings, crm = _Recordings(), CrmServer().start()
    with tempfile.TemporaryDirectory(prefix="cost-model-") as logs:
        stack = start_stack(
            Path(logs), "--no-seed", "--count-aws-calls", "--env", "DELIVERY_RETRY_BASE_SECONDS=1"
        )
        try:
            with stack_environment(stack):
                tenant = provision(
                    stack, f"cost{uuid.uuid4().hex[:6]}", ["101"], recording_hosts_allowed=[recordings.host]
                )
                add_endpoint(
                    TenantAdmin(stack.table_name, stack.stage),
                    tenant.customer,
                    CrmEndpoint(id="crm", url=f"{crm.url}/events", allow_private_network=True),
                    signing_secret=generate_secret(),
                )
            with httpx.Client(timeout=30) as client:
                token = login(client, stack, tenant, "101")
                counts = asyncio.run(_calls(stack, tenant, token, calls, recordings.host, crm))
        finally:
            log_bytes = stack.log_path.stat().st_size
            stack.stop()
        crm.stop()
        recordings.server.shutdown()
    counts["log_bytes_total"] = log_bytes - counts.pop("log_bytes_before")
    return counts


async def _calls(stack: Any, tenant: Any, token: str, calls: int, host: str, crm: Any) -> dict[str, Any]:
    import httpx
    import websockets

    async with (
        websockets.connect(f"{stack.ws_url}?token={token}&tab=cost") as socket,
        httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http,
    ):
        # Warm-up call (imports, caches: a warm Lambda), then reset the counters
        await _one_call(http, tenant, f"warm{time.time():.6f}", host)
        await asyncio.sleep(3)
        await http.delete(f"{stack.web_url}/_local/aws-calls")
        crm.clear()
        log_bytes_before = stack.log_path.stat().st_size
        callids = []
        for index in range(calls):
            callid = f"{time.time():.6f}.{index}"
            callids.append(callid)
            await _one_call(http, tenant, callid, host)
        # Wait (bounded) for the queue workers: every recording stored, every event at the CRM
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            delivered = {(r.json().get("callid"), r.json().get("type")) for r in crm.accepted()}
            if (
                sum(
                    1
                    for c in callids
                    for t in ("call.ringing", "call.ended", "recording.ready")
                    if (c, t) in delivered
                )
                == 3 * calls
            ):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        snapshot = (await http.get(f"{stack.web_url}/_local/aws-calls")).json()
        frames = 0
        while True:
            try:
                await asyncio.wait_for(socket.recv(), 0.2)
                frames += 1
            except TimeoutError:
                break
    return {
        "calls": calls,
        "operations": snapshot["operations"],
        "sqs_queues": snapshot.get("sqs_queues", {}),
        "crm_requests": len(crm.requests),
        "frames_received": frames,
        "log_bytes_before": log_bytes_before,
    }


async def _one_call(http: Any, tenant: Any, callid: str, host: str) -> None:
    params = {"secret": tenant.pbx_secret, "callid": callid, "phone": "0904824242", "extension": "101"}
    (await http.get(f"/wsapi/{tenant.customer}/incoming_call", params=params)).raise_for_status()
    body = {
        "callid": callid,
        "calldate": datetime.now(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M:%S"),
        "extension": "101",
        "phone": "0904824242",
        "duration": 180,
        "billsec": 170,
        "status": "ANSWERED",
        "recording": f"http://{host}/{callid}.wav",
    }
    answer = await http.post(
        f"/wsapi/{tenant.customer}/call_answered", params={"secret": tenant.pbx_secret}, json=body
    )
    answer.raise_for_status()


def per_call_counts(measured: dict[str, Any]) -> dict[str, float]:
    """The counts a call costs, from the instrumented run."""
    ops: dict[str, int] = measured["operations"]
    n = measured["calls"]

    def total(prefix: str, names: tuple[str, ...] | None = None) -> int:
        return sum(
            v for k, v in ops.items() if k.startswith(prefix) and (names is None or k.split(".")[1] in names)
        )

    writes = total("dynamodb.", ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"))
    writes += 2 * total("dynamodb.", ("TransactWriteItems",))  # transactions cost double
    reads = total("dynamodb.", ("GetItem", "Query", "BatchGetItem"))
    sqs_sends = total("sqs.", ("SendMessage", "SendMessageBatch"))
    queues: dict[str, int] = measured.get("sqs_queues", {})
    fifo_sends = sum(v for k, v in queues.items() if k.startswith("SendMessage") and k.endswith(" fifo"))
    fifo_share = fifo_sends / sqs_sends if sqs_sends else 0.0
    # The local pollers' empty receives are not what Lambda's event source mapping does; count one
    # receive and one delete per message (batch size 1), plus the workers' visibility changes.
    sqs_requests = 3 * sqs_sends + total("sqs.", ("ChangeMessageVisibility",))
    return {
        "http_api_requests": 2.0,  # incoming_call + call_answered
        "lambda_http_invocations": 2.0,
        "lambda_worker_invocations": sqs_sends / n,
        "websocket_messages": total("apigatewaymanagementapi.", ("PostToConnection",)) / n,
        "dynamodb_writes": writes / n,
        "dynamodb_reads": reads / n,
        # The delivery queue is FIFO; the recording and call-state queues standard (counted by queue URL)
        "sqs_requests_fifo": sqs_requests / n * fifo_share,
        "sqs_requests_standard": sqs_requests / n * (1 - fifo_share),
        "s3_puts": total("s3.", ("PutObject", "CreateMultipartUpload", "UploadPart")) / n,
        "s3_gets": total("s3.", ("GetObject",)) / n,
        "recordings_stored": total("s3.", ("PutObject",)) / n,
        "secrets_reads": total("secretsmanager.", ("GetSecretValue",)) / n,
        "log_bytes": measured["log_bytes_total"] / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 500:
        parser.error("keep it bounded: 1..500 calls")
    measured = measure(args.calls)
    per_call = per_call_counts(measured)
    assumptions = Assumptions()
    cost = cost_per_million(per_call, assumptions)
    result = {
        "measured_at": datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds"),
        "prices": {"region": "us-east-1", "reviewed": PRICES_REVIEWED, "usd": PRICES},
        "assumptions": asdict(assumptions),
        "measured": {k: v for k, v in measured.items() if k != "operations"},
        "aws_operations": measured["operations"],
        "per_call": {k: round(v, 3) for k, v in per_call.items()},
        "usd_per_million_calls": cost,
        # Not per call: a fixed monthly cost when the SnapStart parameter is Enabled (the default).
        "snapstart_usd_per_month": snapstart_per_month(assumptions),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\ncost per 1M calls (us-east-1, prices reviewed {PRICES_REVIEWED}): ${cost['total']:,.2f}")
    for name, value in cost["by_service"].items():
        print(f"  {name:24} ${value:>10,.2f}")
    print(f"per call: {result['per_call']}")
    print(f"SnapStart (Enabled): ${result['snapstart_usd_per_month']['total_usd_per_month']:,.2f} a month")
    return 0


if __name__ == "__main__":
    sys.exit(main())
