"""Queueing events: one FIFO message per endpoint that takes the event, grouped by call, deduplicated."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from ctibridge.delivery import events
from ctibridge.delivery.enqueue import enqueue_event, message_group_id
from ctibridge.delivery.models import CrmEndpoint, DeliveryMessage, EndpointFormat, EventType, OutboundEvent
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.delivery import DeliveryQueues, add_endpoint
from tests.unit.delivery.conftest import CUSTOMER, SIGNING_SECRET


def event(callid: str, event_type: EventType = EventType.CALL_RINGING, suffix: str = "") -> OutboundEvent:
    return OutboundEvent(
        id=f"evt_{callid}_{event_type.value}{suffix}",
        type=event_type,
        tenant=CUSTOMER,
        callid=callid,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        data={"callid": callid},
    )


def receive_all(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            return messages
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def test_tenant_without_endpoints_queues_nothing(admin: TenantAdmin, queues: DeliveryQueues) -> None:
    # Given a tenant without CRM endpoints
    # When an event is enqueued, Then nothing is sent
    assert enqueue_event(admin.get_tenant(CUSTOMER), event("c1")) == 0
    assert receive_all(queues.queue_url) == []


def test_one_message_per_endpoint_taking_the_type(admin: TenantAdmin, queues: DeliveryQueues) -> None:
    # Given a json endpoint and a seed004 endpoint
    add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="new", url="https://a.example.com/h"), signing_secret=SIGNING_SECRET
    )
    add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="old", url="https://b.example.com", format=EndpointFormat.SEED004)
    )
    tenant = admin.get_tenant(CUSTOMER)
    # When a ring event and a recording.ready are enqueued
    ring = enqueue_event(tenant, event("c1"))
    recording = enqueue_event(
        tenant, events.recording_ready(CUSTOMER, "c1", s3_key="k", size=1, sha256="a", content_type=None)
    )
    # Then the ring goes to both, the recording only to the json endpoint (the seed has no such request)
    assert (ring, recording) == (2, 1)
    received = [DeliveryMessage.model_validate_json(m["Body"]) for m in receive_all(queues.queue_url)]
    assert sorted((m.endpoint_id, m.event.type.value) for m in received) == [
        ("new", "call.ringing"),
        ("new", "recording.ready"),
        ("old", "call.ringing"),
    ]


def test_group_is_per_tenant_endpoint_and_call_and_duplicates_are_dropped(
    admin: TenantAdmin, queues: DeliveryQueues
) -> None:
    # Given one endpoint
    add_endpoint(
        admin, CUSTOMER, CrmEndpoint(id="new", url="https://a.example.com/h"), signing_secret=SIGNING_SECRET
    )
    tenant = admin.get_tenant(CUSTOMER)
    # When a call's ringing is enqueued twice (a PBX re-send), then its end, and another call's ringing
    for queued in (event("c1"), event("c1"), event("c1", EventType.CALL_ENDED), event("c2")):
        enqueue_event(tenant, queued)
    received = receive_all(queues.queue_url)
    # Then the duplicate is gone, and the call's events share a group that the other call does not
    bodies = [json.loads(m["Body"]) for m in received]
    assert len(received) == 3
    groups = {
        b["event"]["callid"] + b["event"]["type"]: m["Attributes"]["MessageGroupId"]
        for b, m in zip(bodies, received, strict=True)
    }
    assert groups["c1call.ringing"] == groups["c1call.ended"] != groups["c2call.ringing"]
    first = DeliveryMessage.model_validate_json(received[0]["Body"])
    assert received[0]["Attributes"]["MessageGroupId"] == message_group_id(first)
    assert received[0]["Attributes"]["MessageDeduplicationId"] == first.delivery_id
