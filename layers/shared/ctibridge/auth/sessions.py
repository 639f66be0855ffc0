"""Session tokens: the seed login's ``user.token``, used by the webphone and the agent API.

A session token is 256 random bits, opaque to clients. Only its SHA-256 is stored
(``SESSION#{sha256}/SESSION`` with a TTL), so a table dump does not hand out live sessions.

A session is valid while: its item exists and has not expired, the tenant is active, the agent still
exists and its ``session_epoch`` equals the one the session was issued under. The agent is read fresh at
every check (removal and revocation take effect at once); the tenant through the tenant cache
(``TENANT_CACHE_TTL_SECONDS``, 5 s: an expiry is seen within that).

Every token of one login shares a ``session_id`` (random, not a credential), and the login item
``LOGIN#{session_id}`` lists the hashes of all of them. Refreshing issues a new token (same login, new
expiry, up to ``SESSION_MAX_LIFETIME_SECONDS`` after the login) in one transaction with its entry in the
login item, which must still exist: a refresh after the logout fails. The replaced token keeps working
for ``REFRESH_GRACE_SECONDS`` so a tab's concurrent requests do not fail, but it belongs to the login: a
logout deletes the login item and every token it lists, so no token of a login outlives its logout.
The WebSocket tabs opened with any of them record the ``session_id``; each frame that acts for the agent
checks that login (``check_login``), and a logout closes its tabs (``ctibridge.realtime.revocation``).
"""

import hashlib
import re
import secrets
import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ConfigDict

from ctibridge import aws, keys
from ctibridge.errors import Unauthorized
from ctibridge.lazy import TypeSerializer
from ctibridge.model import Model
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


class Session(Model):
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


_serializer = TypeSerializer()


def _attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def _write(token: str, session: Session, *, new_login: bool) -> None:
    """The token's item and its entry in the login item, in one transaction.

    A new login creates its login item; a refresh appends to it on condition that it still exists (a
    logout deleted it: the refresh must fail, or it would mint a token the logout never saw).
    """
    assert session.session_id is not None
    token_hash = hash_token(token)
    table_name = get_settings().table_name
    token_put = {
        "Put": {
            "TableName": table_name,
            "Item": _attributes({**keys.session(token_hash), "type": "session", **session.model_dump()}),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }
    login_key = _attributes(keys.login(session.session_id))
    login_write: dict[str, Any]
    if new_login:
        login_write = {
            "Put": {
                "TableName": table_name,
                "Item": {
                    **login_key,
                    **_attributes(
                        {
                            "type": "login",
                            "tenant_id": session.tenant_id,
                            "ipphone": session.ipphone,
                            "epoch": session.epoch,
                            "token_hashes": [token_hash],
                            # The table's TTL attribute: no token of the login lives past it.
                            "expires_at": session.max_expires_at,
                        }
                    ),
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    else:
        login_write = {
            "Update": {
                "TableName": table_name,
                "Key": login_key,
                "UpdateExpression": "SET token_hashes = list_append(token_hashes, :h)",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeValues": _attributes({":h": [token_hash]}),
            }
        }
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=[login_write, token_put])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
        if not new_login and reasons and reasons[0] == "ConditionalCheckFailed":
            raise SessionRevoked("The login has ended; log in again.") from None
        raise


def issue(
    tenant: Tenant, agent: Agent, *, login_at: int | None = None, session_id: str | None = None
) -> tuple[str, Session]:
    """A new session for ``agent``; answers ``(token, session)``. The token is shown to the caller only.

    ``login_at`` and ``session_id`` are those of the login a refresh continues (its login item must
    still exist, else ``SessionRevoked``); a new login gets new ones.
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
    _write(token, session, new_login=session_id is None)
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
    if session.session_id is None:
        # Issued before logins had ids: it cannot join a login a logout would end; log in again.
        raise SessionRevoked("This session cannot be refreshed; log in again.")
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
    """Log out: every token of the token's login stops working at once (the refreshed ones and the one
    a refresh replaced); answers the session it was (None: unknown or malformed token, ignored), so the
    login's open WebSocket tabs can be closed.
    """
    if not (isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token)):
        return None
    table = _table()
    old = table.delete_item(Key=keys.session(hash_token(token)), ReturnValues="ALL_OLD").get("Attributes")
    if not old:
        return None
    session = Session.model_validate(old)
    if session.session_id:
        # The login item first: from then on no refresh can add a token to it (``_write``).
        login_key = keys.login(session.session_id)
        login = table.delete_item(Key=login_key, ReturnValues="ALL_OLD").get("Attributes")
        for token_hash in (login or {}).get("token_hashes", []):
            if token_hash != hash_token(token):
                table.delete_item(Key=keys.session(str(token_hash)))
    return session


def check_login(tenant_id: str, ipphone: str, session_id: str | None) -> None:
    """Raise ``SessionRevoked`` unless the login ``session_id`` of this agent is still live: not logged
    out, the agent there with the login's epoch, the tenant active. For WebSocket frames, which carry
    no token (the tab's connection records the login it was opened with). Read fresh each time, but
    for the tenant (its cache, ``TENANT_CACHE_TTL_SECONDS``).
    """
    epoch: int | None = None
    if session_id is not None:
        login = _table().get_item(Key=keys.login(session_id), ConsistentRead=True).get("Item")
        if not login or int(login.get("expires_at", 0)) <= int(time.time()):
            raise SessionRevoked("The login has ended; log in again.")
        if login.get("tenant_id") != tenant_id or login.get("ipphone") != ipphone:
            raise SessionRevoked()
        epoch = int(login["epoch"])
    tenant = repository.get_by_customer(tenant_id)
    if tenant is None or not tenant.is_active():
        raise SessionRevoked("The tenant is no longer active.")
    agent = repository.get_agent(tenant_id, ipphone)
    if agent is None or (epoch is not None and agent.session_epoch != epoch):
        raise SessionRevoked()
