"""The agent's call state, kept in step with PBX events off the webhook's path (CallStateQueue).

The webhook answers the PBX after its one call write and the popup; what the agent's *state* needs
(idle/ringing/in_call for click-to-call and transfer, and closing a click-to-call request whose token
came back as the call log's userfield) costs two or three more DynamoDB writes, a transaction among
them. Those go on a queue: the webhook stays at two DynamoDB calls (the merge and the tabs' Query) and
the state follows a few milliseconds later on AWS.

Every job is idempotent and the state machine tolerates any order (``presence`` keeps an "ended"
marker per call, so a late ring never resurrects a finished call): a standard queue's at-least-once,
unordered delivery is enough, and the webhook queues a job for a PBX retry too (the first send may
have been lost between the call write and SQS).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from ctibridge import aws
from ctibridge.calls.models import Direction
from ctibridge.click2call import service as click2call
from ctibridge.click2call.models import request_id_from_userfield
from ctibridge.model import Model
from ctibridge.observability import logger
from ctibridge.realtime import presence
from ctibridge.settings import get_settings


class CallStateJob(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1
    tenant_id: str = Field(min_length=1, max_length=64)
    extension: str = Field(min_length=1, max_length=64)
    kind: presence.CallEventKind
    callid: str = Field(min_length=1, max_length=128)
    phone: str | None = None
    direction: Direction | None = None
    # For ``ended``: the click-to-call request the call log closes (``click2call.resolve_call_log``).
    outbound_request_id: str | None = None
    # Jobs queued before outbound_request_id existed carry the token here.
    userfield: str | None = None
    status: str | None = None


def _queue_url() -> str:
    url = get_settings().call_state_queue_url
    if not url:
        raise RuntimeError("CALL_STATE_QUEUE_URL is not set for this function")
    return url


def enqueue(job: CallStateJob) -> None:
    """Queue ``job``; raises if SQS refuses, so the PBX's retry of the webhook queues it again."""
    aws.client("sqs").send_message(QueueUrl=_queue_url(), MessageBody=job.model_dump_json())


def apply(job: CallStateJob) -> bool:
    """Apply one PBX event to the agent's state; False when the state was already past it."""
    if job.kind == "ended":
        request_id = job.outbound_request_id or request_id_from_userfield(job.userfield)
        click2call.link_call_log(job.tenant_id, job.callid, request_id, job.status)
    changed = presence.record_call_event(
        job.tenant_id, job.extension, job.kind, job.callid, job.phone, job.direction
    )
    if not changed:
        logger.info(
            "call event older than the agent's state; state kept",
            extra={"tenant": job.tenant_id, "extension": job.extension, "callid": job.callid},
        )
    return changed
