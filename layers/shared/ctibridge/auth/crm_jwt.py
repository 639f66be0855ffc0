"""The CRM's login token of seeds 001/002: a JWT signed HS256 with the tenant's access key.

Payload ``{"ipphone": "5000", "expired": "2017-07-30 00:00:00"}``; ``expired`` is a local time of the
tenant's timezone, optional ("if absent, a default applies"). The vendors' PHP demo signs it with
firebase/php-jwt ``JWT::encode($payload, $key)`` (header ``{"typ":"JWT","alg":"HS256"}``).

The algorithm is pinned: a token whose header names anything but HS256 (``none``, RS256, ES256...) is
refused before any key is used, and PyJWT refuses PEM or SSH keys as HMAC secrets, which closes the
classic public-key-as-HMAC-secret confusion.
"""

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ctibridge.deferred_package import defer_init

# PyJWT's __init__ imports its JWKS client (urllib.request, http.client, ...) for keys fetched over HTTP,
# which a shared HS256 key never is: ~25 ms of a login's cold start. jwt.decode and the rest load alone.
defer_init("jwt")

import jwt  # noqa: E402

from ctibridge.errors import IpphoneNotFound, TokenExpired, TokenInvalid  # noqa: E402

ALGORITHM = "HS256"
EXPIRED_FORMAT = "%Y-%m-%d %H:%M:%S"  # PHP's "Y-m-d H:i:s"
# A seed token is ~150 characters; anything near the body limit is not one.
MAX_TOKEN_CHARS = 4096


@dataclass(frozen=True)
class LoginClaims:
    """What a verified login token says."""

    ipphone: str
    expires_at: datetime | None  # None: the token carried no expiry at all
    claims: dict[str, Any] = field(repr=False)


def unverified_ipphone(token: str) -> str | None:
    """The ``ipphone`` a token claims, WITHOUT checking its signature: only for throttling keys."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = claims.get("ipphone") if isinstance(claims, dict) else None
    return _ipphone(value)


def _ipphone(value: Any) -> str | None:
    # PHP arrays often carry the extension as an int; both are accepted.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _from_epoch(value: float, claim: str) -> datetime:
    # A CRM's milliseconds (JavaScript's Date.now()) or any number past year 9999 is no date: a 401
    # naming the claim, not an OverflowError's 500.
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenInvalid(f"The token's '{claim}' is not a date in epoch seconds.") from None


def parse_expired(value: Any, zone: ZoneInfo) -> datetime:
    """``expired`` as an aware datetime: "Y-m-d H:i:s" (or ISO 8601) in ``zone``, or epoch seconds."""
    if isinstance(value, bool):
        raise TokenInvalid("The token's 'expired' must be a date 'Y-m-d H:i:s'.")
    if isinstance(value, int | float):
        return _from_epoch(value, "expired")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise TokenInvalid("The token's 'expired' must be a date 'Y-m-d H:i:s'.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    raise TokenInvalid("The token's 'expired' must be a date 'Y-m-d H:i:s'.")


def verify(
    token: str,
    access_key: str,
    *,
    zone: ZoneInfo,
    leeway_seconds: int,
    default_lifetime_seconds: int,
    now: datetime | None = None,
) -> LoginClaims:
    """Check a login token's signature (HS256 only) and expiry; answer its claims.

    Raises ``TokenInvalid`` (401), ``TokenExpired`` (401) or, for a well-signed token without an
    ``ipphone``, ``IpphoneNotFound`` (400).
    """
    now = now or datetime.now(UTC)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenInvalid()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid("The token must be signed with HS256.")
    try:
        with warnings.catch_warnings():
            # Vendor-issued access keys are often shorter than RFC 7518's 32 bytes; we cannot refuse
            # them without breaking seed compatibility, so PyJWT's warning is noise here.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                access_key,
                algorithms=[ALGORITHM],
                leeway=leeway_seconds,
                # The seed token has no aud/iss; an aud some CRM library adds must not fail the login.
                options={"verify_aud": False, "verify_iss": False},
            )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError:
        # Bad signature, malformed token, a PEM/SSH key used as HMAC secret, immature nbf/iat...
        raise TokenInvalid() from None
    if not isinstance(claims, dict):
        raise TokenInvalid()

    expires_at = _expiry(claims, zone, default_lifetime_seconds)
    # The leeway is taken off ``now``: added to an ``expired`` of 9999-12-31 (a CRM's "never"), it
    # would overflow the calendar.
    if expires_at is not None and now - timedelta(seconds=leeway_seconds) > expires_at:
        raise TokenExpired()
    ipphone = _ipphone(claims.get("ipphone"))
    if ipphone is None:
        raise IpphoneNotFound("The token carries no ipphone.")
    return LoginClaims(ipphone=ipphone, expires_at=expires_at, claims=claims)


def _expiry(claims: dict[str, Any], zone: ZoneInfo, default_lifetime_seconds: int) -> datetime | None:
    if claims.get("expired") not in (None, ""):
        return parse_expired(claims["expired"], zone)
    if isinstance(claims.get("exp"), int | float):  # already checked by PyJWT
        return _from_epoch(claims["exp"], "exp")
    if isinstance(claims.get("iat"), int | float):
        # The seed's "default" expiry: a lifetime counted from when the CRM signed the token.
        try:
            return _from_epoch(claims["iat"], "iat") + timedelta(seconds=default_lifetime_seconds)
        except OverflowError:
            raise TokenInvalid("The token's 'iat' is not a date in epoch seconds.") from None
    # Nothing to date the token by: the seeds accept it (the session's own lifetime still applies).
    return None


def format_expired(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` as the seeds write ``expired``: "Y-m-d H:i:s" in the tenant's timezone."""
    return moment.astimezone(zone).strftime(EXPIRED_FORMAT)


def format_epoch(epoch_seconds: int, zone: ZoneInfo) -> str:
    return format_expired(datetime.fromtimestamp(epoch_seconds, UTC), zone)


def mint(access_key: str, ipphone: str, *, expires_at: datetime | None, zone: ZoneInfo) -> str:
    """A login token exactly like the seeds' PHP demo makes: HS256, ``{ipphone, expired}``.

    ``expires_at=None`` leaves ``expired`` out (the seed's "default" expiry applies).
    """
    payload = {"ipphone": ipphone}
    if expires_at is not None:
        payload["expired"] = format_expired(expires_at, zone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        # Header in php-jwt's key order (typ, alg): the same bytes, so the same token, as the demo.
        return jwt.encode(
            payload,
            access_key,
            algorithm=ALGORITHM,
            headers={"typ": "JWT", "alg": ALGORITHM},
            sort_headers=False,
        )
