"""Phone numbers to E.164 (default region VN), raw value kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctibridge import phones

# Vietnamese mobile prefixes (after the trunk 0) and Ho Chi Minh City / Hanoi landline area codes.
MOBILE_PREFIXES = [
    "90",
    "91",
    "93",
    "94",
    "96",
    "97",
    "98",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "38",
    "39",
    "70",
    "76",
    "77",
    "78",
    "79",
    "81",
    "82",
    "83",
    "84",
    "85",
    "86",
    "88",
    "89",
]
LANDLINE_PREFIXES = ["28", "24"]
SEPARATORS = ["", " ", "-", "."]


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0904824242", "+84904824242"),  # the seed's example customer number
        ("090 482 4242", "+84904824242"),
        ("+84904824242", "+84904824242"),
        ("84904824242", "+84904824242"),  # international without the +, as many VN PBXs send it
        ("0084904824242", "+84904824242"),
        ("02838123456", "+842838123456"),  # HCMC landline
        ("03386341", "+843386341"),  # the seed's short example: possible, kept
        ("+14155552671", "+14155552671"),  # foreign numbers keep their country
    ],
)
def test_normalizes_to_e164_and_keeps_the_raw_value(raw: str, e164: str) -> None:
    # When a PBX sends the number as written
    phone = phones.normalize(raw)
    # Then it is stored in E.164, next to what was sent
    assert phone.e164 == e164
    assert phone.raw == raw
    assert phone.index_key == e164


@pytest.mark.parametrize("raw", ["102", "5000"])
def test_internal_extensions_have_no_e164_but_are_indexed_by_digits(raw: str) -> None:
    phone = phones.normalize(raw)
    assert phone.e164 is None
    assert phone.index_key == raw


@pytest.mark.parametrize("raw", ["anonymous", "Unknown", "PRIVATE"])
def test_withheld_callers_are_not_errors_and_not_indexed(raw: str) -> None:
    phone = phones.normalize(raw)
    assert phone.withheld
    assert phone.index_key is None


@pytest.mark.parametrize("raw", ["", "   ", "090xxxx242", "call me", "1" * 65, "+-"])
def test_rejects_what_is_no_number(raw: str) -> None:
    with pytest.raises(phones.InvalidPhoneNumber):
        phones.normalize(raw)


@settings(deadline=None)
@given(
    prefix=st.sampled_from(MOBILE_PREFIXES + LANDLINE_PREFIXES),
    digits=st.text(alphabet="0123456789", min_size=7, max_size=7),
    separator=st.sampled_from(SEPARATORS),
    form=st.sampled_from(["national", "plus", "bare", "zerozero"]),
)
def test_every_written_form_of_a_number_has_one_e164(
    prefix: str, digits: str, separator: str, form: str
) -> None:
    # Given a Vietnamese number written in any of the forms PBXs and people use
    national = f"{prefix}{digits}"
    grouped = separator.join([national[:3], national[3:6], national[6:]])
    written = {
        "national": f"0{grouped}",
        "plus": f"+84{separator}{grouped}",
        "bare": f"84{grouped}",
        "zerozero": f"0084{grouped}",
    }[form]
    # When it is normalized
    phone = phones.normalize(written)
    # Then it is one E.164 number, and normalizing that again changes nothing
    assert phone.e164 == f"+84{national}"
    assert phones.normalize(phone.e164).e164 == phone.e164


@settings(deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_phone_or_a_clean_error(text: str) -> None:
    # Whatever a PBX sends, normalization answers a Phone or InvalidPhoneNumber, nothing else
    try:
        phone = phones.normalize(text)
    except phones.InvalidPhoneNumber:
        return
    assert phone.raw == text
    assert phone.e164 is None or phone.e164.startswith("+")
