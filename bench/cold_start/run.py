"""Cold start from the layer `sam build` makes: handler import and time to first answer, against boto3.

What Lambda runs is emulated as closely as this machine allows:

- the code is ``sam build``'s output (``.aws-sam/bench-build``, same template, same layer Makefile:
  pinned requirements + unchecked-hash bytecode compiled by python3.13); only the wheels' platform is
  this machine's (``LAYER_PLATFORM``), since an arm64 layer's native modules can't load on x86;
- boto3 comes from a directory of its own (``.aws-sam/bench-runtime``, bytecode compiled), as the
  managed runtime provides it: never the dev venv, whose extras (awscrt) make ``import boto3`` slower;
- every sample is a fresh interpreter (``-I -S -B``: no site-packages, nothing written), whose path is
  the function's code, the layer's ``python/`` and that boto3, like ``/var/task``, ``/opt/python``.

Import: each round runs ``import boto3`` and every handler's import once, in a shuffled order (the
baseline interleaved with the handlers, so both see the same machine load), timed inside the
interpreter. The figure is the median over the rounds. The whole measurement is made twice back to
back (``--passes``) and the results say how far the two passes' ratios are apart (the spread).

First answer (latency-critical functions: PBX webhook with the ring popup to an open tab, WebSocket
$connect, agent login, click-to-call): a fresh interpreter imports the handler and answers one real
event against the local stack's moto (warm: the stack is up and seeded, the function cold), next to a
fresh interpreter doing ``import boto3`` + one DynamoDB ``get_item`` on the same moto, interleaved. Also
its resident memory (VmRSS) after that first answer, to choose MemorySize on evidence. And the library
floor, interleaved too: a one-route function written as Powertools' and pydantic's docs show (Logger,
APIGatewayHttpResolver, one model) answering one request with the baseline's call: what the libraries
this project is built on cost before any code of ours, so the gap to the target can be told apart; and
the same function with the resolver through this project's seam (``ctibridge.http_api``: Powertools'
``event_handler`` package without its ``__init__``), the tighter floor the functions are compared with.

Targets in the same run: every handler import <= 1.3x ``import boto3``; first answer <= 1.5x
(``import boto3`` + one moto call).

    python -m bench.cold_start.run [--rounds 12] [--answer-rounds 7] [--passes 2] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import uuid
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from ctibridge_local.template import parse  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cold_start.json"
BUILD_DIR = ROOT / ".aws-sam" / "bench-build"
RUNTIME_DIR = ROOT / ".aws-sam" / "bench-runtime"
IMPORT_TARGET = 1.3
ANSWER_TARGET = 1.5
# The floor's one request (an HTTP API payload v2 for its single route).
FLOOR_EVENT = {
    "version": "2.0",
    "routeKey": "GET /item",
    "rawPath": "/item",
    "rawQueryString": "",
    "headers": {"host": "bench"},
    "requestContext": {
        "http": {"method": "GET", "path": "/item", "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1"},
        "requestId": "bench",
        "routeKey": "GET /item",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}
# The functions a caller waits on after a quiet night (SnapStart candidates in template.yaml).
CRITICAL = ("PbxWebhookFunction", "WsConnectFunction", "AgentLoginFunction", "ClickToCallFunction")

# One sample in a fresh interpreter: path like Lambda's, time the import (and the first answer).
CHILD = r"""
import json, sys, time
spec = json.loads(sys.stdin.read())
sys.path[:0] = spec["path"]
body = None
started = time.perf_counter()
if spec["kind"] == "boto3":
    import boto3
    imported = time.perf_counter()
    if spec.get("call"):
        client = boto3.client("dynamodb", endpoint_url=spec["call"]["endpoint"])
        client.get_item(TableName=spec["call"]["table"], Key={"PK": {"S": "BENCH"}, "SK": {"S": "BENCH"}})
    status = 200
