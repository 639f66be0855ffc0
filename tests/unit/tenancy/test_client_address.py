"""The client address of a request (ctibridge.client_address): CloudFront's viewer address only with the
stack's origin value, else API Gateway's sourceIp; and the login throttle keyed by it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ctibridge.client_address import ORIGIN_VERIFY_HEADER, VIEWER_ADDRESS_HEADER, client_address, viewer_ip
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from tests.unit.tenancy.conftest import Invoke
from tests.unit.tenancy.test_login_handler import answer, demo_token, login_event

EDGE = "130.176.1.1"  # a CloudFront edge: API Gateway's sourceIp for every viewer behind it
ORIGIN_VALUE = "f7Qk2mZ0originverifyvalue0Hn4sYt8"


@pytest.fixture
def origin_secret(table: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stack's OriginVerifySecret in moto (the ``table`` fixture's), its ARN in the settings."""
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="origin-verify", SecretString=ORIGIN_VALUE)["ARN"]
    monkeypatch.setenv("ORIGIN_VERIFY_SECRET_ARN", arn)
    get_settings.cache_clear()
    return str(arn)


def event(headers: dict[str, str], source_ip: str = EDGE) -> dict[str, Any]:
    return {"headers": headers, "requestContext": {"http": {"sourceIp": source_ip}}}


@pytest.mark.parametrize(
    ("value", "ip"),
    [
        ("198.51.100.10", "198.51.100.10"),
        ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),  # one spelling per address
        (" 203.0.113.9 ", "203.0.113.9"),
        ("198.51.100.10:46532", None),  # CloudFront-Viewer-Address's ip:port is not our header's form
        ("203.0.113.9, 198.51.100.10", None),  # our function writes one value, replacing the viewer's
        ("not-an-address", None),
        ("", None),
    ],
)
def test_viewer_address_values_are_parsed(value: str, ip: str | None) -> None:
    assert viewer_ip(value) == ip


def test_a_forged_viewer_address_without_the_origin_value_is_ignored(origin_secret: str) -> None:
    # Given a direct caller of the execute-api URL writing CloudFront's header, with no or a wrong proof
    forged = {VIEWER_ADDRESS_HEADER: "198.51.100.10"}
    wrong = {**forged, ORIGIN_VERIFY_HEADER: ORIGIN_VALUE[:-1] + "x"}
    # Then its address is the one API Gateway saw
    assert client_address(event(forged, "203.0.113.66")) == "203.0.113.66"
    assert client_address(event(wrong, "203.0.113.66")) == "203.0.113.66"
    assert client_address(event({ORIGIN_VERIFY_HEADER: ""} | forged, "203.0.113.66")) == "203.0.113.66"


def test_with_the_origin_value_the_viewer_address_is_used(origin_secret: str) -> None:
    proof = {ORIGIN_VERIFY_HEADER: ORIGIN_VALUE}
    assert client_address(event({**proof, VIEWER_ADDRESS_HEADER: "198.51.100.10"})) == "198.51.100.10"
    assert client_address(event({**proof, VIEWER_ADDRESS_HEADER: "2001:db8::7"})) == "2001:db8::7"
    # Header names as a client spelled them (API Gateway lowercases them; a test event may not)
    assert (
        client_address(
            event({"X-Ctibridge-Origin-Verify": ORIGIN_VALUE, "X-Ctibridge-Viewer-Address": "192.0.2.1"})
        )
        == "192.0.2.1"
    )
    # An unreadable viewer value: the edge's address, the best there is
    assert client_address(event({**proof, VIEWER_ADDRESS_HEADER: "garbage"})) == EDGE
    # No viewer header: sourceIp
    assert client_address(event(proof)) == EDGE


def test_without_the_setting_or_the_secret_the_viewer_address_is_never_trusted(
    origin_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {ORIGIN_VERIFY_HEADER: ORIGIN_VALUE, VIEWER_ADDRESS_HEADER: "198.51.100.10"}
    # The secret unreadable (deleted): sourceIp, and the request is not failed
    boto3.client("secretsmanager").delete_secret(SecretId=origin_secret, ForceDeleteWithoutRecovery=True)
    assert client_address(event(headers)) == EDGE
    # No secret configured (a function the template gives none)
    monkeypatch.delenv("ORIGIN_VERIFY_SECRET_ARN")
    get_settings.cache_clear()
    assert client_address(event(headers)) == EDGE


def test_agents_behind_one_edge_are_throttled_by_their_own_address(
    origin_secret: str, demo: TenantAdmin, login_api: Invoke
) -> None:
    # Given an attacker and agent 101 reaching the login through the same CloudFront edge
    def through_cloudfront(token: str, viewer: str) -> dict[str, Any]:
        headers = {ORIGIN_VERIFY_HEADER: ORIGIN_VALUE, VIEWER_ADDRESS_HEADER: viewer}
        return login_api(login_event("demo", token=token, headers=headers, source_ip=EDGE))

    for _ in range(get_settings().login_max_failures):
        assert through_cloudfront(demo_token(key="guess"), "198.51.100.7")["statusCode"] == 401
    assert through_cloudfront(demo_token(), "198.51.100.7")["statusCode"] == 429
    # When agent 101 logs in from its own address, through the same edge
    response = through_cloudfront(demo_token(), "203.0.113.10")
    # Then it is let in: the attacker's failures were counted at the attacker's address, not the edge's
    assert answer(response)[0] == 200


def test_a_direct_caller_cannot_move_its_failures_to_another_address(
    origin_secret: str, demo: TenantAdmin, login_api: Invoke
) -> None:
    # Given an attacker calling the execute-api URL directly, claiming a new viewer address each time
    for n in range(get_settings().login_max_failures):
        headers = {VIEWER_ADDRESS_HEADER: f"192.0.2.{n + 1}", ORIGIN_VERIFY_HEADER: "guessed"}
        response = login_api(
            login_event("demo", token=demo_token(key="guess"), headers=headers, source_ip="198.51.100.7")
        )
        assert response["statusCode"] == 401
    # Then its failures all counted at its real address: it is locked out there
    headers = {VIEWER_ADDRESS_HEADER: "192.0.2.99"}
    assert (
        login_api(login_event("demo", token=demo_token(), headers=headers, source_ip="198.51.100.7"))[
            "statusCode"
        ]
        == 429
    )
