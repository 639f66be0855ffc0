"""No secret in any log line: access key, API key, login JWT, session tokens, SIP password."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from ctibridge.observability import logger
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.demo import DEMO_API_KEY, DEMO_JWT_ACCESS_KEY, DEMO_PBX_SECRET
from tests.support.aws import http_event, load_event
from tests.support.seed_tokens import local_time, php_demo_token
from tests.unit.tenancy.conftest import Invoke


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every line the functions' logger writes, formatted as in Lambda, at DEBUG (the most verbose).

    A second handler with Powertools' own formatter: the registered one keeps the stream it was
    created with, which pytest's capture fixtures cannot see.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    previous = logger.log_level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield buffer
    logger.setLevel(previous)
    logger._logger.removeHandler(handler)


def login_event(token: str) -> dict[str, Any]:
    return http_event(
        "POST",
        "/demo/thirdParty/login",
        route="/{domain}/thirdParty/login",
        path_parameters={"domain": "demo"},
        body={"token": token},
        base=load_event("agent_login", "login"),
    )


def session_event(case: str, token: str) -> dict[str, Any]:
    event = load_event("agent_login", case)
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_logs_never_carry_secrets(
    demo: TenantAdmin, login_api: Invoke, tokens_api: Invoke, log_lines: io.StringIO
) -> None:
    # Given the demo tenant and its secrets
    secrets = demo.read_secrets("demo")
    sip_password = secrets.sip_password("101")
    assert sip_password is not None
    log_lines.truncate(0)  # forget the setup's output

    # When a CRM mints a token, the agent logs in, reads its webphone settings, refreshes, and a
    # wrong token and a broken secret are tried too
    minted = json.loads(tokens_api(load_event("tokens", "mint"))["body"])["token"]
    login_jwt = php_demo_token(DEMO_JWT_ACCESS_KEY, "101", local_time(timedelta(hours=1)))
    session = json.loads(login_api(login_event(login_jwt))["body"])["user"]["token"]
    me = json.loads(login_api(session_event("me", session))["body"])
    refreshed = json.loads(login_api(session_event("refresh", session))["body"])["token"]
    login_api(login_event(php_demo_token("wrong-key", "101", local_time(timedelta(hours=1)))))
    login_api(login_event(minted))

    # Then the requests did what they should (so the logs had a chance to leak)...
    assert me["webphone"]["password"] == sip_password.get_secret_value()
    logs = log_lines.getvalue()
    assert '"agent logged in"' in logs
    # ...and no secret or credential appears in any log line
    for secret in (
        DEMO_JWT_ACCESS_KEY,
        DEMO_API_KEY,
        DEMO_PBX_SECRET,
        secrets.click2call_secret.get_secret_value(),
        secrets.crm_secret.get_secret_value(),
        sip_password.get_secret_value(),
        login_jwt,
        minted,
        session,
        refreshed,
    ):
        assert secret not in logs


def test_secret_models_do_not_reveal_values(demo: TenantAdmin) -> None:
    secrets = demo.read_secrets("demo")
    shown = f"{secrets!r} {secrets!s} {secrets.model_dump()}"
    assert DEMO_JWT_ACCESS_KEY not in shown
    assert DEMO_PBX_SECRET not in shown
    assert "sip-101" not in shown
