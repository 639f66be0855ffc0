"""Fixtures of the call-log tests: moto with the template's table, bucket and queues; two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge.webhooks import service as webhook_service
from ctibridge_cli.demo import seed_demo_tenant
from tests.support.aws import create_table_from_template
from tests.support.calls import (
    ACME_API_KEY,
    ACME_PBX_SECRET,
    Invoke,
    RecordingResources,
    create_recording_resources,
)
from tests.support.handlers import load_handler

TABLE = "ctibridge-test"  # what tests/unit/conftest.py puts in TABLE_NAME
STAGE = "test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingResources]:
    with mock_aws():
        create_table_from_template(TABLE)
        yield create_recording_resources(monkeypatch)


@pytest.fixture
def tenants(aws: RecordingResources) -> TenantAdmin:
    """The demo tenant (PBX secret demo-secret, API key demo-api-key) and a second tenant ``acme``."""
    seed_demo_tenant(TABLE, STAGE)
    admin = TenantAdmin(TABLE, STAGE)
    admin.create_tenant("acme", "acme", pbx_secret=ACME_PBX_SECRET, api_key=ACME_API_KEY, timezone="UTC")
    return admin


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every popup ``send_popup(tenant, extension, kind, data)`` the webhook makes."""
    calls: list[tuple[str, str, str, dict[str, Any]]] = []
    monkeypatch.setattr(
        webhook_service,
        "send_popup",
        lambda *args: calls.append(args),  # None: no contact to follow up
    )
    return calls


@pytest.fixture
def webhook(tenants: TenantAdmin, published: list[Any], lambda_context: Any) -> Invoke:
    handler = load_handler("pbx_webhooks")
    return lambda event: handler(event, lambda_context)


@pytest.fixture
def calls_api(tenants: TenantAdmin, lambda_context: Any) -> Invoke:
    handler = load_handler("calls_api")
    return lambda event: handler(event, lambda_context)
