"""Forwards call events to the tenants' CRM endpoints: SQS-triggered (DeliveryQueue, FIFO), one event
to one endpoint per message.

The logic is in ``ctibridge.delivery.worker``: claim, send (seed 004 or signed JSON; failover or
parallel), record the attempts; a failure hides the message for an exponential backoff with jitter and
is reported alone (ReportBatchItemFailures); after the retry window (24 h) the message goes to the
dead-letter queue (``ctibridge events replay --dlq`` sends it again).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

# First, before anything loads pydantic (see ctibridge.queue_batch).
from ctibridge.queue_batch import (
    PartialItemFailureResponse,
    SqsFifoPartialProcessor,
    SQSRecord,
    process_partial_response,
)

# isort: split
from ctibridge.delivery import worker
from ctibridge.observability import log_metrics, logger

# FIFO: a failed message fails the later messages of its call (its group) in the same batch, never the
# other calls'. A batch where every message failed is an expected outcome (a CRM is down), not an
# invocation error: the messages are already hidden for their backoff.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
processor.raise_on_entire_batch_failure = False

_context: LambdaContext | None = None


def _remaining_seconds() -> float:
    return _context.get_remaining_time_in_millis() / 1000 if _context is not None else float("inf")


def record_handler(record: SQSRecord) -> str:
    return worker.handle_record(record, remaining_seconds=_remaining_seconds)


@logger.inject_lambda_context(clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    global _context
    _context = context
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
