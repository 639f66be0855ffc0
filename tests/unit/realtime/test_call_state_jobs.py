"""The agent's call state, applied from the CallStateQueue (functions/agent_call_state)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from ctibridge.realtime import call_state_jobs, presence
from ctibridge.realtime.call_state_jobs import CallStateJob
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.handlers import load_handler


def _job(kind: str, callid: str, **extra: Any) -> CallStateJob:
    return CallStateJob.model_validate(
        {"tenant_id": "demo", "extension": "101", "kind": kind, "callid": callid, **extra}
    )


def _sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:call-state",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_call_state_follows_the_pbx_events(admin: TenantAdmin) -> None:
    # Given an idle agent
    assert presence.get_state("demo", "101").call.state == "idle"
    # When a call rings
    assert call_state_jobs.apply(_job("ringing", "c-1", phone="0901234567", direction="inbound"))
    state = presence.get_state("demo", "101")
    assert (state.call.state, state.call.callid, state.call.phone, state.call.direction) == (
        "ringing",
        "c-1",
        "0901234567",
        "inbound",
    )
    assert state.busy
    assert not state.available
    # When its call log arrives (seed 004 call_answered), the agent is free again
    assert call_state_jobs.apply(_job("ended", "c-1", status="ANSWERED"))
    assert presence.get_state("demo", "101").call.state == "idle"
    # When the agent dials out from the IP phone
    assert call_state_jobs.apply(_job("outgoing", "c-2", phone="0907654321", direction="outbound"))
    assert presence.get_state("demo", "101").call.state == "in_call"


def test_out_of_order_jobs_do_not_resurrect_an_ended_call(admin: TenantAdmin) -> None:
    # Given the end of call c-9 is applied before its ring (a standard queue keeps no order)
    call_state_jobs.apply(_job("ended", "c-9", status="NO ANSWER"))
    # When the late ring is applied
    changed = call_state_jobs.apply(_job("ringing", "c-9", phone="0901"))
    # Then the agent stays idle
    assert changed is False
    assert presence.get_state("demo", "101").call.state == "idle"


def test_an_old_calls_end_does_not_end_the_current_call(admin: TenantAdmin) -> None:
    call_state_jobs.apply(_job("ringing", "new", phone="0901"))
    assert call_state_jobs.apply(_job("ended", "old")) is False
    state = presence.get_state("demo", "101")
    assert (state.call.state, state.call.callid) == ("ringing", "new")


def test_a_redelivered_job_changes_nothing_more(admin: TenantAdmin) -> None:
    # Given a ring applied once
    call_state_jobs.apply(_job("ringing", "c-3", phone="0901"))
    call_state_jobs.apply(_job("ended", "c-3"))
    # When SQS delivers the ring and the end again (at-least-once)
    assert call_state_jobs.apply(_job("ringing", "c-3", phone="0901")) is False
    call_state_jobs.apply(_job("ended", "c-3"))
    # Then the call stays ended
    assert presence.get_state("demo", "101").call.state == "idle"


def test_the_function_applies_a_batch_and_reports_only_the_bad_message(
    admin: TenantAdmin, lambda_context: Any
) -> None:
    # Given a batch with a valid ring for 101, a malformed message and a ring for 102
    handler = load_handler("agent_call_state")
    ring_101 = _job("ringing", "b-1", phone="0901").model_dump_json()
    ring_102 = _job("ringing", "b-2", phone="0902", extension="102").model_dump_json()
    # When the function runs
    answer = handler(_sqs_event(ring_101, json.dumps({"kind": "ringing"}), ring_102), lambda_context)
    # Then only the malformed message comes back to the queue (and, in the end, its DLQ)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert presence.get_state("demo", "101").call.callid == "b-1"
    assert presence.get_state("demo", "102").call.callid == "b-2"


def test_enqueue_sends_the_job_to_the_call_state_queue(
    admin: TenantAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's queue
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="call-state")["QueueUrl"]
    monkeypatch.setenv("CALL_STATE_QUEUE_URL", url)
    get_settings.cache_clear()
    # When a job is queued
    job = _job("ended", "q-1", userfield="ctb-123", status="ANSWERED")
    call_state_jobs.enqueue(job)
    # Then the queue holds exactly that job
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [CallStateJob.model_validate_json(m["Body"]) for m in messages] == [job]