elif spec["kind"] == "floor":
    # A one-route function written as Powertools' and pydantic's docs show, making the baseline's call;
    # its resolver from Powertools' package (as the docs import it) or through ctibridge.http_api.
    import importlib
    import boto3
    from aws_lambda_powertools import Logger
    APIGatewayHttpResolver = importlib.import_module(spec["resolver_from"]).APIGatewayHttpResolver
    from pydantic import BaseModel
    class Key(BaseModel):
        PK: str
        SK: str
    logger = Logger(service="floor")
    resolver = APIGatewayHttpResolver()
    @resolver.get("/item")
    def item():
        key = Key(PK="BENCH", SK="BENCH")
        client = boto3.client("dynamodb", endpoint_url=spec["call"]["endpoint"])
        wire = {name: {"S": value} for name, value in key.model_dump().items()}
        return {"found": "Item" in client.get_item(TableName=spec["call"]["table"], Key=wire)}
    imported = time.perf_counter()
    status = resolver.resolve(spec["event"], None)["statusCode"]
else:
    import app
    imported = time.perf_counter()
    status = None
    body = None
    if spec.get("event") is not None:
        class Context:
            function_name = spec["function"]
            function_version = "$LATEST"
            memory_limit_in_mb = 512
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
            aws_request_id = spec["request_id"]
            log_group_name = log_stream_name = "bench"
            def get_remaining_time_in_millis(self):
                return 6000
        answer = app.handler(spec["event"], Context())
        status = answer.get("statusCode")
        body = str(answer.get("body"))[:300]
answered = time.perf_counter()
rss_kb = 0
with open("/proc/self/status") as proc:
    for line in proc:
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
print(json.dumps({"import_s": imported - started, "total_s": answered - started, "status": status,
                  "rss_kb": rss_kb, "body": body}))
"""


def _host_platform() -> str:
    return "manylinux2014_aarch64" if platform.machine() in ("aarch64", "arm64") else "manylinux2014_x86_64"


def build() -> None:
    """`sam build` of the template into BUILD_DIR, the layer's wheels for this machine's platform."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "LAYER_PLATFORM": _host_platform(),
    }
    env["SAM_CLI_TELEMETRY"] = "0"
    subprocess.run(
        # --no-cached: samconfig's build cache is keyed by the sources, not LAYER_PLATFORM; this build
        # must neither reuse an arm64 layer nor leave one for this machine where `make build` finds it.
        [str(Path(venv_bin) / "sam"), "build", "--no-cached", "--build-dir", str(BUILD_DIR)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not RUNTIME_DIR.exists():
        # boto3 as the managed runtime ships it (the version of the dev venv), with bytecode.
        import boto3

        target = RUNTIME_DIR.with_suffix(".tmp")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                f"boto3=={boto3.__version__}",
            ],
            check=True,
        )
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True)
        target.rename(RUNTIME_DIR)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "TABLE_NAME": "bench",
        "STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "ctibridge",
        "POWERTOOLS_METRICS_NAMESPACE": "CTIBridge",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


