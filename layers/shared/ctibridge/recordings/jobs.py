"""Recording download jobs on the RecordingQueue: enqueue from the webhook, back off on failure.

A job names the call only (tenant + callid): the fetcher reads the URL from the call item, so the
queue never carries a PBX URL (which may embed credentials) and a job for a call whose recording URL
changed meanwhile fetches the current one.

Retries: a failed job stays on the queue (partial batch failure) and its visibility is extended to
``base * 2**(attempt-1)`` seconds (capped), so a PBX that has not finished writing the file is asked
again later, not hammered. After the queue's ``maxReceiveCount`` the job moves to the dead-letter queue.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from ctibridge import aws
from ctibridge.model import Model
from ctibridge.settings import get_settings

# SQS caps a message's visibility timeout at 12 hours.
_MAX_VISIBILITY_SECONDS = 12 * 60 * 60


class RecordingJob(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1
    tenant_id: str = Field(min_length=1, max_length=64)
    callid: str = Field(min_length=1, max_length=128)


def _queue_url() -> str:
    url = get_settings().recording_queue_url
    if not url:
        raise RuntimeError("RECORDING_QUEUE_URL is not set for this function")
    return url


def enqueue(job: RecordingJob) -> None:
    aws.client("sqs").send_message(QueueUrl=_queue_url(), MessageBody=job.model_dump_json())


def retry_delay(attempt: int, base_seconds: int, max_seconds: int) -> int:
    """Seconds before attempt ``attempt + 1``: exponential from ``base_seconds``, at most ``max_seconds``."""
    exponent = max(0, min(attempt - 1, 20))
    return int(min(max_seconds, base_seconds * 2**exponent, _MAX_VISIBILITY_SECONDS))


def delay_retry(receipt_handle: str, attempt: int) -> int:
    """Hide a failed job for its backoff delay; returns the delay in seconds."""
    settings = get_settings()
    delay = retry_delay(attempt, settings.recording_retry_base_seconds, settings.recording_retry_max_seconds)
    aws.client("sqs").change_message_visibility(
        QueueUrl=_queue_url(), ReceiptHandle=receipt_handle, VisibilityTimeout=delay
    )
    return delay
