"""Putting events on the DeliveryQueue: what the webhook path does instead of calling the CRM.

Per-call ordering: the DeliveryQueue is an SQS **FIFO** queue and every message's ``MessageGroupId``
is (tenant, endpoint, callid). Chosen over a standard queue plus a per-call sequence number because:

* SQS itself hands out a group's messages one at a time and in order, and a message waiting for its
  retry (hidden by ChangeMessageVisibility) holds back the later events of its call: call.ended never
  overtakes call.ringing, even across a 24 h outage. A sequence number would need a counter write on
  the webhook path, a "delivered up to" item per call and endpoint, and a rule for gaps left by a
  dead-lettered event: all things FIFO does or avoids for free;
* the group is per endpoint, so a CRM that is down delays only its own deliveries, and per call, so
  one stuck call does not hold back the others (Lambda runs as many groups in parallel as allowed);
* ``MessageDeduplicationId`` = the delivery id (event id + endpoint): a webhook re-sent by the PBX, or a
  crash between our write and the send, enqueues the same id again, and SQS drops it for 5 minutes
  (after that the worker's delivered marker does).

The cost, FIFO's throughput (300 sends/s per API action and queue without batching, thousands with
high-throughput mode: ``FifoThroughputLimit: perMessageGroupId``), is far above a call center's
event rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ctibridge import aws
from ctibridge.delivery.models import DeliveryMessage, OutboundEvent
from ctibridge.settings import get_settings
from ctibridge.tenants.models import Tenant

_BATCH = 10  # SendMessageBatch limit


class EnqueueFailed(RuntimeError):
    """SQS refused some messages; the caller fails so that its own retry enqueues them again."""


def message_group_id(message: DeliveryMessage) -> str:
    """(tenant, endpoint, call): the unit of ordering. Events without a call are their own group."""
    scope = message.event.callid or message.event.id
    material = f"{message.tenant}\n{message.endpoint_id}\n{scope}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def deduplication_id(message: DeliveryMessage, suffix: str | None = None) -> str:
    return f"{message.delivery_id}:{suffix}" if suffix else message.delivery_id


def messages_for(tenant: Tenant, event: OutboundEvent) -> list[DeliveryMessage]:
    """One message per endpoint of ``tenant`` that takes ``event``'s type."""
    return [
        DeliveryMessage(tenant=tenant.tenant_id, endpoint_id=endpoint.id, event=event)
        for endpoint in tenant.crm_endpoints
        if endpoint.accepts(event.type)
    ]


def queue_url() -> str:
    url = get_settings().delivery_queue_url
    if not url:
        raise RuntimeError("DELIVERY_QUEUE_URL is not set for this function")
    return url


def send(
    messages: Sequence[DeliveryMessage], *, url: str | None = None, dedup_suffix: str | None = None
) -> None:
    """Send ``messages`` to the DeliveryQueue (or ``url``) in batches; raises :class:`EnqueueFailed`."""
    target = url or queue_url()
    client = aws.client("sqs")
    for start in range(0, len(messages), _BATCH):
        chunk = messages[start : start + _BATCH]
        response = client.send_message_batch(
            QueueUrl=target,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message.model_dump_json(),
                    "MessageGroupId": message_group_id(message),
                    "MessageDeduplicationId": deduplication_id(message, dedup_suffix),
                    "MessageAttributes": {
                        "tenant": {"DataType": "String", "StringValue": message.tenant},
                        "event_type": {"DataType": "String", "StringValue": message.event.type.value},
                    },
                }
                for index, message in enumerate(chunk)
            ],
        )
        failed = response.get("Failed") or []
        if failed:
            codes = sorted({str(entry.get("Code")) for entry in failed})
            raise EnqueueFailed(f"SQS refused {len(failed)} delivery message(s): {', '.join(codes)}")


def enqueue_event(tenant: Tenant, event: OutboundEvent) -> int:
    """Queue ``event`` for each of the tenant's endpoints that takes it; answers how many were queued.

    A tenant without CRM endpoints costs nothing (no AWS call). Idempotent: the same event queued
    twice is delivered once.
    """
    messages = messages_for(tenant, event)
    if messages:
        send(messages)
    return len(messages)
