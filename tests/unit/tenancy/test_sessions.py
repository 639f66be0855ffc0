"""Session tokens (the login's user.token): agent profile, refresh, logout and revocation."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from ctibridge import keys
from ctibridge.auth import sessions
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.demo import DEMO_JWT_ACCESS_KEY
from tests.support.aws import http_event, load_event
from tests.support.seed_tokens import local_time, php_demo_token
from tests.unit.tenancy.conftest import Invoke


def log_in(login_api: Invoke, ipphone: str = "101") -> str:
    token = php_demo_token(DEMO_JWT_ACCESS_KEY, ipphone, local_time(timedelta(hours=1)))
    event = http_event(
        "POST",
        "/demo/thirdParty/login",
        route="/{domain}/thirdParty/login",
        path_parameters={"domain": "demo"},
        body={"token": token},
        base=load_event("agent_login", "login"),
    )
    response = login_api(event)
    assert response["statusCode"] == 200
    return str(json.loads(response["body"])["user"]["token"])


def with_session(case: str, token: str | None) -> dict[str, Any]:
    """The sample event of ``case`` carrying ``token`` (or no Authorization header at all)."""
    event = load_event("agent_login", case)
    if token is None:
        event["headers"].pop("authorization")
    else:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def test_me_answers_profile_and_webphone_settings(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given agent 101 logged in
    token = log_in(login_api)
    # When the webphone asks who it is
    status, body = answer(login_api(with_session("me", token)))
    # Then it gets its profile and the JsSIP settings, its SIP password included
    tenant = demo.get_tenant("demo")
    stored_password = demo.read_secrets("demo").sip_password("101")
    assert stored_password is not None
    assert status == 200
    assert body["agent"]["ipphone"] == "101"
    assert body["agent"]["display_name"] == "Agent 101"
    webphone = body["webphone"]
    assert webphone["password"] == stored_password.get_secret_value()
    assert webphone["sip_uri"] == f"sip:101@{tenant.sip_server}"
    assert webphone["websocket_server_url"] == tenant.sip_ws_url
    assert webphone["ice_servers"] == [{"urls": "stun:stun.l.google.com:19302"}]
    assert webphone["display_name"] == "Agent 101"
    assert webphone["realm"]


def test_me_of_another_agent_shows_its_own_password(demo: TenantAdmin, login_api: Invoke) -> None:
    token = log_in(login_api, "102")
    _, body = answer(login_api(with_session("me", token)))
    password = demo.read_secrets("demo").sip_password("102")
    assert password is not None
    assert body["agent"]["ipphone"] == "102"
    assert body["webphone"]["password"] == password.get_secret_value()


@pytest.mark.parametrize("token", [None, "not-a-session", "A" * 43])
def test_me_without_a_valid_session_is_401(demo: TenantAdmin, login_api: Invoke, token: str | None) -> None:
    status, body = answer(login_api(with_session("me", token)))
    assert (status, body["code"]) == (401, "SESSION_INVALID")


def test_refresh_issues_a_new_token_and_keeps_the_old_briefly(
    demo: TenantAdmin, login_api: Invoke, table: Any
) -> None:
    # Given a session
    old = log_in(login_api)
    # When it is refreshed
    status, body = answer(login_api(with_session("refresh", old)))
    # Then a different token works, and the old one only for the grace period (or until a logout)
    assert status == 200
    new = body["token"]
    assert new != old
    assert body["expires_in"] > 3500
    assert sessions.verify(new).ipphone == "101"
    assert sessions.verify(old).ipphone == "101"
    old_item = table.get_item(Key=keys.session(hashlib.sha256(old.encode()).hexdigest()))["Item"]
    assert int(old_item["expires_at"]) <= time.time() + sessions.REFRESH_GRACE_SECONDS + 1


def test_refresh_cannot_outlive_the_login(demo: TenantAdmin, login_api: Invoke, table: Any) -> None:
    # Given a session whose login is older than the maximum lifetime
    token = log_in(login_api)
    table.update_item(
        Key=keys.session(hashlib.sha256(token.encode()).hexdigest()),
        UpdateExpression="SET max_expires_at = :t",
        ExpressionAttributeValues={":t": int(time.time()) - 1},
    )
    status, body = answer(login_api(with_session("refresh", token)))
    assert (status, body["code"]) == (401, "SESSION_EXPIRED")


def test_expired_session_is_refused(demo: TenantAdmin, login_api: Invoke, table: Any) -> None:
    # Given a session past its expiry, not yet removed by DynamoDB's (lazy) TTL
    token = log_in(login_api)
    table.update_item(
        Key=keys.session(hashlib.sha256(token.encode()).hexdigest()),
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues={":t": int(time.time()) - 1},
    )
    status, body = answer(login_api(with_session("me", token)))
    assert (status, body["code"]) == (401, "SESSION_EXPIRED")


def test_logout_ends_the_session(demo: TenantAdmin, login_api: Invoke) -> None:
    token = log_in(login_api)
    assert login_api(with_session("logout", token))["statusCode"] == 200
    status, body = answer(login_api(with_session("me", token)))
    assert (status, body["code"]) == (401, "SESSION_INVALID")
    # And logging out twice is harmless
    assert login_api(with_session("logout", token))["statusCode"] == 200


def test_removing_the_agent_revokes_its_sessions(demo: TenantAdmin, login_api: Invoke) -> None:
    token = log_in(login_api)
    demo.remove_agent("demo", "101")
    with pytest.raises(sessions.SessionRevoked):
        sessions.verify(token)
    status, body = answer(login_api(with_session("me", token)))
    assert (status, body["code"]) == (401, "SESSION_REVOKED")


def test_revoking_an_agents_sessions_spares_other_agents(demo: TenantAdmin, login_api: Invoke) -> None:
    first = log_in(login_api, "101")
    second = log_in(login_api, "101")
    other = log_in(login_api, "102")
    demo.update_agent("demo", "101", revoke_sessions=True)
    for token in (first, second):
        with pytest.raises(sessions.SessionRevoked):
            sessions.verify(token)
    assert sessions.verify(other).ipphone == "102"
    # And a new login works again
    assert sessions.verify(log_in(login_api, "101")).ipphone == "101"


def test_expiring_the_tenant_revokes_sessions(demo: TenantAdmin, login_api: Invoke) -> None:
    token = log_in(login_api)
    demo.expire("demo")
    repository.clear_cache()  # the tenant cache TTL has elapsed
    with pytest.raises(sessions.SessionRevoked):
        sessions.verify(token)
    status, body = answer(login_api(with_session("refresh", token)))
    assert (status, body["code"]) == (401, "SESSION_REVOKED")


def test_logout_after_a_refresh_ends_every_token_of_the_login(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given a login (s) refreshed twice (s2, s3), and another login of the same agent
    first = log_in(login_api)
    second = answer(login_api(with_session("refresh", first)))[1]["token"]
    third = answer(login_api(with_session("refresh", second)))[1]["token"]
    other = log_in(login_api)
    # When the agent logs out with the newest token
    assert login_api(with_session("logout", third))["statusCode"] == 200
    # Then every token of that login is refused at once, the replaced ones included
    for token in (first, second, third):
        status, body = answer(login_api(with_session("me", token)))
        assert (status, body["code"]) == (401, "SESSION_INVALID")
    # And a refresh with a replaced token, after the logout, fails (no new token outlives the logout)
    status, body = answer(login_api(with_session("refresh", first)))
    assert (status, body["code"]) == (401, "SESSION_INVALID")
    # And the other login goes on
    assert sessions.verify(other).ipphone == "101"


def test_a_refresh_racing_a_logout_cannot_mint_a_token(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given a session whose login was just logged out by another token (the login item is gone) while
    # this token's item still exists (the logout has not reached it yet)
    token = log_in(login_api)
    session = sessions.verify(token)
    assert session.session_id is not None
    demo_table = sessions._table()
    demo_table.delete_item(Key=keys.login(session.session_id))
    # When it is refreshed
    status, body = answer(login_api(with_session("refresh", token)))
    # Then the refresh fails: the new token's write requires the login
    assert (status, body["code"]) == (401, "SESSION_REVOKED")


def test_check_login_follows_logout_revocation_removal_and_expiry(
    demo: TenantAdmin, login_api: Invoke
) -> None:
    # Given two logins of 101 and one of 102
    first, second, other = log_in(login_api), log_in(login_api), log_in(login_api, "102")
    ids = {name: sessions.verify(t).session_id for name, t in (("a", first), ("b", second), ("c", other))}
    sessions.check_login("demo", "101", ids["a"])
    # When the first logs out: that login fails the check, not the other one
    sessions.revoke(first)
    with pytest.raises(sessions.SessionRevoked):
        sessions.check_login("demo", "101", ids["a"])
    sessions.check_login("demo", "101", ids["b"])
    # A login checked for another agent fails
    with pytest.raises(sessions.SessionRevoked):
        sessions.check_login("demo", "102", ids["b"])
    # Revoking 101's sessions fails its logins; 102's is fine until the tenant expires
    demo.update_agent("demo", "101", revoke_sessions=True)
    with pytest.raises(sessions.SessionRevoked):
        sessions.check_login("demo", "101", ids["b"])
    sessions.check_login("demo", "102", ids["c"])
    demo.expire("demo")
    repository.clear_cache()  # the tenant cache TTL (5 s) has elapsed
    with pytest.raises(sessions.SessionRevoked):
        sessions.check_login("demo", "102", ids["c"])
