"""Phone numbers as PBXs send them (``090xxxxxxx``, ``84...``, ``+84 ...``) normalized to E.164.

The raw value is always kept next to the normalized one: a CRM searches by what it sees, support staff
by what the PBX sent. Numbers that are not dialable public numbers (an internal extension such as
``102``, a withheld caller ``anonymous``) keep ``e164=None`` and are indexed by their digits instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_REGION = "VN"
MAX_RAW_LENGTH = 64

# What PBXs put in the caller-id field when the caller hid it; not an error, just no number.
WITHHELD = frozenset({"anonymous", "unknown", "private", "restricted", "unavailable", "withheld"})
# Digits, a leading +, and the separators people and PBXs write between groups.
_DIALABLE = re.compile(r"^\+?[0-9][0-9 ()./-]*$")
_NOT_DIGIT = re.compile(r"[^0-9]")


class InvalidPhoneNumber(ValueError):
    """The value is neither a phone number, an extension, nor a withheld-caller marker."""


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str | None  # None: internal number or withheld caller
    withheld: bool = False

    @property
    def index_key(self) -> str | None:
        """What the by-phone index is keyed on: E.164 if any, else the digits; None if withheld."""
        if self.withheld:
            return None
        return self.e164 or _NOT_DIGIT.sub("", self.raw) or None


@lru_cache(maxsize=4096)
def normalize(raw: str, region: str = DEFAULT_REGION) -> Phone:
    """``raw`` as a :class:`Phone`; raises :class:`InvalidPhoneNumber` for text that is no number.

    A number is stored as E.164 when libphonenumber finds it *possible* for ``region`` (right length
    for the country), not only *valid*: numbering plans change faster than the library, and rejecting a
    real caller's call log is worse than keeping an unusual number.
    """
    # Cached: a call center sees the same callers all day, and parsing costs ~50 µs.
    import phonenumbers  # heavy import (metadata), only when a number is parsed

    value = raw.strip()
    if not value or len(value) > MAX_RAW_LENGTH:
        raise InvalidPhoneNumber("must be 1 to 64 characters")
    if value.lower() in WITHHELD:
        return Phone(raw=raw, e164=None, withheld=True)
    if not _DIALABLE.match(value):
        raise InvalidPhoneNumber("must contain only digits, an optional leading + and separators")
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return Phone(raw=raw, e164=None)
    if not phonenumbers.is_possible_number(parsed):
        return Phone(raw=raw, e164=None)
    return Phone(raw=raw, e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def search_key(value: str, region: str = DEFAULT_REGION) -> str | None:
    """The index key a search for ``value`` must use, so ``0904...`` finds calls stored as ``+84904...``."""
    return normalize(value, region).index_key
