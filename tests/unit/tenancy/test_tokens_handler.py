"""POST /v1/tokens: login tokens minted for a CRM authenticated by its API key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from ctibridge.auth import crm_jwt
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import CreatedTenant, TenantAdmin
from tests.support.aws import http_event, load_event
from tests.unit.tenancy.conftest import OTHER_API_KEY, Invoke


def mint_event(body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    sample = load_event("tokens", "mint")
    return http_event(
        "POST",
        "/v1/tokens",
        body=body,
        headers=headers if headers is not None else {"x-api-key": sample["headers"]["x-api-key"]},
        base=sample,
    )


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def test_sample_event_mints_a_token_the_login_accepts(
    demo: TenantAdmin, tokens_api: Invoke, login_api: Invoke
) -> None:
    # Given the demo CRM asking for a one-hour token for agent 101 (the sample event)
    event = load_event("tokens", "mint")
    requested = json.loads(event["body"])
    # When the function answers
    status, body = answer(tokens_api(event))
    # Then the token is a seed token signed with the tenant's access key, expiring when it says
    assert status == 200
    tenant = demo.get_tenant("demo")
    key = demo.read_secrets("demo").jwt_access_key.get_secret_value()
    claims = crm_jwt.verify(
        body["token"], key, zone=tenant.zone, leeway_seconds=0, default_lifetime_seconds=60
    )
    assert claims.ipphone == requested["ipphone"]
    assert jwt.get_unverified_header(body["token"]) == {"typ": "JWT", "alg": "HS256"}
    assert jwt.decode(body["token"], options={"verify_signature": False})["expired"] == body["expired"]
    expected = datetime.now(UTC).timestamp() + requested["ttl_seconds"]
    assert abs(body["expires_at"] - expected) < 5
    assert body["domain"] == "demo"
    # And the login takes it
    login = http_event(
        "POST",
        "/demo/thirdParty/login",
        route="/{domain}/thirdParty/login",
        path_parameters={"domain": "demo"},
        body={"token": body["token"]},
        base=load_event("agent_login", "login"),
    )
    assert login_api(login)["statusCode"] == 200


def test_bearer_api_key_is_accepted(demo: TenantAdmin, tokens_api: Invoke) -> None:
    status, _ = answer(tokens_api(mint_event({"ipphone": "102"}, {"authorization": "Bearer demo-api-key"})))
    assert status == 200


def test_numeric_ipphone_is_accepted(demo: TenantAdmin, tokens_api: Invoke) -> None:
    status, body = answer(tokens_api(mint_event({"ipphone": 101, "ttl_seconds": 600})))
    assert status == 200
    assert jwt.decode(body["token"], options={"verify_signature": False})["ipphone"] == "101"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "API_KEY_MISSING"),
        ({"x-api-key": "not-a-key"}, 401, "API_KEY_INVALID"),
        ({"authorization": "Basic ZGVtbzpkZW1v"}, 401, "API_KEY_MISSING"),
        ({"authorization": "Bearer not-a-key"}, 401, "API_KEY_INVALID"),
    ],
)
def test_api_key_is_required(
    demo: TenantAdmin, tokens_api: Invoke, headers: dict[str, str], status: int, code: str
) -> None:
    response = tokens_api(mint_event({"ipphone": "101"}, headers))
    got_status, body = answer(response)
    assert (got_status, body["code"]) == (status, code)
    assert response["headers"].get("WWW-Authenticate") == "Bearer"


def test_anonymous_caller_gets_401_before_any_body_check(demo: TenantAdmin, tokens_api: Invoke) -> None:
    status, body = answer(tokens_api(mint_event("{not json", {})))
    assert (status, body["code"]) == (401, "API_KEY_MISSING")


def test_expired_tenant_is_403(demo: TenantAdmin, tokens_api: Invoke) -> None:
    demo.expire("demo")
    status, body = answer(tokens_api(mint_event({"ipphone": "101"})))
    assert (status, body["code"]) == (403, "TENANT_EXPIRED")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ("{not json", "VALIDATION_ERROR", "body"),
        # a PHP CRM's curl POSTFIELDS array: named like any other unreadable body
        ("ipphone=101&ttl_seconds=3600", "VALIDATION_ERROR", "body"),
        ({}, "VALIDATION_ERROR", "ipphone"),
        ({"ipphone": "101", "ttl_seconds": 10}, "VALIDATION_ERROR", "ttl_seconds"),
        ({"ipphone": "101", "ttl_seconds": "soon"}, "VALIDATION_ERROR", "ttl_seconds"),
        ({"ipphone": "101", "ttl_seconds": 10**9}, "VALIDATION_ERROR", "ttl_seconds"),
        ({"ipphone": "10 1"}, "VALIDATION_ERROR", "ipphone"),
        ({"ipphone": "101", "admin": True}, "VALIDATION_ERROR", "admin"),
        ({"ipphone": "999"}, "IPPHONE_NOT_FOUND", None),
    ],
)
def test_bad_body_is_400(
    demo: TenantAdmin, tokens_api: Invoke, body: Any, code: str, field: str | None
) -> None:
    status, got = answer(tokens_api(mint_event(body)))
    assert (status, got["code"]) == (400, code)
    assert got["message"]
    if field is not None:
        assert got["field"] == field


def test_ttl_upper_bound_comes_from_settings(demo: TenantAdmin, tokens_api: Invoke) -> None:
    limit = get_settings().minted_token_max_ttl_seconds
    assert tokens_api(mint_event({"ipphone": "101", "ttl_seconds": limit}))["statusCode"] == 200
    assert tokens_api(mint_event({"ipphone": "101", "ttl_seconds": limit + 1}))["statusCode"] == 400


def test_oversized_body_is_413(demo: TenantAdmin, tokens_api: Invoke) -> None:
    status, body = answer(tokens_api(mint_event({"ipphone": "101", "pad": "x" * 9000})))
    assert (status, body["code"]) == (413, "PAYLOAD_TOO_LARGE")


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")  # the demo's key is short on purpose
def test_a_tenants_key_mints_only_for_its_own_agents(
    demo: TenantAdmin, acme: CreatedTenant, tokens_api: Invoke
) -> None:
    # Given agent 102 exists only in demo, agent 101 in both
    foreign = answer(tokens_api(mint_event({"ipphone": "102"}, {"x-api-key": OTHER_API_KEY})))
    own = answer(tokens_api(mint_event({"ipphone": "101"}, {"x-api-key": OTHER_API_KEY})))
    # Then acme's key cannot mint for demo's agent, and its own token is signed with acme's key
    assert (foreign[0], foreign[1]["code"]) == (400, "IPPHONE_NOT_FOUND")
    assert own[0] == 200
    assert own[1]["domain"] == "acme"
    acme_key = acme.secrets.jwt_access_key.get_secret_value()
    demo_key = demo.read_secrets("demo").jwt_access_key.get_secret_value()
    jwt.decode(own[1]["token"], acme_key, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(own[1]["token"], demo_key, algorithms=["HS256"])
