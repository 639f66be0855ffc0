"""Fixtures of the tenant, login and token tests: moto with the template's table, the demo tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from ctibridge.tenants.provisioning import CreatedTenant, TenantAdmin
from ctibridge_cli.demo import seed_demo_tenant
from tests.support.aws import create_table_from_template
from tests.support.handlers import load_handler

TABLE = "ctibridge-test"  # what tests/unit/conftest.py puts in TABLE_NAME
STAGE = "test"
OTHER_ACCESS_KEY = "acme-access-key-0123456789abcdef"
OTHER_API_KEY = "acme-api-key"

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield create_table_from_template(TABLE)


@pytest.fixture
def admin(table: Any) -> TenantAdmin:
    return TenantAdmin(TABLE, STAGE)


@pytest.fixture
def demo(admin: TenantAdmin) -> TenantAdmin:
    """The local stack's demo tenant: domain demo, agents 101 and 102."""
    seed_demo_tenant(TABLE, STAGE)
    return admin


@pytest.fixture
def acme(demo: TenantAdmin) -> CreatedTenant:
    """A second tenant, with its own agent 101, to check isolation."""
    created = demo.create_tenant(
        "acme", "acme", jwt_access_key=OTHER_ACCESS_KEY, api_key=OTHER_API_KEY, timezone="UTC"
    )
    demo.add_agent("acme", "101", display_name="Acme 101", sip_password="acme-sip-101")
    return created


@pytest.fixture
def login_api(lambda_context: Any) -> Invoke:
    handler = load_handler("agent_login")
    return lambda event: handler(event, lambda_context)


@pytest.fixture
def tokens_api(lambda_context: Any) -> Invoke:
    handler = load_handler("tokens")
    return lambda event: handler(event, lambda_context)
