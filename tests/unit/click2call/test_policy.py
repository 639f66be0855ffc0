"""Which numbers a tenant may call (toll-fraud guard) and how numbers are read."""

from __future__ import annotations

import pytest

from ctibridge.click2call.errors import InvalidPhone, PermissionDenied
from ctibridge.click2call.policy import check_number
from ctibridge.tenants.models import Tenant


def _tenant(**fields: object) -> Tenant:
    return Tenant.model_validate({"tenant_id": "demo", "domain": "demo", **fields})


@pytest.mark.parametrize(
    ("raw", "e164", "internal"),
    [
        ("0901234567", "+84901234567", False),
        ("+84 90 123 4567", "+84901234567", False),
        ("84901234567", "+84901234567", False),
        ("102", None, True),
        ("1234567", None, True),
    ],
)
def test_numbers_are_normalized_or_read_as_extensions(raw: str, e164: str | None, internal: bool) -> None:
    number = check_number(_tenant(), raw)
    assert (number.e164, number.internal) == (e164, internal)


@pytest.mark.parametrize("raw", ["abc", "090-CALL-ME", "anonymous", "0", "012", " ", "1" * 40])
def test_what_is_not_a_number_is_refused_with_the_field(raw: str) -> None:
    with pytest.raises(InvalidPhone) as refused:
        check_number(_tenant(), raw)
    assert refused.value.code == "INVALID_PHONE_NUMBER"
    assert refused.value.details["field"] == "phone"


@pytest.mark.parametrize("raw", ["19001234", "1900 1234", "+841900123456"])
def test_deny_prefixes_stop_premium_numbers_in_any_spelling(raw: str) -> None:
    tenant = _tenant(callout_deny_prefixes=["1900", "+841900"])
    with pytest.raises(PermissionDenied) as refused:
        check_number(tenant, raw)
    assert refused.value.code == "CALLOUT_PERMISSION_DENY"


def test_allow_prefixes_admit_only_listed_ranges() -> None:
    tenant = _tenant(callout_allow_prefixes=["+8490", "+8491"])
    assert check_number(tenant, "0901234567").e164 == "+84901234567"
    assert check_number(tenant, "0911234567").e164 == "+84911234567"
    with pytest.raises(PermissionDenied):
        check_number(tenant, "0981234567")
    with pytest.raises(PermissionDenied):
        check_number(tenant, "+12025550123")


def test_deny_wins_over_allow() -> None:
    tenant = _tenant(callout_allow_prefixes=["+84"], callout_deny_prefixes=["+84900"])
    with pytest.raises(PermissionDenied):
        check_number(tenant, "0900123456")
