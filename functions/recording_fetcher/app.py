"""Downloads call recordings into S3: SQS-triggered (RecordingQueue), one job per message.

Partial batch failures: a job that fails is reported back to SQS alone and hidden for an exponential
backoff delay (``recordings.jobs.delay_retry``); after the queue's maxReceiveCount it moves to the
dead-letter queue. Refusals that retrying cannot fix (forbidden host, not audio, too large) are noted on
the call and the job is done.
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
from ctibridge.recordings import jobs, service
from ctibridge.recordings.fetch import FetchError

# Failures are reported item by item even when every item failed (with BatchSize 1, always): raising
# instead would make Lambda's own retry ignore the backoff delay each failed job has set.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    job = jobs.RecordingJob.model_validate_json(record.body)  # a malformed job fails into the DLQ
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        return service.process(job).value
    except Exception as error:
        code = error.code if isinstance(error, FetchError) else type(error).__name__
        try:
            delay = jobs.delay_retry(record.receipt_handle, attempt)
        except Exception:
            logger.exception("could not delay the retry; the queue's visibility timeout applies")
            delay = None
        logger.warning(
            "recording job failed; will retry",
            extra={"code": code, "attempt": attempt, "retry_in_seconds": delay},
        )
        raise


@logger.inject_lambda_context(clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
