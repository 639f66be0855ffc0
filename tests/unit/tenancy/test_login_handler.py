"""POST /{domain}/thirdParty/login through the Lambda handler: every seed status, bad input, throttling."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr

from ctibridge import keys
from ctibridge.auth import sessions
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import CreatedTenant, TenantAdmin
from ctibridge_cli.demo import DEMO_JWT_ACCESS_KEY
from tests.support.aws import http_event, load_event
from tests.support.seed_tokens import b64url, local_time, php_demo_token, php_json, signed_token
from tests.unit.tenancy.conftest import OTHER_ACCESS_KEY, STAGE, Invoke


def login_event(
    domain: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    source_ip: str | None = None,
) -> dict[str, Any]:
    event = http_event(
        "POST",
        f"/{domain}/thirdParty/login",
        route="/{domain}/thirdParty/login",
        path_parameters={"domain": domain},
        body=body if body is not None else {"token": token},
        headers=headers,
        base=load_event("agent_login", "login"),
    )
    if source_ip:
        event["requestContext"]["http"]["sourceIp"] = source_ip
    return event


def demo_token(
    ipphone: str = "101", delta: timedelta = timedelta(hours=1), key: str = DEMO_JWT_ACCESS_KEY
) -> str:
    return php_demo_token(key, ipphone, local_time(delta))


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def items_with_prefix(table: Any, prefix: str) -> list[dict[str, Any]]:
    # Test-only Scan of the moto table, to prove that nothing was written; the application never scans.
    return table.scan(FilterExpression=Attr("PK").begins_with(prefix))["Items"]


# ---------------------------------------------------------------- 200


def test_sample_event_logs_the_demo_agent_in(demo: TenantAdmin, login_api: Invoke, table: Any) -> None:
    # Given the demo tenant, and the sample event (a token the PHP demo would make, expiring in 2099)
    event = load_event("agent_login", "login")
    # When it reaches the function
    status, body = answer(login_api(event))
    # Then the seed's answer comes back, with a session token for agent 101
    agent = demo.repository.get_agent("demo", "101")
    assert agent is not None
    assert status == 200
    assert body["code"] == "ok"
    user = body["user"]
    assert user["user_id"] == agent.user_id
    assert isinstance(user["user_id"], int)
    assert user["ipphone"] == "101"
    assert user["display_name"] == "Agent 101"
    assert user["domain"] == "demo"
    assert isinstance(user["token"], str)
    assert user["token"] != event["body"]
    assert 3500 < user["expires_in"] <= get_settings().session_ttl_seconds
    # And the session works, stored under the token's hash only
    session = sessions.verify(user["token"])
    assert (session.tenant_id, session.ipphone) == ("demo", "101")
    stored = table.get_item(Key=keys.session(hashlib.sha256(user["token"].encode()).hexdigest())).get("Item")
    assert stored is not None
    assert user["token"] not in json.dumps(stored, default=str)


def test_php_demo_multipart_request_logs_in(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given the request exactly as login.php sends it (curl, CURLOPT_POSTFIELDS array: multipart)
    event = load_event("agent_login", "login_php_multipart")
    status, body = answer(login_api(event))
    assert status == 200
    assert body["code"] == "ok"
    assert body["user"]["ipphone"] == "101"


def test_urlencoded_form_logs_in(demo: TenantAdmin, login_api: Invoke) -> None:
    token = demo_token("102")
    event = login_event(
        "demo", f"token={token}", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    status, body = answer(login_api(event))
    assert status == 200
    assert body["user"]["ipphone"] == "102"


def test_domain_is_case_insensitive(demo: TenantAdmin, login_api: Invoke) -> None:
    status, body = answer(login_api(login_event("DEMO", token=demo_token())))
    assert status == 200
    assert body["user"]["domain"] == "demo"


# ---------------------------------------------------------------- seed error statuses


def test_unknown_domain_is_404(demo: TenantAdmin, login_api: Invoke) -> None:
    status, body = answer(login_api(login_event("nosuchdomain", token=demo_token())))
    assert status == 404
    assert body["code"] == "DOMAIN_NOT_FOUND"
    assert body["message"]


def test_expired_domain_is_405(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given the demo tenant expired by an operator
    demo.expire("demo")
    status, body = answer(login_api(login_event("demo", token=demo_token())))
    assert status == 405
    assert body["code"] == "DOMAIN_EXPIRED"


def test_expiry_date_is_inclusive_in_the_tenants_timezone(demo: TenantAdmin, login_api: Invoke) -> None:
    tenant = demo.get_tenant("demo")
    # Given the last day of service is today (Vietnam time): still open
    demo.expire("demo", on=tenant.today())
    assert login_api(login_event("demo", token=demo_token()))["statusCode"] == 200
    # When the last day was yesterday: closed
    demo.expire("demo", on=tenant.today() - timedelta(days=1))
    repository.clear_cache()  # a new container, or the cache TTL elapsed
    status, body = answer(login_api(login_event("demo", token=demo_token())))
    assert (status, body["code"]) == (405, "DOMAIN_EXPIRED")


def test_token_signed_with_a_wrong_key_is_401(demo: TenantAdmin, login_api: Invoke) -> None:
    status, body = answer(login_api(login_event("demo", token=demo_token(key="not-the-access-key"))))
    assert status == 401
    assert body["code"] == "TOKEN_INVALID"


def test_expired_token_is_401(demo: TenantAdmin, login_api: Invoke) -> None:
    status, body = answer(login_api(login_event("demo", token=demo_token(delta=-timedelta(minutes=10)))))
    assert status == 401
    assert body["code"] == "TOKEN_EXPIRED"


def test_unsigned_alg_none_token_is_401(demo: TenantAdmin, login_api: Invoke) -> None:
    header = b64url(php_json({"typ": "JWT", "alg": "none"}).encode())
    payload = b64url(php_json({"ipphone": "101", "expired": local_time(timedelta(hours=1))}).encode())
    status, body = answer(login_api(login_event("demo", token=f"{header}.{payload}.")))
    assert (status, body["code"]) == (401, "TOKEN_INVALID")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        # a CRM's "never expires": the last second of the calendar is a valid date, and a future one
        ({"ipphone": "101", "expired": "9999-12-31 23:59:59"}, 200, "ok"),
        # JavaScript's Date.now() + 1 h: milliseconds, past year 9999 read as seconds
        ({"ipphone": "101", "expired": 1_733_400_000_000 + 3_600_000}, 401, "TOKEN_INVALID"),
        ({"ipphone": "101", "exp": 10**15}, 401, "TOKEN_INVALID"),
        ({"ipphone": "101", "expired": 1e308}, 401, "TOKEN_INVALID"),
    ],
)
def test_an_expiry_outside_the_calendar_is_a_clear_answer_not_a_500(
    demo: TenantAdmin, login_api: Invoke, payload: dict[str, Any], status: int, code: str
) -> None:
    # Given a CRM that signs a correct token with an unusual expiry
    token = signed_token({"typ": "JWT", "alg": "HS256"}, payload, DEMO_JWT_ACCESS_KEY)
    # When its agent logs in
    got_status, body = answer(login_api(login_event("demo", token=token)))
    # Then the login works, or is refused with the token's code (and the claim named), never a 500
    assert (got_status, body["code"]) == (status, code)
    if status == 401:
        assert "epoch seconds" in body["message"]


def test_unknown_ipphone_is_400(demo: TenantAdmin, login_api: Invoke) -> None:
    status, body = answer(login_api(login_event("demo", token=demo_token("999"))))
    assert status == 400
    assert body["code"] == "IPPHONE_NOT_FOUND"


def test_unreadable_secrets_are_a_500_without_details(demo: TenantAdmin, login_api: Invoke) -> None:
    # Given the tenant's secret is gone from Secrets Manager
    boto3.client("secretsmanager").delete_secret(
        SecretId=f"ctibridge/{STAGE}/tenants/demo", ForceDeleteWithoutRecovery=True
    )
    # When an agent logs in
    response = login_api(login_event("demo", token=demo_token()))
    # Then the seed's "system error", with a stable code and nothing internal
    status, body = answer(response)
    assert status == 500
    assert body == {"code": "INTERNAL_ERROR", "message": body["message"]}
    assert "ctibridge/" not in response["body"]
    assert "Traceback" not in response["body"]


def test_unexpected_failure_is_a_500_without_stack_trace(
    demo: TenantAdmin, login_api: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(domain: str) -> None:
        raise RuntimeError("internal detail: table ctibridge-test unreachable")

    monkeypatch.setattr(repository, "get_by_domain", broken)
    response = login_api(login_event("demo", token=demo_token()))
    status, body = answer(response)
    assert status == 500
    assert body["code"] == "INTERNAL_ERROR"
    assert "internal detail" not in response["body"]
    assert "Traceback" not in response["body"]


# ---------------------------------------------------------------- bad input: a clear 4xx, nothing changed


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ('{"token": ', None, 400, "VALIDATION_ERROR"),  # malformed JSON
        ("[1, 2]", None, 400, "VALIDATION_ERROR"),  # JSON, not an object
        ("{}", None, 400, "TOKEN_MISSING"),
        ('{"token": ""}', None, 400, "TOKEN_MISSING"),
        ('{"token": 12345}', None, 400, "VALIDATION_ERROR"),
        ("", None, 400, "TOKEN_MISSING"),
        ("nothing=here", {"content-type": "application/x-www-form-urlencoded"}, 400, "TOKEN_MISSING"),
        ('{"token": "' + "x" * 9000 + '"}', None, 413, "PAYLOAD_TOO_LARGE"),
        # nested deeper than the interpreter's recursion limit, within the 8 KB: invalid JSON, not a 500
        ('{"token": ' + "[" * 4000 + "]" * 4000 + "}", None, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    demo: TenantAdmin,
    login_api: Invoke,
    table: Any,
    body: str,
    headers: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    event = login_event("demo", body, headers={"content-type": "application/json", **(headers or {})})
    if not body:
        event.pop("body", None)
    got_status, got = answer(login_api(event))
    assert (got_status, got["code"]) == (status, code)
    assert got["message"]
    assert items_with_prefix(table, "SESSION#") == []
    assert items_with_prefix(table, "LOGINFAIL#") == []


def test_refused_token_creates_no_session(demo: TenantAdmin, login_api: Invoke, table: Any) -> None:
    login_api(login_event("demo", token=demo_token(key="wrong")))
    login_api(login_event("demo", token=demo_token("999")))
    assert items_with_prefix(table, "SESSION#") == []


# ---------------------------------------------------------------- throttling


def test_five_failures_lock_the_ipphone_out(demo: TenantAdmin, login_api: Invoke) -> None:
    limit = get_settings().login_max_failures
    # Given `limit` failed logins for demo/101, each answered 401
    for _ in range(limit):
        assert login_api(login_event("demo", token=demo_token(key="guess")))["statusCode"] == 401
    # When the right token comes next
    response = login_api(login_event("demo", token=demo_token()))
    # Then it is refused with 429 and a Retry-After, until the window ends
    status, body = answer(response)
    assert status == 429
    assert body["code"] == "TOO_MANY_ATTEMPTS"
    retry_after = int(response["headers"]["Retry-After"])
    assert 0 < retry_after <= get_settings().login_failure_window_seconds + 1
    # And another agent of the same domain is not affected
    assert login_api(login_event("demo", token=demo_token("102")))["statusCode"] == 200


def test_bad_tokens_from_one_address_do_not_lock_the_agent_out_elsewhere(
    demo: TenantAdmin, login_api: Invoke
) -> None:
    # Given someone at 198.51.100.7 sending bad tokens that claim agent 101 until locked out
    attacker, agent = "198.51.100.7", "203.0.113.10"
    for _ in range(get_settings().login_max_failures):
        assert (
            login_api(login_event("demo", token=demo_token(key="guess"), source_ip=attacker))["statusCode"]
            == 401
        )
    assert login_api(login_event("demo", token=demo_token(), source_ip=attacker))["statusCode"] == 429
    # When agent 101 logs in from its own address with the CRM's good token
    response = login_api(login_event("demo", token=demo_token(), source_ip=agent))
    # Then it is let in
    assert answer(response)[0] == 200


def test_lockout_is_per_domain(demo: TenantAdmin, acme: CreatedTenant, login_api: Invoke) -> None:
    for _ in range(get_settings().login_max_failures):
        login_api(login_event("demo", token=demo_token(key="guess")))
    acme_token = php_demo_token(OTHER_ACCESS_KEY, "101", local_time(timedelta(hours=1)))
    assert login_api(login_event("acme", token=acme_token))["statusCode"] == 200


# ---------------------------------------------------------------- tenant isolation


def test_token_for_another_tenants_domain_is_refused(
    demo: TenantAdmin, acme: CreatedTenant, login_api: Invoke
) -> None:
    # Given agent 101 exists in both tenants
    acme_token = php_demo_token(OTHER_ACCESS_KEY, "101", local_time(timedelta(hours=1)))
    # When acme's token is posted to demo's domain, and demo's to acme's
    to_demo = answer(login_api(login_event("demo", token=acme_token)))
    to_acme = answer(login_api(login_event("acme", token=demo_token())))
    # Then both are refused as invalid tokens
    assert (to_demo[0], to_demo[1]["code"]) == (401, "TOKEN_INVALID")
    assert (to_acme[0], to_acme[1]["code"]) == (401, "TOKEN_INVALID")


def test_each_tenant_logs_in_its_own_agent(demo: TenantAdmin, acme: CreatedTenant, login_api: Invoke) -> None:
    acme_token = php_demo_token(OTHER_ACCESS_KEY, "101", local_time(timedelta(hours=1)))
    _, acme_body = answer(login_api(login_event("acme", token=acme_token)))
    _, demo_body = answer(login_api(login_event("demo", token=demo_token())))
    assert acme_body["user"]["customer"] == "acme"
    assert acme_body["user"]["display_name"] == "Acme 101"
    assert demo_body["user"]["customer"] == "demo"
    assert sessions.verify(acme_body["user"]["token"]).tenant_id == "acme"
    assert sessions.verify(demo_body["user"]["token"]).tenant_id == "demo"


def test_unknown_route_is_a_json_404(demo: TenantAdmin, login_api: Invoke) -> None:
    event = http_event("GET", "/demo/thirdParty/nothing", base=load_event("agent_login", "login"))
    status, body = answer(login_api(event))
    assert (status, body["code"]) == (404, "ROUTE_NOT_FOUND")
