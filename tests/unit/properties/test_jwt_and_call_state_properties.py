"""Property tests filling what the feature suites leave to examples: the seed login JWT's validation and
the agent's call-state machine under any order and duplication of a call's events.

(Webhook parameter parsing, phone normalization, calldate/timezone conversion and the call record merge
are property-tested next to their examples, in tests/unit/calls/.)
"""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from ctibridge import aws
from ctibridge.auth import crm_jwt
from ctibridge.errors import IpphoneNotFound, TokenExpired, TokenInvalid
from ctibridge.realtime import presence
from tests.support.aws import create_table_from_template
from tests.support.seed_tokens import signed_token

LEEWAY = 30
DEFAULT_LIFETIME = 86400
ZONES = st.sampled_from(["Asia/Ho_Chi_Minh", "UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham"])
IPPHONES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_!@#", min_size=1, max_size=64)
# Whole seconds: the seed's "Y-m-d H:i:s" carries no fraction.
MOMENTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


def verify(token: str, key: str, zone: ZoneInfo, now: datetime) -> crm_jwt.LoginClaims:
    return crm_jwt.verify(
        token, key, zone=zone, leeway_seconds=LEEWAY, default_lifetime_seconds=DEFAULT_LIFETIME, now=now
    )


# ---------------------------------------------------------------- the login JWT


@given(ipphone=IPPHONES, key=KEYS, zone=ZONES, expires=MOMENTS, before=st.integers(0, 10 * 86400))
def test_a_minted_token_verifies_to_its_ipphone_and_expiry_in_any_timezone(
    ipphone: str, key: str, zone: str, expires: datetime, before: int
) -> None:
    # Given a token minted as the seeds' PHP demo would, expiring at ``expires`` written in ``zone``
    tz = ZoneInfo(zone)
    # Wall-clock times a DST change skips or repeats are ambiguous in "Y-m-d H:i:s": not this property
    local = expires.astimezone(tz)
    assume(local.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC) == expires)
    token = crm_jwt.mint(key, ipphone, expires_at=expires, zone=tz)
    # When it is verified any time before then
    claims = verify(token, key, tz, now=expires - timedelta(seconds=before))
    # Then it names the agent and the exact expiry instant
    assert claims.ipphone == ipphone
    assert claims.expires_at == expires


@given(key=KEYS, zone=ZONES, expires=MOMENTS, after=st.integers(-LEEWAY, LEEWAY + 3600))
def test_expiry_is_exact_to_the_leeway(key: str, zone: str, expires: datetime, after: int) -> None:
    tz = ZoneInfo(zone)
    local = expires.astimezone(tz)
    assume(local.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC) == expires)
    token = crm_jwt.mint(key, "101", expires_at=expires, zone=tz)
    now = expires + timedelta(seconds=after)
    if after <= LEEWAY:
        assert verify(token, key, tz, now).ipphone == "101"
    else:
        with pytest.raises(TokenExpired):
            verify(token, key, tz, now)


@given(key=KEYS, other=KEYS, ipphone=IPPHONES)
def test_another_tenants_key_never_verifies(key: str, other: str, ipphone: str) -> None:
    assume(key != other)
    token = crm_jwt.mint(key, ipphone, expires_at=None, zone=ZoneInfo("UTC"))
    with pytest.raises(TokenInvalid):
        verify(token, other, ZoneInfo("UTC"), datetime.now(UTC))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, ipphone=IPPHONES, data=st.data())
def test_any_single_character_tamper_is_refused(key: str, ipphone: str, data: st.DataObject) -> None:
    # Given a valid token
    token = crm_jwt.mint(key, ipphone, expires_at=None, zone=ZoneInfo("UTC"))
    # When one character of its header, payload or signature is changed (not a segment's last character,
    # whose low bits may be base64 padding that decodes to the same bytes)
    positions = [i for i, c in enumerate(token) if c != "." and i + 1 < len(token) and token[i + 1] != "."]
    position = data.draw(st.sampled_from(positions))
    replacement = data.draw(
        st.sampled_from(string.ascii_letters + string.digits + "-_").filter(lambda c: c != token[position])
    )
    tampered = token[:position] + replacement + token[position + 1 :]
    # Then it is refused as invalid, never accepted
    with pytest.raises(TokenInvalid):
        verify(tampered, key, ZoneInfo("UTC"), datetime.now(UTC))


@given(
    key=KEYS,
    alg=st.sampled_from(["none", "HS384", "HS512", "RS256", "ES256", "hs256", "", "HS256 "]),
)
def test_only_hs256_is_accepted_even_when_correctly_signed(key: str, alg: str) -> None:
    # Given tokens signed with the tenant's key under another algorithm name (HMAC where possible)
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    token = signed_token({"typ": "JWT", "alg": alg}, {"ipphone": "101"}, key, digest)
    if alg == "none":
        token = token.rsplit(".", 1)[0] + "."
    with pytest.raises(TokenInvalid):
        verify(token, key, ZoneInfo("UTC"), datetime.now(UTC))


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_any_text_is_refused_with_a_client_error_never_a_crash(text: str) -> None:
    # Any other exception (or an accepted token) fails the test
    with pytest.raises((TokenInvalid, TokenExpired, IpphoneNotFound)) as refused:
        verify(text, "demo-access-key", ZoneInfo("UTC"), datetime.now(UTC))
    assert 400 <= refused.value.http_status < 500


# ---------------------------------------------------------------- the agent's call-state machine

EVENTS = st.lists(st.sampled_from(["ringing", "outgoing", "answered", "ended"]), min_size=1, max_size=8)


def _apply(event: str, callid: str) -> None:
    if event == "answered":  # the webphone's callState in_call
        presence.set_call_state("demo", "101", callid, "in_call")
    else:
        presence.record_call_event("demo", "101", event, callid, "0904824242", "inbound")  # type: ignore[arg-type]


@settings(
    max_examples=30,
    deadline=None,
    # Each example builds a moto table: bounded time, no shrinking (a failure prints its events).
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(events=EVENTS)
def test_the_call_state_ends_idle_once_the_call_has_ended_whatever_the_order(events: list[str]) -> None:
    # Given one call's events (PBX ring/outgoing/end, the webphone's answer) in any order, duplicated
    with mock_aws():
        aws.reset()
        create_table_from_template("ctibridge-test")
        for event in events:
            _apply(event, "c1")
        state = presence.get_state("demo", "101")
        aws.reset()
    # Then once it has ended the agent is idle, however late its other events came; before, it is busy
    if "ended" in events:
        assert state.call.state == "idle"
        assert state.call.callid is None
    else:
        # in a call once answered (or dialing out): a repeated or late ring never moves it back
        busy = "answered" in events or "outgoing" in events
        assert (state.call.state, state.call.callid) == ("in_call" if busy else "ringing", "c1")
