"""The ``ctibridge`` CLI: tenants, agents, tokens; JSON output, exit codes, secrets shown once."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from ctibridge.tenants import repository
from ctibridge_cli import main as cli
from ctibridge_cli.demo import DEMO_API_KEY, DEMO_JWT_ACCESS_KEY, seed_demo_tenant
from tests.support.aws import http_event, load_event
from tests.support.seed_tokens import local_time, php_demo_token
from tests.unit.tenancy.conftest import STAGE, TABLE, Invoke


class Run:
    """One CLI invocation: exit code, stdout, stderr."""

    def __init__(self, *argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        self.code = cli.main(["--table", TABLE, "--stage", STAGE, *argv], out=out, err=err)
        self.out = out.getvalue()
        self.err = err.getvalue()

    def json(self) -> Any:
        return json.loads(self.out)


def login(login_api: Invoke, domain: str, token: str) -> tuple[int, dict[str, Any]]:
    event = http_event(
        "POST",
        f"/{domain}/thirdParty/login",
        route="/{domain}/thirdParty/login",
        path_parameters={"domain": domain},
        body={"token": token},
        base=load_event("agent_login", "login"),
    )
    response = login_api(event)
    return response["statusCode"], json.loads(response["body"])


def forget_caches() -> None:
    # What a warm Lambda does once its cache TTLs pass: the CLI runs in another process.
    repository.clear_cache()
    parameters.clear_caches()


def test_operator_walkthrough(table: Any, login_api: Invoke) -> None:
    # Given an operator creating a tenant
    created = Run(
        "tenant", "create", "shop1", "--domain", "shop", "--json", "--allowed-origin", "https://crm.shop"
    )
    assert created.code == 0, created.err
    secrets = created.json()["secrets"]
    assert {"api_key", "jwt_access_key", "pbx_secret", "click2call_secret", "crm_secret"} <= secrets.keys()
    # When listing and showing it, the secrets are not printed again
    listed = Run("tenant", "list", "--json")
    assert [t["customer"] for t in listed.json()] == ["shop1"]
    shown = Run("tenant", "show", "shop1")
    assert shown.code == 0
    assert "shop" in shown.out
    for value in secrets.values():
        assert value not in shown.out
    revealed = Run("tenant", "show", "shop1", "--show-secrets", "--json")
    assert revealed.json()["secrets"]["jwt_access_key"] == secrets["jwt_access_key"]
    # And agents are added, listed, updated
    added = Run("agent", "add", "shop1", "201", "--display-name", "Lan", "--json")
    assert added.code == 0, added.err
    assert added.json()["sip_password"]
    assert [a["ipphone"] for a in Run("agent", "list", "shop1", "--json").json()] == ["201"]
    updated = Run("agent", "update", "shop1", "201", "--device-type", "3", "--mobile", "0912345678", "--json")
    assert updated.json()["device_type"] == 3
    # And a minted token logs the agent in
    minted = Run("token", "mint", "shop1", "201", "--json")
    assert minted.code == 0
    status, body = login(login_api, "shop", minted.json()["token"])
    assert status == 200
    assert body["user"]["display_name"] == "Lan"
    # And the plain (non-JSON) mint prints just the token, for shell use
    plain = Run("token", "mint", "shop1", "201", "--ttl-seconds", "120")
    assert plain.out.count(".") == 2
    assert login(login_api, "shop", plain.out.strip())[0] == 200


def test_minted_token_with_explicit_expired(table: Any) -> None:
    Run("tenant", "create", "shop1", "--domain", "shop", "--jwt-access-key", "k" * 32)
    Run("agent", "add", "shop1", "201")
    expired = local_time(timedelta(days=1))
    minted = Run("token", "mint", "shop1", "201", "--expired", expired, "--json")
    # Exactly the token the PHP demo would make from that payload and key
    assert minted.json()["token"] == php_demo_token("k" * 32, "201", expired)
    no_expiry = Run("token", "mint", "shop1", "201", "--no-expired", "--json")
    assert no_expiry.json()["token"] == php_demo_token("k" * 32, "201", None)


def test_expire_and_rotate_take_effect(table: Any, login_api: Invoke) -> None:
    Run("tenant", "create", "shop1", "--domain", "shop")
    Run("agent", "add", "shop1", "201")
    old_token = Run("token", "mint", "shop1", "201").out.strip()
    # Rotating the access key: tokens signed with the old key stop working
    rotated = Run("tenant", "rotate-key", "shop1", "--kind", "jwt", "--json")
    assert rotated.code == 0
    forget_caches()
    assert login(login_api, "shop", old_token)[1]["code"] == "TOKEN_INVALID"
    new_key_token = php_demo_token(rotated.json()["value"], "201", local_time(timedelta(hours=1)))
    assert login(login_api, "shop", new_key_token)[0] == 200
    # Expiring the tenant: 405
    assert Run("tenant", "expire", "shop1").code == 0
    forget_caches()
    status, body = login(login_api, "shop", new_key_token)
    assert (status, body["code"]) == (405, "DOMAIN_EXPIRED")
    # Reactivating it
    assert Run("tenant", "update", "shop1", "--status", "active").code == 0
    forget_caches()
    assert login(login_api, "shop", new_key_token)[0] == 200


def test_a_rotated_jwt_key_logs_in_at_once_in_a_warm_function(table: Any, login_api: Invoke) -> None:
    # Given a warm login function: the tenant's key cached by a login
    Run("tenant", "create", "shop1", "--domain", "shop", "--json")
    Run("agent", "add", "shop1", "201")
    assert login(login_api, "shop", Run("token", "mint", "shop1", "201").out.strip())[0] == 200
    # When the key is rotated (its caches not forgotten: the function stays warm)
    rotated = Run("tenant", "rotate-key", "shop1", "--kind", "jwt", "--json").json()["value"]
    # Then a token signed with the new key logs in at its first use
    token = php_demo_token(rotated, "201", local_time(timedelta(hours=1)))
    assert login(login_api, "shop", token)[0] == 200


def test_api_key_rotation(table: Any, tokens_api: Invoke) -> None:
    old_key = Run("tenant", "create", "shop1", "--domain", "shop", "--json").json()["secrets"]["api_key"]
    Run("agent", "add", "shop1", "201")

    def mint_with(key: str) -> int:
        event = http_event("POST", "/v1/tokens", headers={"x-api-key": key}, body={"ipphone": "201"})
        forget_caches()
        return int(tokens_api(event)["statusCode"])

    overlap = Run("tenant", "rotate-key", "shop1", "--kind", "api", "--keep-old", "--json").json()["value"]
    assert (mint_with(old_key), mint_with(overlap)) == (200, 200)
    final = Run("tenant", "rotate-key", "shop1", "--kind", "api", "--json").json()["value"]
    assert (mint_with(old_key), mint_with(overlap), mint_with(final)) == (401, 401, 200)


def test_agent_remove(table: Any, login_api: Invoke) -> None:
    Run("tenant", "create", "shop1", "--domain", "shop")
    Run("agent", "add", "shop1", "201")
    token = Run("token", "mint", "shop1", "201").out.strip()
    removed = Run("agent", "remove", "shop1", "201")
    assert removed.code == 0
    assert Run("agent", "list", "shop1", "--json").json() == []
    assert login(login_api, "shop", token)[1]["code"] == "IPPHONE_NOT_FOUND"
    again = Run("agent", "remove", "shop1", "201")
    assert again.code == cli.EXIT_NOT_FOUND
    assert "AGENT_NOT_FOUND" in again.err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("tenant", "show", "nobody"), cli.EXIT_NOT_FOUND, "TENANT_NOT_FOUND"),
        (("agent", "add", "nobody", "201"), cli.EXIT_FAILURE, "SECRETS_UNAVAILABLE"),
        (("tenant", "create", "shop1", "--domain", "shop"), cli.EXIT_CONFLICT, "TENANT_EXISTS"),
        (("tenant", "create", "shop2", "--domain", "SHOP"), cli.EXIT_CONFLICT, "DOMAIN_TAKEN"),
        (("tenant", "create", "bad code", "--domain", "x"), cli.EXIT_USAGE, "tenant_id"),
        (
            ("tenant", "create", "shop3", "--domain", "x", "--timezone", "Mars/Base"),
            cli.EXIT_USAGE,
            "timezone",
        ),
        (
            ("tenant", "create", "shop3", "--domain", "x", "--expiry-date", "soon"),
            cli.EXIT_USAGE,
            "YYYY-MM-DD",
        ),
        (("agent", "add", "shop1", "201", "--mobile", "abc"), cli.EXIT_USAGE, "mobile"),
        (("agent", "update", "shop1", "999", "--display-name", "x"), cli.EXIT_NOT_FOUND, "AGENT_NOT_FOUND"),
        (("tenant", "update", "shop1"), cli.EXIT_USAGE, "nothing to update"),
        (("token", "mint", "shop1", "999"), cli.EXIT_NOT_FOUND, "AGENT_NOT_FOUND"),
        (("tenant", "frobnicate"), cli.EXIT_USAGE, "invalid choice"),
    ],
)
def test_errors_have_clear_messages_and_exit_codes(
    table: Any, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], code: int, message: str
) -> None:
    Run("tenant", "create", "shop1", "--domain", "shop")
    capsys.readouterr()
    run = Run(*argv)
    assert run.code == code
    # argparse writes its usage errors to sys.stderr itself
    assert message in run.err + capsys.readouterr().err
    assert "Traceback" not in run.err


def test_errors_in_json_mode_are_json(table: Any) -> None:
    run = Run("tenant", "show", "nobody", "--json")
    assert run.code == cli.EXIT_NOT_FOUND
    assert json.loads(run.err)["error"]["code"] == "TENANT_NOT_FOUND"


def test_missing_table_is_an_aws_error(table: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--table", "no-such-table", "tenant", "list"], out=out, err=err)
    assert code == cli.EXIT_AWS
    assert "ResourceNotFoundException" in err.getvalue()


def test_table_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTIBRIDGE_TABLE", raising=False)
    err = io.StringIO()
    assert cli.main(["tenant", "list"], out=io.StringIO(), err=err) == cli.EXIT_USAGE
    assert "CTIBRIDGE_TABLE" in err.getvalue()


def test_table_and_stage_from_environment(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTIBRIDGE_TABLE", TABLE)
    monkeypatch.setenv("CTIBRIDGE_STAGE", STAGE)
    out = io.StringIO()
    assert (
        cli.main(["tenant", "create", "shop1", "--domain", "shop", "--json"], out=out, err=io.StringIO()) == 0
    )
    assert repository.get_by_customer("shop1") is not None


def test_demo_seed_is_idempotent(table: Any, login_api: Invoke, tokens_api: Invoke) -> None:
    # Given the demo seeded, then changed by an operator: a rotated key, a CRM endpoint with its signing
    # secret, an agent added by hand with its SIP password
    seed_demo_tenant(TABLE, STAGE)
    rotated = Run("tenant", "rotate-key", "demo", "--kind", "jwt", "--json").json()["value"]
    assert Run("crm", "endpoint", "add", "demo", "https://crm.example.com/hook", "--id", "main").code == 0
    assert Run("agent", "add", "demo", "150", "--sip-password", "by-hand-150").code == 0
    before = Run("tenant", "show", "demo", "--show-secrets", "--json").json()
    # When the demo is seeded again, through the CLI
    seeded = Run("demo", "seed", "--json")
    forget_caches()
    # Then nothing was created, and everything is as the operator left it
    assert seeded.code == 0, seeded.err
    assert seeded.json()["created"] == []
    after = Run("tenant", "show", "demo", "--show-secrets", "--json").json()
    assert after["secrets"] == before["secrets"]
    assert after["secrets"]["crm_endpoint_secrets"]["main"]["signing_secret"]
    assert after["tenant"]["crm_endpoints"] == before["tenant"]["crm_endpoints"]
    assert [a["ipphone"] for a in after["agents"]] == ["101", "102", "150"]
    # And the rotated key is the one that logs in; the demo API key still works
    assert login(login_api, "demo", php_demo_token(rotated, "102", local_time(timedelta(hours=1))))[0] == 200
    old = php_demo_token(DEMO_JWT_ACCESS_KEY, "102", local_time(timedelta(hours=1)))
    assert login(login_api, "demo", old)[0] == 401
    event = http_event("POST", "/v1/tokens", headers={"x-api-key": DEMO_API_KEY}, body={"ipphone": "101"})
    assert tokens_api(event)["statusCode"] == 200
    assert after["tenant"]["api_keys"] == 1


def test_demo_seed_creates_only_what_is_missing(table: Any, login_api: Invoke) -> None:
    # Given a demo tenant whose agent 102 was removed
    seed_demo_tenant(TABLE, STAGE)
    assert Run("agent", "remove", "demo", "102").code == 0
    # When it is seeded again
    seeded = Run("demo", "seed", "--json")
    # Then agent 102 and its SIP password come back, and nothing else was written
    assert seeded.json()["created"] == ["agent 102", "SIP password of 102"]
    secrets = Run("tenant", "show", "demo", "--show-secrets", "--json").json()["secrets"]
    assert secrets["sip_passwords"]["102"] == "sip-102"
    token = php_demo_token(DEMO_JWT_ACCESS_KEY, "102", local_time(timedelta(hours=1)))
    assert login(login_api, "demo", token)[0] == 200


def test_callout_prefix_rules_are_set_from_the_cli(table: Any) -> None:
    # Given a tenant
    assert Run("tenant", "create", "shop1", "--domain", "shop").code == 0
    # When the operator blocks premium numbers and limits calls to Vietnam
    updated = Run(
        "--json",
        "tenant",
        "update",
        "shop1",
        "--callout-deny-prefix",
        "1900",
        "--callout-deny-prefix",
        "+841900",
        "--callout-allow-prefix",
        "+84",
    )
    # Then the tenant's click-to-call policy holds them
    assert updated.code == 0, updated.err
    shown = Run("--json", "tenant", "show", "shop1").json()["tenant"]
    assert shown["callout_deny_prefixes"] == ["1900", "+841900"]
    assert shown["callout_allow_prefixes"] == ["+84"]
