"""Sending events again: from the dead-letter queue, or every delivery of a time range.

* :func:`replay_dead_letters` moves messages from the delivery DLQ back to the DeliveryQueue (optionally
  one tenant's only; the others are left where they are). Each gets a fresh retry window.
* :func:`replay_range` re-queues the deliveries of events that occurred in ``[start, end)`` for one
  tenant, from the delivery states in the table (which keep the event). Delivered ones are left out
  unless ``include_delivered``: then they are sent again (same event id: a CRM that dedupes ignores
  them, one that lost its data gets them).

Replayed messages carry a deduplication id of their own (``replay-{run}``), so SQS's 5-minute FIFO
deduplication does not drop them as copies of the original; within one run, copies are dropped.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ctibridge import aws
from ctibridge.delivery import enqueue
from ctibridge.delivery.models import DeliveryMessage
from ctibridge.delivery.store import DeliveryStatus, DeliveryStore

_RECEIVE_VISIBILITY_SECONDS = 60


@dataclass
class ReplayReport:
    run: str
    replayed: int = 0
    skipped: int = 0  # another tenant's (DLQ), or already delivered (range)
    unreadable: int = 0  # DLQ messages that are not delivery messages; left in the DLQ
    by_tenant: dict[str, int] = field(default_factory=dict)

    def count(self, message: DeliveryMessage) -> None:
        self.replayed += 1
        self.by_tenant[message.tenant] = self.by_tenant.get(message.tenant, 0) + 1


def _run_id() -> str:
    return "replay-" + _random.token_hex(6)


def replay_dead_letters(
    *,
    dlq_url: str,
    queue_url: str,
    tenant_id: str | None = None,
    dry_run: bool = False,
    max_messages: int | None = None,
) -> ReplayReport:
    """Move the DLQ's messages (of ``tenant_id``, or all) back to the DeliveryQueue, in their order."""
    report = ReplayReport(run=_run_id())
    sqs = aws.client("sqs")
    left: list[str] = []  # receipt handles to make visible again at the end (not ours, or a dry run)
    try:
        while max_messages is None or report.replayed < max_messages:
            received = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_RECEIVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            batch: list[tuple[DeliveryMessage, str]] = []
            for raw in received:
                try:
                    message = DeliveryMessage.model_validate_json(raw["Body"])
                except ValidationError:
                    report.unreadable += 1
                    left.append(raw["ReceiptHandle"])
                    continue
                if (tenant_id is not None and message.tenant != tenant_id) or dry_run:
                    if dry_run and (tenant_id is None or message.tenant == tenant_id):
                        report.count(message)
                    else:
                        report.skipped += 1
                    left.append(raw["ReceiptHandle"])
                    continue
                batch.append((message, raw["ReceiptHandle"]))
            if batch:
                # Sent before they are deleted: a failure leaves them in the DLQ, never lost.
                enqueue.send([m for m, _ in batch], url=queue_url, dedup_suffix=report.run)
                _delete(sqs, dlq_url, [handle for _, handle in batch])
                for message, _ in batch:
                    report.count(message)
    finally:
        _release(sqs, dlq_url, left)
    return report


def _delete(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        chunk = handles[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        )


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        chunk = handles[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
        )


def messages_in_range(
    store: DeliveryStore, tenant_id: str, start: datetime, end: datetime, *, include_delivered: bool = False
) -> Iterable[DeliveryMessage | None]:
    """The messages to re-queue for the range, oldest event first; None for a delivery left out."""
    for state in store.states_between(tenant_id, start, end):
        delivered = state.status is DeliveryStatus.DELIVERED
        if delivered and not include_delivered:
            yield None
            continue
        yield DeliveryMessage(
            tenant=tenant_id, endpoint_id=state.endpoint_id, event=state.event, force=delivered
        )


def replay_range(
    *,
    table_name: str,
    queue_url: str,
    tenant_id: str,
    start: datetime,
    end: datetime,
    include_delivered: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Re-queue the tenant's deliveries of events that occurred in ``[start, end)``."""
    report = ReplayReport(run=_run_id())
    pending: list[DeliveryMessage] = []
    store = DeliveryStore(table_name)
    for message in messages_in_range(store, tenant_id, start, end, include_delivered=include_delivered):
        if message is None:
            report.skipped += 1
            continue
        pending.append(message)
        if len(pending) == 10:
            if not dry_run:
                enqueue.send(pending, url=queue_url, dedup_suffix=report.run)
            for sent in pending:
                report.count(sent)
            pending = []
    if pending:
        if not dry_run:
            enqueue.send(pending, url=queue_url, dedup_suffix=report.run)
        for sent in pending:
            report.count(sent)
    return report
