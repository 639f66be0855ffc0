"""Standard Webhooks signatures: the reference vector, round trips, tampering, replay tolerance."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctibridge.delivery import signing

# The reference vector of the Standard Webhooks specification's test suites.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

secrets_ = st.binary(min_size=16, max_size=64).map(lambda key: "whsec_" + base64.b64encode(key).decode())
ids = st.from_regex(r"evt_[0-9a-f]{32}", fullmatch=True)
bodies = st.binary(max_size=2048)


def test_signature_matches_the_specification_vector() -> None:
    # Given the specification's secret, id, timestamp and body
    # When we sign
    signature = signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    # Then it is the specification's signature, so the official libraries verify our requests
    assert signature == SPEC_SIGNATURE


@given(secret=secrets_, msg_id=ids, body=bodies)
def test_any_body_and_secret_round_trip(secret: str, msg_id: str, body: bytes) -> None:
    # Given headers signed now
    headers = signing.sign_headers(secret, msg_id, body, timestamp=1_700_000_000)
    # When the CRM verifies them at the same moment
    verified = signing.verify(secret, headers, body, now=1_700_000_000)
    # Then the signature holds and the event id comes back
    assert verified == msg_id


@given(secret=secrets_, msg_id=ids, body=bodies.filter(bool), data=st.data())
def test_any_single_byte_tamper_fails(secret: str, msg_id: str, body: bytes, data: st.DataObject) -> None:
    # Given a signed request whose body is changed in one byte
    headers = signing.sign_headers(secret, msg_id, body, timestamp=1_700_000_000)
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]
    # When the CRM verifies it
    # Then it is refused
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify(secret, headers, tampered, now=1_700_000_000)
    assert refused.value.code == "SIGNATURE_MISMATCH"


def test_another_secret_id_or_timestamp_fails() -> None:
    # Given a signed request
    secret = signing.generate_secret()
    headers = signing.sign_headers(secret, "evt_1", b"{}", timestamp=1_700_000_000)
    # When any signed part differs, Then it does not verify
    for changed in (
        {**headers, "webhook-id": "evt_2"},
        {**headers, "webhook-timestamp": "1700000001"},
    ):
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, changed, b"{}", now=1_700_000_000)
    with pytest.raises(signing.SignatureError):
        signing.verify(signing.generate_secret(), headers, b"{}", now=1_700_000_000)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    # Given a request signed at t
    secret = signing.generate_secret()
    headers = signing.sign_headers(secret, "evt_1", b"{}", timestamp=1_700_000_000)
    # When verified 5 minutes later it passes, 5 minutes and a second later (or earlier) it does not
    assert signing.verify(secret, headers, b"{}", now=1_700_000_000 + 300) == "evt_1"
    for now in (1_700_000_000 + 301, 1_700_000_000 - 301):
        with pytest.raises(signing.SignatureError) as refused:
            signing.verify(secret, headers, b"{}", now=now)
        assert refused.value.code == "TIMESTAMP_OUT_OF_TOLERANCE"


def test_one_of_several_signatures_is_enough_and_headers_are_case_insensitive() -> None:
    # Given a request signed with the new secret, listed after an unknown signature (a rotation)
    secret = signing.generate_secret()
    headers = signing.sign_headers(secret, "evt_1", b"{}", timestamp=1_700_000_000)
    headers = {k.upper(): v for k, v in headers.items()}
    headers["WEBHOOK-SIGNATURE"] = "v1,bm90IGl0 " + headers["WEBHOOK-SIGNATURE"]
    # When verified, Then it passes
    assert signing.verify(secret, headers, b"{}", now=1_700_000_000) == "evt_1"


def test_missing_headers_and_bad_secrets_are_reported() -> None:
    # Given no headers at all
    # Then the verifier says which problem it is
    with pytest.raises(signing.SignatureError) as missing:
        signing.verify(signing.generate_secret(), {}, b"{}")
    assert missing.value.code == "MISSING_HEADERS"
    # And a secret that is not base64 cannot sign
    with pytest.raises(ValueError, match="base64"):
        signing.secret_key("whsec_not base64!")
    assert signing.generate_secret().startswith("whsec_")
