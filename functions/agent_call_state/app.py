"""Keeps agents' call state in step with stored PBX events: SQS-triggered (CallStateQueue).

The webhook queues one job per event (``ctibridge.realtime.call_state_jobs``); this applies it: the
agent becomes ringing / in a call / idle, and a call log carrying a click-to-call token closes that
request. Jobs are idempotent and order-independent, so a failed one simply comes back (partial batch
failure) and, after the queue's maxReceiveCount, waits in the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

# First, before anything loads pydantic (see ctibridge.queue_batch).
from ctibridge.queue_batch import (
    BatchProcessor,
    EventType,
    PartialItemFailureResponse,
    SQSRecord,
    process_partial_response,
)

# isort: split
from ctibridge.observability import log_metrics, logger
from ctibridge.realtime import call_state_jobs

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> bool:
    job = call_state_jobs.CallStateJob.model_validate_json(record.body)  # malformed: into the DLQ
    logger.append_keys(tenant=job.tenant_id, callid=job.callid)
    return call_state_jobs.apply(job)


@logger.inject_lambda_context(clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
