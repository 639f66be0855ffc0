"""The request token that travels through the PBX and back as userfield."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ctibridge.click2call.models import call_token, new_request_id, request_id_from_userfield


def test_token_round_trips_through_userfield_and_sip_call_id() -> None:
    request_id = new_request_id()
    assert request_id_from_userfield(call_token(request_id)) == request_id
    # JsSIP or a PBX may add @host to a Call-ID
    assert request_id_from_userfield(f"{call_token(request_id)}@10.0.0.1") == request_id


@given(st.text(max_size=80))
def test_a_crm_userfield_is_never_taken_for_a_token(userfield: str) -> None:
    if not userfield.startswith("ctb-"):
        assert request_id_from_userfield(userfield) is None


def test_malformed_tokens_are_not_tokens() -> None:
    for value in ("ctb-", "ctb-xyz", "ctb-" + "0" * 31, "ctb-" + "G" * 32, "order-123", None, ""):
        assert request_id_from_userfield(value) is None
