"""ctibridge.queue_batch: Powertools' partial-batch answers, in a fresh interpreter like a cold consumer,
without loading asyncio's event loops or the event classes the consumers never receive."""

from __future__ import annotations

from pathlib import Path

from tests.support.fresh_interpreter import last_json_line

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from ctibridge.queue_batch import (
    BatchProcessor, EventType, SqsFifoPartialProcessor, process_partial_response,
)

def message(n, group):
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": json.dumps({"n": n}),
            "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo", "awsRegion": "us-east-1"}

def handle(record):
    if json.loads(record.body)["n"] == 2:
        raise RuntimeError("this one fails")
    return "ok"

DATA_CLASSES = "aws_lambda_powertools.utilities.data_classes."
event = {"Records": [message(1, "a"), message(2, "a"), message(3, "a"), message(4, "b")]}
standard = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
fifo = SqsFifoPartialProcessor(skip_group_on_error=True)
print(json.dumps({
    "standard": process_partial_response(event=event, record_handler=handle, processor=standard),
    "fifo": process_partial_response(event=event, record_handler=handle, processor=fifo),
    "asyncio_loaded": sorted(m for m in sys.modules if m.startswith("asyncio.")),
    "data_classes": sorted(m for m in sys.modules if m.startswith(DATA_CLASSES)),
}))
"""


def test_partial_batch_answers_without_asyncio_or_other_event_classes() -> None:
    report = last_json_line(CHILD, str(LAYER))
    # Only the failed message is retried by a standard queue; on a FIFO queue the later messages of its
    # group fail with it (order), never another group's.
    assert report["standard"] == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert report["fifo"] == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert report["asyncio_loaded"] == []
    assert (
        "aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event" not in report["data_classes"]
    )
    assert "aws_lambda_powertools.utilities.data_classes.sqs_event" in report["data_classes"]