def _sample(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    # The child's path: no cwd, no site-packages; Lambda's order (function, layer, runtime's boto3).
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", CHILD],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec.get('function', 'boto3')} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _path(function: str | None) -> list[str]:
    path = [str(BUILD_DIR / "SharedLayer" / "python"), str(RUNTIME_DIR)]
    return [str(BUILD_DIR / function), *path] if function else path


# ---------------------------------------------------------------- import


def measure_imports(functions: list[str], rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in ["boto3", *functions]}
    for _ in range(rounds):
        order = ["boto3", *functions]
        random.shuffle(order)
        for name in order:
            spec = {"kind": "boto3"} if name == "boto3" else {"kind": "handler", "function": name}
            spec["path"] = _path(None if name == "boto3" else name)
            samples[name].append(_sample(spec, _env())["import_s"] * 1000)
    return samples


def _import_pass(functions: list[str], rounds: int) -> dict[str, Any]:
    samples = measure_imports(functions, rounds)
    boto3_ms = statistics.median(samples["boto3"])
    rows = {}
    for name in functions:
        ms = statistics.median(samples[name])
        quartiles = statistics.quantiles(samples[name], n=4)
        rows[name] = {
            "import_ms": round(ms, 1),
            "iqr_ms": [round(quartiles[0], 1), round(quartiles[2], 1)],
            "ratio_to_boto3": round(ms / boto3_ms, 3),
        }
    return {"boto3_import_ms": round(boto3_ms, 1), "functions": rows}


# ---------------------------------------------------------------- first answer


class Scenario:
    """One real first event per latency-critical function, on the local stack's seeded demo tenant."""

    def __init__(self, stack: Any) -> None:
        import boto3

        self.stack = stack
        self.free_agents: list[str] = []
        sqs = boto3.client(
            "sqs", endpoint_url=stack.moto_url, region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip
        from ctibridge_local.resources import physical_name

        def queue(logical_id: str) -> str:
            name = physical_name(stack.stage, logical_id)
            name += ".fifo" if logical_id == "DeliveryQueue" else ""
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        self.env = _env(
            {
                "AWS_ENDPOINT_URL": stack.moto_url,
                "TABLE_NAME": stack.table_name,
                "STAGE": stack.stage,
                "RECORDING_QUEUE_URL": queue("RecordingQueue"),
                "DELIVERY_QUEUE_URL": queue("DeliveryQueue"),
                "CALL_STATE_QUEUE_URL": queue("CallStateQueue"),
                "WEBSOCKET_CALLBACK_URL": stack.callback_url,
                "REALTIME_WS_URL": stack.ws_url,
            }
        )

    def add_agents(self, count: int) -> None:
        """Fresh agents for click-to-call: an agent with a request in progress is busy (409). Softphone
        agents: the call goes out through the PBX's click2call (the stack's PBX simulator), over httpx."""
        from ctibridge.tenants.models import DeviceType
        from ctibridge.tenants.repository import TenantRepository
        from ctibridge_cli.demo import DEMO_CUSTOMER
        from tests.support.hardening import stack_environment

        with stack_environment(self.stack):
            repository = TenantRepository(self.stack.table_name)
            for index in range(count):
                extension = str(3000 + index)
                repository.create_agent(
                    DEMO_CUSTOMER,
                    extension,
                    display_name=f"Bench {extension}",
                    device_type=DeviceType.SOFTPHONE,
                )
                self.free_agents.append(extension)

    def event(self, function: str) -> dict[str, Any]:
        from ctibridge_cli.demo import DEMO_API_KEY, DEMO_JWT_ACCESS_KEY, DEMO_PBX_SECRET

        folder = ROOT / "events"
        if function == "PbxWebhookFunction":
            event = json.loads((folder / "pbx_webhooks" / "incoming_call.json").read_text())
            callid = f"bench-{uuid.uuid4().hex[:12]}"
            query = {"secret": DEMO_PBX_SECRET, "phone": "0901234567", "extension": "101", "callid": callid}
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
            event.pop("body", None)
            event["requestContext"]["http"]["method"] = "GET"
            event["routeKey"] = event["requestContext"]["routeKey"] = "GET /wsapi/{customer}/incoming_call"
            return event
        if function == "WsConnectFunction":
            event = json.loads((folder / "ws_connect" / "connect.json").read_text())
            query = {"token": self.session_token(), "tab": f"bench-{uuid.uuid4().hex[:8]}", "device": "1"}
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
            event["requestContext"]["connectionId"] = f"bench{uuid.uuid4().hex[:10]}="
            return event
        if function == "AgentLoginFunction":
            import jwt

            event = json.loads((folder / "agent_login" / "login.json").read_text())
            expired = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=8)).strftime(
                "%Y-%m-%d %H:%M:%S"
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                token = jwt.encode(
                    {"ipphone": "102", "expired": expired}, DEMO_JWT_ACCESS_KEY, algorithm="HS256"
                )
            event["body"] = json.dumps({"token": token})
            event["isBase64Encoded"] = False
            return event
        if function == "ClickToCallFunction":
            event = json.loads((folder / "click_to_call" / "create_outbound.json").read_text())
            event["headers"] = {**event["headers"], "x-api-key": DEMO_API_KEY}
            event["headers"].pop("authorization", None)
            event["headers"].pop("idempotency-key", None)
            event["body"] = json.dumps({"extension": self.free_agents.pop(), "phone": "0901234567"})
            event["isBase64Encoded"] = False
            return event
        raise KeyError(function)

    def session_token(self) -> str:
        import httpx
        import jwt

        from ctibridge_cli.demo import DEMO_DOMAIN, DEMO_JWT_ACCESS_KEY

        expired = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=8)).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            token = jwt.encode({"ipphone": "101", "expired": expired}, DEMO_JWT_ACCESS_KEY, algorithm="HS256")
        answer = httpx.post(
            f"{self.stack.http_url}/{DEMO_DOMAIN}/thirdParty/login", json={"token": token}, timeout=30
        )
        answer.raise_for_status()
        return str(answer.json()["user"]["token"])


