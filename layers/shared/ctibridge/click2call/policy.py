"""Which numbers a tenant may call: normalization, internal extensions, allow/deny prefixes.

Toll fraud (premium 1900 numbers, international ranges) is stopped here, before any device dials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctibridge import phones
from ctibridge.click2call.errors import InvalidPhone, PermissionDenied
from ctibridge.tenants.models import Tenant

# As the seed vendors' script: 1-7 digits not starting with 0 are an internal extension.
_INTERNAL = re.compile(r"^[1-9][0-9]{0,6}$")
_NOT_DIGIT = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class DialableNumber:
    raw: str
    e164: str | None  # None for an internal extension
    internal: bool

    def prefix_forms(self) -> tuple[str, ...]:
        """The spellings a prefix rule may be written against: national digits and E.164."""
        digits = _NOT_DIGIT.sub("", self.raw)
        forms = [digits]
        if self.e164:
            forms += [self.e164, self.e164.lstrip("+")]
        return tuple(forms)


def _matches(number: DialableNumber, prefixes: list[str]) -> str | None:
    for prefix in prefixes:
        wanted = prefix.strip()
        if wanted and any(form.startswith(wanted) for form in number.prefix_forms()):
            return wanted
    return None


def check_number(tenant: Tenant, raw: str) -> DialableNumber:
    """``raw`` as a number the tenant may call; :class:`InvalidPhone` or :class:`PermissionDenied`."""
    if _INTERNAL.match(raw.strip()):
        return _allowed(tenant, DialableNumber(raw=raw, e164=None, internal=True))
    try:
        phone = phones.normalize(raw, phones.DEFAULT_REGION)
    except phones.InvalidPhoneNumber as error:
        raise InvalidPhone(f"phone: {error}", field="phone") from None
    if phone.withheld:
        raise InvalidPhone("phone: a withheld number cannot be called", field="phone")
    if phone.e164 is None:
        raise InvalidPhone("phone: not a valid phone number or internal extension", field="phone")
    return _allowed(tenant, DialableNumber(raw=raw, e164=phone.e164, internal=False))


def _allowed(tenant: Tenant, number: DialableNumber) -> DialableNumber:
    denied = _matches(number, tenant.callout_deny_prefixes)
    if denied:
        raise PermissionDenied(f"Numbers starting with {denied} may not be called.")
    if tenant.callout_allow_prefixes and not _matches(number, tenant.callout_allow_prefixes):
        raise PermissionDenied("This number is outside the prefixes the tenant may call.")
    return number
