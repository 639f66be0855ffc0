"""CRM embedding settings (issue 9): the tenant's allowed origins reach the webphone, transfer queues."""

from __future__ import annotations

import json
from typing import Any

from ctibridge.tenants import repository
from tests.support.aws import http_event, load_event
from tests.unit.tenancy.conftest import Invoke
from tests.unit.tenancy.test_cli import Run, forget_caches, login
from tests.unit.tenancy.test_login_handler import demo_token


def _me(login_api: Invoke, session_token: str) -> dict[str, Any]:
    event = http_event(
        "GET",
        "/v1/agent/me",
        route="/v1/agent/me",
        headers={"authorization": f"Bearer {session_token}"},
        base=load_event("agent_login", "login"),
    )
    response = login_api(event)
    assert response["statusCode"] == 200, response["body"]
    return dict(json.loads(response["body"]))


def test_agent_profile_tells_the_webphone_where_it_may_be_embedded(
    table: Any, demo: Any, login_api: Invoke
) -> None:
    # Given the demo tenant allows exactly two CRM origins
    assert (
        Run(
            "tenant",
            "update",
            "demo",
            # the whole list: --allowed-origin alone adds to the demo tenant's own origins
            "--replace-allowed-origins",
            "https://crm.shop.vn",
            "https://b.vn",
        ).code
        == 0
    )
    forget_caches()
    # When agent 101's webphone asks for its profile
    status, body = login(login_api, "demo", demo_token("101"))
    assert status == 200
    profile = _me(login_api, body["user"]["token"])
    # Then the embed origins are there, apart from the SIP settings
    assert profile["embed"] == {"allowed_origins": ["https://crm.shop.vn", "https://b.vn"]}
    assert "allowed_origins" not in profile["webphone"]


def test_transfer_queues_are_set_with_the_cli(table: Any) -> None:
    # Given a tenant
    assert Run("tenant", "create", "shop1", "--domain", "shop").code == 0
    # When the operator maps queues to numbers (csTransferCallAcd)
    updated = Run(
        "tenant", "update", "shop1", "--transfer-queue", "sales=8001", "--transfer-queue", "vip=8009"
    )
    # Then they are stored on the tenant
    assert updated.code == 0, updated.err
    forget_caches()
    tenant = repository.get_by_customer("shop1")
    assert tenant is not None
    assert tenant.transfer_queues == {"sales": "8001", "vip": "8009"}
    # And a malformed mapping is a usage error
    assert Run("tenant", "update", "shop1", "--transfer-queue", "sales").code == 2


def test_tenant_default_language_reaches_the_webphone(table: Any, demo: Any, login_api: Invoke) -> None:
    # Given the demo tenant with no language set: the webphone follows the browser
    status, body = login(login_api, "demo", demo_token("101"))
    assert status == 200
    assert _me(login_api, body["user"]["token"])["webphone"]["language"] is None
    # When the operator sets Vietnamese as the tenant's webphone language
    updated = Run("tenant", "update", "demo", "--webphone-language", "vi")
    assert updated.code == 0, updated.err
    forget_caches()
    # Then the agent's profile carries it to the page (its default unless the agent chose another)
    status, body = login(login_api, "demo", demo_token("101"))
    assert status == 200
    assert _me(login_api, body["user"]["token"])["webphone"]["language"] == "vi"
    # And only the catalogs' languages are accepted
    assert Run("tenant", "update", "demo", "--webphone-language", "fr").code == 2
    # And a new tenant can start with English
    assert Run("tenant", "create", "shop2", "--domain", "shop2", "--webphone-language", "en").code == 0
    forget_caches()
    shop2 = repository.get_by_customer("shop2")
    assert shop2 is not None
    assert shop2.webphone_language == "en"