# The library floors' resolvers: as Powertools' docs import it, and through this project's seam.
FLOORS = {"floor": "aws_lambda_powertools.event_handler", "floor_seams": "ctibridge.http_api"}


def baseline_spec(scenario: Scenario, name: str = "boto3") -> dict[str, Any]:
    """A sample of the baseline (``boto3``: import + one get_item) or of a library floor (``FLOORS``)."""
    return {
        "kind": "boto3" if name == "boto3" else "floor",
        "resolver_from": FLOORS.get(name),
        "path": _path(None),
        "call": {"endpoint": scenario.stack.moto_url, "table": scenario.stack.table_name},
        "event": FLOOR_EVENT,
    }


def answer_spec(scenario: Scenario, function: str) -> dict[str, Any]:
    """A sample of ``function``'s first answer to a fresh event, in a fresh interpreter."""
    return {
        "kind": "handler",
        "function": function,
        "path": _path(function),
        "event": scenario.event(function),
        "request_id": str(uuid.uuid4()),
    }


def measure_answers(scenario: Scenario, rounds: int) -> dict[str, Any]:
    from websockets.sync.client import connect

    names = ["boto3", *FLOORS, *CRITICAL]
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    # An open tab of agent 101 on the stack: the webhook's first answer includes its ring popup.
    with connect(
        f"{scenario.stack.ws_url}?token={scenario.session_token()}&tab=bench-popup", open_timeout=30
    ) as tab:
        for _ in range(rounds):
            order = list(names)
            random.shuffle(order)
            for name in order:
                spec = (
                    baseline_spec(scenario, name)
                    if name == "boto3" or name in FLOORS
                    else answer_spec(scenario, name)
                )
                sample = _sample(spec, scenario.env)
                if sample["status"] not in (200, 202):
                    raise RuntimeError(f"{name} answered {sample['status']}: {sample.get('body')}")
                if name == "PbxWebhookFunction":
                    frame = json.loads(tab.recv(timeout=10))  # the popup reached the tab
                    while frame.get("type") != "call.ringing":
                        frame = json.loads(tab.recv(timeout=10))
                samples[name].append(sample)
    base = statistics.median(s["total_s"] for s in samples["boto3"]) * 1000
    floors = {name: statistics.median(s["total_s"] for s in samples[name]) * 1000 for name in FLOORS}
    floor = floors["floor_seams"]
    rows = {}
    for name in CRITICAL:
        total = statistics.median(s["total_s"] for s in samples[name]) * 1000
        rows[name] = {
            "first_answer_ms": round(total, 1),
            "of_which_import_ms": round(statistics.median(s["import_s"] for s in samples[name]) * 1000, 1),
            "ratio_to_boto3_call": round(total / base, 3),
            "ratio_to_library_floor_with_seams": round(total / floor, 3),
            "rss_after_first_answer_mb": round(
                statistics.median(s["rss_kb"] for s in samples[name]) / 1024, 1
            ),
        }
    return {
        "boto3_import_and_one_call_ms": round(base, 1),
        "library_floor_ms": round(floors["floor"], 1),
        "library_floor_ratio_to_boto3_call": round(floors["floor"] / base, 3),
        "library_floor_with_seams_ms": round(floor, 1),
        "library_floor_with_seams_ratio_to_boto3_call": round(floor / base, 3),
        "boto3_rss_mb": round(statistics.median(s["rss_kb"] for s in samples["boto3"]) / 1024, 1),
        "functions": rows,
    }


