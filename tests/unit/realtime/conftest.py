"""Fixtures of the real-time tests: moto's table, two tenants, a fake @connections API, handlers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from ctibridge import push
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.demo import seed_demo_tenant
from tests.support.aws import create_table_from_template, load_event
from tests.support.handlers import load_handler
from tests.support.realtime import Connect, FakeManagementApi, session_token

TABLE = "ctibridge-test"  # what tests/unit/conftest.py puts in TABLE_NAME
STAGE = "test"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> FakeManagementApi:
    fake = FakeManagementApi()
    monkeypatch.setenv("WEBSOCKET_CALLBACK_URL", "https://abc123.execute-api.us-east-1.amazonaws.com/test")
    monkeypatch.setattr(push, "management_api", lambda: fake)
    return fake


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield create_table_from_template(TABLE)


@pytest.fixture
def admin(table: Any) -> TenantAdmin:
    """The demo tenant (agents 101, 102) and a second tenant ``acme`` with its own agent 101."""
    seed_demo_tenant(TABLE, STAGE)
    created = TenantAdmin(TABLE, STAGE)
    created.create_tenant("acme", "acme", timezone="UTC")
    created.add_agent("acme", "101", display_name="Acme 101")
    return created


@pytest.fixture
def ws_connect(admin: TenantAdmin, lambda_context: Any) -> Connect:
    """``ws_connect(tenant, ipphone, connection_id, tab=..., token=...)``: the $connect function's answer."""
    handler = load_handler("ws_connect")

    def connect(
        tenant_id: str,
        ipphone: str,
        connection_id: str,
        *,
        tab: str | None = None,
        token: str | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event = load_event("ws_connect", "connect")
        event["requestContext"]["connectionId"] = connection_id
        if query is None:
            query = {
                "token": token if token is not None else session_token(tenant_id, ipphone),
                "tab": tab or connection_id,
            }
        event["queryStringParameters"] = query
        return handler(event, lambda_context)

    return connect


@pytest.fixture
def ws_message(lambda_context: Any) -> Callable[[str, dict[str, Any] | str], dict[str, Any]]:
    """``ws_message(connection_id, body)``: a frame from that tab through the message function."""
    handler = load_handler("ws_message")

    def send(connection_id: str, body: dict[str, Any] | str) -> dict[str, Any]:
        event = load_event("ws_message", "message")
        event["requestContext"]["connectionId"] = connection_id
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        if isinstance(body, dict):
            event["requestContext"]["routeKey"] = body.get("action", "$default")
        return handler(event, lambda_context)

    return send


@pytest.fixture
def ws_disconnect(lambda_context: Any) -> Callable[[str], dict[str, Any]]:
    handler = load_handler("ws_disconnect")

    def disconnect(connection_id: str) -> dict[str, Any]:
        event = load_event("ws_disconnect", "disconnect")
        event["requestContext"]["connectionId"] = connection_id
        return handler(event, lambda_context)

    return disconnect
