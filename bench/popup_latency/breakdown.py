"""Where the popup path's CPU goes: each step timed alone, in one process, against moto's in-process mock
(with the local stack's patches, ``ctibridge_local.moto_server``).

Wall-clock latency on a shared machine follows CPU time: a step that needs 40 ms of CPU waits for that
much CPU whatever else runs. Timed with ``time.process_time`` (this process's CPU, moto's included, as
moto runs in-process here), median of ``--repeat`` runs. Prints one JSON object; ``run.py`` stores it.

    python -m bench.popup_latency.breakdown [--repeat 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


def _cpu_ms(step: Callable[[int], Any], repeat: int) -> float:
    samples = []
    for index in range(repeat):
        started = time.process_time()
        step(index)
        samples.append((time.process_time() - started) * 1000)
    return round(statistics.median(samples), 2)


def measure(repeat: int) -> dict[str, float]:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": "ctibridge-bench",
            "STAGE": "bench",
            "WEBSOCKET_CALLBACK_URL": "https://bench.execute-api.us-east-1.amazonaws.com/bench",
            "RECORDING_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_METRICS_NAMESPACE": "bench",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from ctibridge_local import moto_server

    moto_server.install()  # the local stack's moto, whose costs these are

    with mock_aws():
        from ctibridge import aws, connections, push
        from ctibridge.calls import repository as calls_repository
        from ctibridge.realtime import fanout, presence
        from ctibridge_cli.demo import seed_demo_tenant
        from tests.support.aws import create_table_from_template, http_event
        from tests.support.handlers import load_handler

        create_table_from_template("ctibridge-bench")
        seed_demo_tenant("ctibridge-bench", "bench")
        # The webhook queues the agent's call state; its consumer's cost is timed apart below.
        os.environ["CALL_STATE_QUEUE_URL"] = aws.client("sqs").create_queue(QueueName="bench-call-state")[
            "QueueUrl"
        ]

        class _Posts:  # the @connections API's own cost is not moto's; see the run's wall figures
            def post_to_connection(self, **_: Any) -> dict[str, Any]:
                return {}

        push.management_api = lambda: _Posts()
        presence.connect(connections.new("bench-conn", "demo", "101", "bench", 1))

        store_ms: list[float] = []
        record_event = calls_repository.CallRepository.record_event

        def timed_record_event(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return record_event(self, *args, **kwargs)
            finally:
                store_ms.append((time.process_time() - started) * 1000)

        calls_repository.CallRepository.record_event = timed_record_event  # type: ignore[method-assign]
        handler = load_handler("pbx_webhooks")

        class _Context:
            function_name = "bench"
            memory_limit_in_mb = 512
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
            aws_request_id = "bench"

            def get_remaining_time_in_millis(self) -> int:
                return 5000

        def webhook(index: int) -> None:
            event = http_event(
                "GET",
                "/wsapi/demo/incoming_call",
                route="/wsapi/{customer}/incoming_call",
                path_parameters={"customer": "demo"},
                query={
                    "secret": "demo-secret",
                    "phone": "0901234567",
                    "extension": "101",
                    "callid": f"b{index}",
                },
            )
            assert handler(event, _Context())["statusCode"] == 200

        dynamodb = aws.client("dynamodb")
        webhook(-1)  # warm
        return {
            "webhook_handler_total": _cpu_ms(webhook, repeat),
            "of_which_store_call_update_item": round(statistics.median(store_ms[1:]), 2),
            "popup_fanout_query_and_post": _cpu_ms(
                lambda i: fanout.send_to_agent("demo", "101", b"{}"), repeat
            ),
            "call_state_job_after_the_answer": _cpu_ms(
                lambda i: presence.record_call_event("demo", "101", "ringing", f"s{i}", "0901", "inbound"),
                repeat,
            ),
            "floor_put_item": _cpu_ms(
                lambda i: dynamodb.put_item(
                    TableName="ctibridge-bench", Item={"PK": {"S": f"BENCH#{i}"}, "SK": {"S": "FLOOR"}}
                ),
                repeat,
            ),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(measure(args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
