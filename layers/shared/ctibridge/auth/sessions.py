"""Session tokens: the seed login's ``user.token``, used by the webphone and the agent API.

A session token is 256 random bits, opaque to clients. Only its SHA-256 is stored
(``SESSION#{sha256}/SESSION`` with a TTL), so a table dump does not hand out live sessions.

A session is valid while: its item exists and has not expired, the tenant is active, the agent still
exists and its ``session_epoch`` equals the one the session was issued under. So removing an agent,
bumping its epoch or expiring the tenant revokes its sessions without touching them (the tenant part
within the tenant cache TTL).

Refreshing issues a new token (same login, new expiry) up to ``SESSION_MAX_LIFETIME_SECONDS`` after the
login; the old token keeps working for a short grace period so concurrent requests do not fail.

Every token of one login shares a ``session_id`` (random, not a credential): the WebSocket tabs opened
with any of them record it, so a logout closes the login's tabs even after the token was refreshed
(``ctibridge.realtime.revocation``).
"""

import hashlib
import re
import secrets
import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from ctibridge import aws, keys
from ctibridge.errors import Unauthorized
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.models import Agent, Tenant

TOKEN_BYTES = 32
SESSION_ID_BYTES = 16
# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-]; anything else is refused without a read.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
REFRESH_GRACE_SECONDS = 30


class SessionInvalid(Unauthorized):
    code = "SESSION_INVALID"
    message = "The session token is invalid."


class SessionExpired(Unauthorized):
    code = "SESSION_EXPIRED"
    message = "The session has expired; log in again."


class SessionRevoked(Unauthorized):
    code = "SESSION_REVOKED"
    message = "The session was revoked; log in again."


class Session(BaseModel):
    """A live session, as ``verify`` answers it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tenant_id: str
    domain: str
    ipphone: str
    user_id: int
    epoch: int
    login_at: int  # epoch seconds of the login this session descends from
    # The login's id, kept by refreshes; None for sessions issued before it existed.
    session_id: str | None = None
    issued_at: int
    expires_at: int
    max_expires_at: int  # refreshing never goes past this


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _table() -> Any:
    return aws.table(get_settings().table_name)


def _put(token: str, session: Session) -> None:
    _table().put_item(
        Item={**keys.session(hash_token(token)), "type": "session", **session.model_dump()},
        ConditionExpression="attribute_not_exists(PK)",
    )


def issue(
    tenant: Tenant, agent: Agent, *, login_at: int | None = None, session_id: str | None = None
) -> tuple[str, Session]:
    """A new session for ``agent``; answers ``(token, session)``. The token is shown to the caller only.

    ``login_at`` and ``session_id`` are those of the login a refresh continues; a new login gets new ones.
    """
    settings = get_settings()
    now = int(time.time())
    login_at = login_at or now
    max_expires_at = login_at + settings.session_max_lifetime_seconds
    session = Session(
        tenant_id=tenant.tenant_id,
        domain=tenant.domain,
        ipphone=agent.ipphone,
        user_id=agent.user_id,
        epoch=agent.session_epoch,
        login_at=login_at,
        session_id=session_id or secrets.token_hex(SESSION_ID_BYTES),
        issued_at=now,
        expires_at=min(now + settings.session_ttl_seconds, max_expires_at),
        max_expires_at=max_expires_at,
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    _put(token, session)
    return token, session


def _load(token: str) -> Session:
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise SessionInvalid()
    # Consistent read: the webphone connects right after the login that wrote the item.
    item = _table().get_item(Key=keys.session(hash_token(token)), ConsistentRead=True).get("Item")
    if not item:
        raise SessionInvalid()
    return Session.model_validate(item)  # DynamoDB's integral Decimals validate as int


def verify(token: str) -> Session:
    """The live session of ``token``; raises SessionInvalid, SessionExpired or SessionRevoked (401)."""
    session = _load(token)
    if session.expires_at <= int(time.time()):
        # The table's TTL deletes expired items lazily (up to days later): check it here.
        raise SessionExpired()
    tenant = repository.get_by_customer(session.tenant_id)
    if tenant is None or not tenant.is_active():
        raise SessionRevoked("The tenant is no longer active.")
    agent = repository.get_agent(session.tenant_id, session.ipphone)
    if agent is None or agent.session_epoch != session.epoch:
        raise SessionRevoked()
    return session


def refresh(token: str) -> tuple[str, Session]:
    """A new token for a live session, expiring later (bounded by the login's maximum lifetime)."""
    session = verify(token)
    now = int(time.time())
    if now >= session.max_expires_at:
        raise SessionExpired("The login is too old to refresh; log in again.")
    tenant = repository.get_by_customer(session.tenant_id)
    agent = repository.get_agent(session.tenant_id, session.ipphone)
    if tenant is None or agent is None:  # verify() just saw them; a race with a removal
        raise SessionRevoked()
    new_token, new_session = issue(tenant, agent, login_at=session.login_at, session_id=session.session_id)
    _shorten(token, now + REFRESH_GRACE_SECONDS)
    return new_token, new_session


def _shorten(token: str, expires_at: int) -> None:
    try:
        _table().update_item(
            Key=keys.session(hash_token(token)),
            UpdateExpression="SET expires_at = :t",
            ConditionExpression="attribute_exists(PK) AND expires_at > :t",
            ExpressionAttributeValues={":t": expires_at},
        )
    except ClientError as error:
        # Already shorter, or gone: nothing to do.
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def revoke(token: str) -> Session | None:
    """Log out: the token stops working at once; answers the session it was (None: unknown or malformed
    token, ignored), so its open WebSocket tabs can be closed.
    """
    if not (isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token)):
        return None
    old = _table().delete_item(Key=keys.session(hash_token(token)), ReturnValues="ALL_OLD").get("Attributes")
    return Session.model_validate(old) if old else None
