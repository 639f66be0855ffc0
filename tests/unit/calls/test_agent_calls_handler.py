"""The webphone's call history (GET /v1/agent/calls[/{callid}]): the agent's own calls, session token only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from ctibridge.auth import sessions
from ctibridge.calls.repository import CallRepository, StoredRecording
from ctibridge.tenants import repository as tenants
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.aws import http_event
from tests.support.calls import Invoke, RecordingResources, call_log, ring
from tests.support.handlers import load_handler

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def agent_calls(tenants: TenantAdmin, lambda_context: Any) -> Invoke:
    handler = load_handler("agent_calls")
    return lambda event: handler(event, lambda_context)


@pytest.fixture
def calls(tenants: TenantAdmin, aws: RecordingResources) -> CallRepository:
    repository = CallRepository("ctibridge-test")
    for n, extension in enumerate(["101", "102", "101"]):
        repository.record_event(
            "demo",
            call_log(f"c{n}", calldate=T0 + timedelta(hours=n), extension=extension, status="ANSWERED"),
        )
    repository.record_event("acme", call_log("a0", calldate=T0, extension="101"))
    boto3.client("s3").put_object(Bucket=aws.bucket, Key="recordings/demo/2024/05/01/c0.wav", Body=b"RIFF")
    repository.save_recording(
        "demo",
        "c0",
        "https://pbx.example.com/rec/c-1.wav",  # call_log's recording URL
        StoredRecording("recordings/demo/2024/05/01/c0.wav", 4, "f" * 64, "audio/wav"),
    )
    return repository


def session_token(ipphone: str, tenant_id: str = "demo") -> str:
    tenant = tenants.get_by_customer(tenant_id)
    agent = tenants.get_agent(tenant_id, ipphone)
    assert tenant is not None
    assert agent is not None
    token, _ = sessions.issue(tenant, agent)
    return token


def get(api: Invoke, path: str, token: str | None, **params: str) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    callid = path.rsplit("/", 1)[-1] if path.count("/") == 4 else None
    event = http_event(
        "GET",
        path,
        route="/v1/agent/calls/{callid}" if callid else None,
        path_parameters={"callid": callid} if callid else None,
        headers=headers,
    )
    response = api(event)
    return response["statusCode"], json.loads(response["body"])


def test_lists_only_the_agents_own_calls(agent_calls: Invoke, calls: CallRepository) -> None:
    # Given calls of 101 and 102 in the demo tenant, and a 101 of another tenant
    token = session_token("101")
    # When agent 101's webphone asks for its history
    status, body = get(agent_calls, "/v1/agent/calls", token)
    # Then it gets its own calls, newest first, and nothing of 102 or of the other tenant
    assert status == 200
    assert [item["callid"] for item in body["items"]] == ["c2", "c0"]


def test_a_call_that_rang_the_agent_is_listed_and_readable(
    agent_calls: Invoke, calls: CallRepository
) -> None:
    # Given a call that rang 102 before 101 answered it... seen from 102, who only rang
    calls.record_event("demo", ring("c9", extension="102"))
    token = session_token("102")
    # When 102 reads it
    status, body = get(agent_calls, "/v1/agent/calls/c9", token)
    # Then it is answered
    assert status == 200
    assert body["callid"] == "c9"


def test_one_call_comes_with_a_presigned_recording_url(agent_calls: Invoke, calls: CallRepository) -> None:
    token = session_token("101")
    status, body = get(agent_calls, "/v1/agent/calls/c0", token)
    assert status == 200
    assert body["recording"]["state"] == "stored"
    assert "X-Amz-Signature" in body["recording"]["url"]


def test_another_agents_call_is_not_found(agent_calls: Invoke, calls: CallRepository) -> None:
    # Given agent 101's session, and c1, a call of 102 only
    token = session_token("101")
    # When 101 asks for c1
    status, body = get(agent_calls, "/v1/agent/calls/c1", token)
    # Then it does not exist as far as 101 is concerned
    assert status == 404
    assert body["code"] == "CALL_NOT_FOUND"


@pytest.mark.parametrize("token", [None, "not-a-session-token", "A" * 43])
def test_needs_a_live_session_token(agent_calls: Invoke, calls: CallRepository, token: str | None) -> None:
    status, body = get(agent_calls, "/v1/agent/calls", token)
    assert status == 401
    assert body["code"] == "SESSION_INVALID"


def test_the_crm_api_key_is_not_a_session(agent_calls: Invoke, calls: CallRepository) -> None:
    status, body = get(agent_calls, "/v1/agent/calls", "demo-api-key")
    assert status == 401
    assert body["code"] == "SESSION_INVALID"
