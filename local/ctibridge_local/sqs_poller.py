"""SQS event-source mappings: poll a queue, invoke the function with batches, honour partial failures."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

from ctibridge_local.lambdas import FunctionError, LocalFunction
from ctibridge_local.resolve import REGION
from ctibridge_local.template import QueueMapping


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS event source delivers it."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


# Lambda's SQS event source starts with five concurrent pollers and scales from there (capped by the
# mapping's ScalingConfig.MaximumConcurrency); locally three keep one slow batch from holding up the
# others without swamping a 2-CPU machine. FIFO queues get one: SQS never hands out a message group's next
# message while one of the group is in flight, but moto does to a second receiver, which would break the
# per-call order the FIFO queue is there for.
MAX_LOCAL_WORKERS = 3


class QueuePoller:
    """One event-source mapping, polling on a few threads until stopped."""

    def __init__(
        self,
        mapping: QueueMapping,
        function: LocalFunction,
        queue_url: str,
        queue_arn: str,
        endpoint_url: str,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        # Lambda's poller is AWS's machinery: locally it must neither outlive a stop nor keep retrying
        # a moto that is gone, so short timeouts and no retries (the next poll is the retry).
        self._sqs = boto3.session.Session(region_name=REGION).client(
            "sqs",
            endpoint_url=endpoint_url,
            config=Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}),
        )
        self._stop = threading.Event()
        workers = 1 if queue_url.endswith(".fifo") else MAX_LOCAL_WORKERS
        workers = min(workers, mapping.maximum_concurrency or workers)
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{mapping.function}-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def signal_stop(self) -> None:
        """Ask every worker to stop after its current poll (the stack signals all pollers at once)."""
        self._stop.set()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:
                self._stop.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        received = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.mapping.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        records = [to_lambda_record(dict(m), self.queue_arn) for m in received]
        try:
            result = self.function.invoke({"Records": records})
        except FunctionError:
            return len(received)  # whole batch returns to the queue after its visibility timeout
        failed: set[str] = set()
        if self.mapping.partial_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(received)
