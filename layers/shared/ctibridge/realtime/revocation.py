"""Closing the WebSocket tabs of sessions that ended: a logout, revoked sessions, a removed agent, a
tenant that is no longer active.

A revoked session's token no longer opens a tab (``$connect`` answers 401), but tabs opened before stay
open (API Gateway keeps a connection up to 2 hours) and would keep receiving popups. So each tab of the
ended scope is, in this order:

1. forgotten (its items and its place in the agent's state: ``presence.forget``): from then on no popup
   or command reaches it, whatever happens next;
2. told why (``session.revoked``), so the webphone shows "signed out" instead of reconnecting;
3. closed through @connections DeleteConnection (already gone is fine); API Gateway then runs
   ``$disconnect``, which finds nothing left to forget.

Which tabs: a logout, those of that login (each connection records the ``session_id`` it was opened
with); revoking an agent's sessions or removing the agent, all of its tabs; a tenant that stops being
active, all of its agents' tabs. Each agent is one Query of its partition (``connections.for_agent``).

Without a WebSocket endpoint (the CLI run without ``--ws-callback-url``) tabs are forgotten but neither
told nor closed: popups stop at once, and the webphone finds out at its next request.

Failures are logged, never raised: the session has ended already, which is what matters to the caller.
"""

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ctibridge import connections, push
from ctibridge.connections import Connection
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import RevokedReason, SessionRevokedPush, Voice
from ctibridge.settings import get_settings
from ctibridge.tenants import repository

_AWS_ERRORS = (ClientError, BotoCoreError)


def end_session(
    tenant_id: str, ipphone: str, session_id: str | None, reason: RevokedReason = "logout"
) -> int:
    """Close the tabs opened by one login (any of its refreshed tokens); answers how many there were."""
    if not session_id:
        return 0  # a session issued before sessions had ids: its tabs cannot be told apart
    return end_tabs([c for c in _tabs(tenant_id, ipphone) if c.session_id == session_id], reason)


def end_agent(tenant_id: str, ipphone: str, reason: RevokedReason) -> int:
    """Close every tab of an agent (its sessions were revoked, or it was removed)."""
    return end_tabs(_tabs(tenant_id, ipphone), reason)


def end_tenant(tenant_id: str, reason: RevokedReason = "tenant_inactive") -> int:
    """Close every tab of every agent of a tenant: one Query for the agents, one per agent for its tabs."""
    try:
        agents = repository.list_agents(tenant_id)
    except _AWS_ERRORS:
        logger.exception("could not list the agents whose tabs to close", extra={"tenant": tenant_id})
        return 0
    return sum(end_agent(tenant_id, agent.ipphone, reason) for agent in agents)


def end_tabs(targets: Sequence[Connection], reason: RevokedReason) -> int:
    """Forget, tell and close each of ``targets`` (see the module docstring); answers ``len(targets)``."""
    if not targets:
        return 0
    can_push = bool(get_settings().websocket_callback_url)
    notice = SessionRevokedPush(reason=reason).to_bytes()
    released: set[tuple[str, str]] = set()
    for connection in targets:
        log = {"tenant": connection.tenant_id, "ipphone": connection.ipphone, "tab": connection.tab}
        try:
            if presence.forget(connection):
                released.add((connection.tenant_id, connection.ipphone))
        except _AWS_ERRORS:
            # Closing it still matters; its items expire with the connection's TTL.
            logger.exception("could not forget the tab of an ended session", extra=log)
        if not can_push:
            continue
        try:
            told = push.post(connection.connection_id, notice)
        except _AWS_ERRORS as error:
            told = True  # not gone, only not told (throttled...): still close it
            logger.warning(
                "could not tell an ended session's tab", extra={**log, "error": type(error).__name__}
            )
        if not told:
            continue  # gone already: nothing to close
        try:
            push.close(connection.connection_id)
        except _AWS_ERRORS as error:
            logger.warning(
                "could not close the tab of an ended session", extra={**log, "error": type(error).__name__}
            )
    logger.info("closed the tabs of an ended session", extra={"reason": reason, "tabs": len(targets)})
    # The agent's other tabs (other logins) hear that voice is free, as after any tab's $disconnect.
    for tenant_id, ipphone in released if can_push else ():
        fanout.send_to_agent(tenant_id, ipphone, Voice(enabled=False, holder_tab=None, reason="released"))
    return len(targets)


def _tabs(tenant_id: str, ipphone: str) -> list[Connection]:
    try:
        return connections.for_agent(tenant_id, ipphone)
    except _AWS_ERRORS:
        logger.exception("could not list the tabs to close", extra={"tenant": tenant_id, "ipphone": ipphone})
        return []
