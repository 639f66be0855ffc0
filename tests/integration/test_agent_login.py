"""The demo agent logs in on the local stack with a token made exactly as the seeds' PHP demo makes it.

login.php: ``JWT::encode(array("ipphone" => ..., "expired" => "Y-m-d H:i:s"), $key)`` (HS256), then
curl POST with ``CURLOPT_POSTFIELDS => array('token' => $token)``, i.e. multipart/form-data.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.support.local_stack import RunningStack
from tests.support.seed_tokens import local_time, php_demo_token

DEMO_ACCESS_KEY = "demo-access-key"  # seeded by the local stack (ctibridge_cli.demo)


def test_php_demo_login_then_agent_api(stack: RunningStack) -> None:
    # Given the token login.php would make for agent 101, expiring in an hour (Vietnam time)
    token = php_demo_token(DEMO_ACCESS_KEY, "101", local_time(timedelta(hours=1)))
    # When it is posted as login.php posts it (multipart form field "token")
    response = httpx.post(
        f"{stack.http_url}/demo/thirdParty/login", files={"token": (None, token)}, timeout=10
    )
    # Then the seed's answer comes back
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "ok"
    user = body["user"]
    assert isinstance(user["user_id"], int)
    assert user["ipphone"] == "101"
    assert isinstance(user["token"], str)
    assert user["token"]
    # And user.token opens the agent API: profile and webphone settings
    me = httpx.get(
        f"{stack.http_url}/v1/agent/me", headers={"Authorization": f"Bearer {user['token']}"}, timeout=10
    )
    assert me.status_code == 200, me.text
    profile = me.json()
    assert profile["agent"]["display_name"] == "Agent 101"
    assert profile["webphone"]["password"] == "sip-101"
    assert profile["webphone"]["sip_uri"].startswith("sip:101@")


def test_json_login_and_seed_error_statuses(stack: RunningStack) -> None:
    url = f"{stack.http_url}/demo/thirdParty/login"
    good = php_demo_token(DEMO_ACCESS_KEY, "102", local_time(timedelta(hours=1)))
    cases = [
        (url, {"token": good}, 200, "ok"),
        (f"{stack.http_url}/no-such-domain/thirdParty/login", {"token": good}, 404, "DOMAIN_NOT_FOUND"),
        (
            url,
            {"token": php_demo_token("wrong-key", "102", local_time(timedelta(hours=1)))},
            401,
            "TOKEN_INVALID",
        ),
        (
            url,
            {"token": php_demo_token(DEMO_ACCESS_KEY, "102", local_time(-timedelta(hours=1)))},
            401,
            "TOKEN_EXPIRED",
        ),
        (
            url,
            {"token": php_demo_token(DEMO_ACCESS_KEY, "999", local_time(timedelta(hours=1)))},
            400,
            "IPPHONE_NOT_FOUND",
        ),
        (url, {}, 400, "TOKEN_MISSING"),
    ]
    for target, body, status, code in cases:
        response = httpx.post(target, json=body, timeout=10)
        assert (response.status_code, response.json()["code"]) == (status, code), (
            target,
            body,
            response.text,
        )


def test_crm_mints_with_its_api_key_and_logs_in(stack: RunningStack) -> None:
    minted = httpx.post(
        f"{stack.http_url}/v1/tokens",
        headers={"X-Api-Key": "demo-api-key"},
        json={"ipphone": "102", "ttl_seconds": 600},
        timeout=10,
    )
    assert minted.status_code == 200, minted.text
    login = httpx.post(
        f"{stack.http_url}/demo/thirdParty/login", json={"token": minted.json()["token"]}, timeout=10
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["ipphone"] == "102"