def _spread(passes: list[dict[str, Any]], key: str) -> float:
    """The largest relative difference between two passes' ratios, over the functions."""
    worst = 0.0
    for name in passes[0]["functions"]:
        ratios = [p["functions"][name][key] for p in passes]
        worst = max(worst, (max(ratios) - min(ratios)) / min(ratios))
    return round(worst, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="import samples per function, per pass")
    parser.add_argument(
        "--answer-rounds", type=int, default=7, help="first-answer samples per function, per pass"
    )
    parser.add_argument(
        "--passes", type=int, default=2, help="back-to-back passes (their agreement is the spread)"
    )
    parser.add_argument("--no-build", action="store_true", help="reuse .aws-sam/bench-build")
    args = parser.parse_args()
    if not args.no_build or not BUILD_DIR.exists():
        build()
    functions = sorted(parse().functions)
    import_passes = [_import_pass(functions, args.rounds) for _ in range(args.passes)]

    from tests.support.local_stack import start_stack

    with tempfile.TemporaryDirectory() as logs:
        stack = start_stack(Path(logs))
        try:
            scenario = Scenario(stack)
            scenario.add_agents(args.answer_rounds * args.passes)
            answer_passes = [measure_answers(scenario, args.answer_rounds) for _ in range(args.passes)]
        finally:
            stack.stop()

    last_import, last_answer = import_passes[-1], answer_passes[-1]
    worst_import = max(
        max(p["functions"][name]["ratio_to_boto3"] for p in import_passes) for name in functions
    )
    worst_answer = max(
        max(p["functions"][name]["ratio_to_boto3_call"] for p in answer_passes) for name in CRITICAL
    )
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "layer": str(BUILD_DIR.relative_to(ROOT) / "SharedLayer"),
        "import_target_ratio": IMPORT_TARGET,
        "first_answer_target_ratio": ANSWER_TARGET,
        "rounds": args.rounds,
        "answer_rounds": args.answer_rounds,
        "passes": args.passes,
        "import": {
            "passes": import_passes,
            "spread_between_passes": _spread(import_passes, "ratio_to_boto3"),
            "worst_ratio": worst_import,
        },
        "first_answer": {
            "passes": answer_passes,
            "spread_between_passes": _spread(answer_passes, "ratio_to_boto3_call"),
            "worst_ratio": worst_answer,
        },
        "import_within_target": worst_import <= IMPORT_TARGET,
        "first_answer_within_target": worst_answer <= ANSWER_TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"import boto3 alone: {last_import['boto3_import_ms']} ms (last pass)")
    print(f"{'function':28} {'import ms':>10} {'x boto3':>8}")
    for name, row in last_import["functions"].items():
        flag = "" if row["ratio_to_boto3"] <= IMPORT_TARGET else "  over target"
        print(f"{name:28} {row['import_ms']:>10} {row['ratio_to_boto3']:>8}{flag}")
    print(f"import boto3 + one moto call: {last_answer['boto3_import_and_one_call_ms']} ms")
    print(
        f"library floor (one-route Powertools + pydantic function, same call):"
        f" {last_answer['library_floor_ms']} ms"
        f" = {last_answer['library_floor_ratio_to_boto3_call']}x;"
        f" with the resolver through ctibridge.http_api: {last_answer['library_floor_with_seams_ms']} ms"
        f" = {last_answer['library_floor_with_seams_ratio_to_boto3_call']}x"
    )
    print(f"{'function':28} {'answer ms':>10} {'x base':>8} {'RSS MB':>7}")
    for name, row in last_answer["functions"].items():
        flag = "" if row["ratio_to_boto3_call"] <= ANSWER_TARGET else "  over target"
        print(
            f"{name:28} {row['first_answer_ms']:>10} {row['ratio_to_boto3_call']:>8}"
            f" {row['rss_after_first_answer_mb']:>7}{flag}"
        )
    print(
        f"spread between passes: import {result['import']['spread_between_passes']:.1%},"
        f" first answer {result['first_answer']['spread_between_passes']:.1%}"
    )
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
