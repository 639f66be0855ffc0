"""The seed login token: HS256 pinned, ``expired`` in the tenant's timezone, defaults and leeway."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ctibridge.auth import crm_jwt
from ctibridge.errors import IpphoneNotFound, TokenExpired, TokenInvalid
from tests.support.seed_tokens import VIETNAM, b64url, local_time, php_demo_token, php_json, signed_token

KEY = "demo-access-key"
UTC_ZONE = ZoneInfo("UTC")


def verify(token: str, key: str = KEY, zone: ZoneInfo = VIETNAM, **kwargs: object) -> crm_jwt.LoginClaims:
    options: dict = {"leeway_seconds": 30, "default_lifetime_seconds": 86400, **kwargs}
    return crm_jwt.verify(token, key, zone=zone, **options)


def test_php_demo_token_verifies() -> None:
    # Given a token made exactly as the seeds' login.php makes it, expiring in an hour (Vietnam time)
    token = php_demo_token(KEY, "101", local_time(timedelta(hours=1)))
    # When it is verified with the tenant's access key
    claims = verify(token)
    # Then the agent's extension is read and the expiry is an hour ahead
    assert claims.ipphone == "101"
    assert claims.expires_at is not None
    assert abs((claims.expires_at - datetime.now(UTC)).total_seconds() - 3600) < 5


def test_numeric_ipphone_from_php_is_accepted() -> None:
    token = signed_token(
        {"typ": "JWT", "alg": "HS256"}, {"ipphone": 5000, "expired": local_time(timedelta(hours=1))}, KEY
    )
    assert verify(token).ipphone == "5000"


def test_expired_in_the_past_is_refused() -> None:
    token = php_demo_token(KEY, "101", local_time(-timedelta(minutes=5)))
    with pytest.raises(TokenExpired) as caught:
        verify(token)
    assert caught.value.http_status == 401


def test_expiry_within_leeway_is_accepted_and_beyond_is_not() -> None:
    # Given a token that expired 10 s ago
    token = php_demo_token(KEY, "101", local_time(-timedelta(seconds=10)))
    # Then a 30 s leeway accepts it and a 0 s leeway does not
    assert verify(token, leeway_seconds=30).ipphone == "101"
    with pytest.raises(TokenExpired):
        verify(token, leeway_seconds=0)


def test_expired_is_read_in_the_tenants_timezone() -> None:
    # Given "expired" written as the wall-clock time 3 h from now in UTC
    expired = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    token = php_demo_token(KEY, "101", expired)
    # Then a UTC tenant accepts it, but for a Vietnam tenant (UTC+7) that wall-clock time was 4 h ago
    assert verify(token, zone=UTC_ZONE).ipphone == "101"
    with pytest.raises(TokenExpired):
        verify(token, zone=VIETNAM)


def test_iso_expired_with_offset_is_honoured() -> None:
    moment = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    token = php_demo_token(KEY, "101", moment.astimezone(ZoneInfo("Europe/Paris")).isoformat())
    assert verify(token).expires_at == moment


def test_malformed_expired_is_invalid() -> None:
    token = php_demo_token(KEY, "101", "next tuesday")
    with pytest.raises(TokenInvalid):
        verify(token)


def test_absent_expired_uses_default_lifetime_from_iat() -> None:
    # Given tokens without "expired": one signed 2 h ago, one signed 2 days ago
    header = {"typ": "JWT", "alg": "HS256"}
    recent = signed_token(header, {"ipphone": "101", "iat": int(time.time()) - 7200}, KEY)
    old = signed_token(header, {"ipphone": "101", "iat": int(time.time()) - 2 * 86400}, KEY)
    # Then the default one-day lifetime accepts the first and refuses the second
    assert verify(recent).ipphone == "101"
    with pytest.raises(TokenExpired):
        verify(old)


def test_absent_expired_and_no_iat_is_accepted_without_expiry() -> None:
    # The seeds: "if not passed, there is a default" - nothing to date it by, so it is accepted.
    claims = verify(php_demo_token(KEY, "101", None))
    assert claims.expires_at is None


def test_standard_exp_claim_is_checked() -> None:
    token = signed_token(
        {"typ": "JWT", "alg": "HS256"}, {"ipphone": "101", "exp": int(time.time()) - 120}, KEY
    )
    with pytest.raises(TokenExpired):
        verify(token)


def test_wrong_key_is_invalid() -> None:
    token = php_demo_token("someone-elses-key", "101", local_time(timedelta(hours=1)))
    with pytest.raises(TokenInvalid):
        verify(token)


def test_alg_none_is_refused() -> None:
    # Given an unsigned token claiming alg "none"
    header = b64url(php_json({"typ": "JWT", "alg": "none"}).encode())
    payload = b64url(php_json({"ipphone": "101", "expired": local_time(timedelta(hours=1))}).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(TokenInvalid):
            verify(token)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused(alg: str) -> None:
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    token = signed_token({"typ": "JWT", "alg": alg}, {"ipphone": "101"}, KEY, digest)
    with pytest.raises(TokenInvalid):
        verify(token)


def test_rs256_and_es256_tokens_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    payload = {"ipphone": "101", "expired": local_time(timedelta(hours=1))}
    for token in (
        jwt.encode(payload, rsa_key, algorithm="RS256"),
        jwt.encode(payload, ec_key, algorithm="ES256"),
    ):
        with pytest.raises(TokenInvalid):
            verify(token)


def test_public_key_as_hmac_secret_confusion_is_refused() -> None:
    # Given a tenant whose "access key" is an RSA public key, and an attacker who knows that public key
    # and signs HS256 with it (the classic RS256/HS256 confusion)
    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    token = signed_token({"typ": "JWT", "alg": "HS256"}, {"ipphone": "101"}, public_pem)
    # Then verification refuses the key as an HMAC secret: 401, not a 500 and not a login
    with pytest.raises(TokenInvalid):
        verify(token, key=public_pem.decode())


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 5000, "eyJhbGciOiJIUzI1NiJ9..."])
def test_garbage_is_invalid(token: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(token)


def test_signed_token_without_ipphone_is_ipphone_not_found() -> None:
    token = signed_token({"typ": "JWT", "alg": "HS256"}, {"expired": local_time(timedelta(hours=1))}, KEY)
    with pytest.raises(IpphoneNotFound) as caught:
        verify(token)
    assert caught.value.http_status == 400


def test_mint_matches_the_php_demo_format() -> None:
    # Given a token minted by us for an expiry an hour ahead
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    token = crm_jwt.mint(KEY, "101", expires_at=expires_at, zone=VIETNAM)
    # Then its header and payload are those of the PHP demo, and it verifies
    assert jwt.get_unverified_header(token) == {"typ": "JWT", "alg": "HS256"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload == {
        "ipphone": "101",
        "expired": expires_at.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S"),
    }
    assert verify(token).expires_at == expires_at
    # Byte for byte what login.php would produce from the same payload and key
    assert token == php_demo_token(KEY, "101", payload["expired"])


def test_unverified_ipphone_reads_without_key() -> None:
    assert crm_jwt.unverified_ipphone(php_demo_token("any", "102", None)) == "102"
    assert crm_jwt.unverified_ipphone("garbage") is None
