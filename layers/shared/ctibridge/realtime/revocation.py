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
What really happened is counted in the answered ``TabsReport`` (found, told, closed, failed), so the
CLI can say it, and fail when the endpoint it was given could not be reached.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ctibridge import connections, push
from ctibridge.connections import Connection
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import RevokedReason, SessionRevokedPush, Voice
from ctibridge.settings import get_settings
from ctibridge.tenants import repository

_AWS_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class TabsReport:
    """What closing the tabs of an ended session did."""

    found: int = 0  # open tabs of the ended scope (all forgotten: no popup reaches them any more)
    told: int = 0  # got the ``session.revoked`` notice
    closed: int = 0  # closed by DeleteConnection
    gone: int = 0  # already closed by the browser (nothing to tell or close)
    failed: int = 0  # could be neither told nor closed (the @connections endpoint failed)
    pushed: bool = False  # a @connections endpoint was known (else tabs are only forgotten)

    def __add__(self, other: "TabsReport") -> "TabsReport":
        return TabsReport(
            self.found + other.found,
            self.told + other.told,
            self.closed + other.closed,
            self.gone + other.gone,
            self.failed + other.failed,
            self.pushed or other.pushed,
        )


def end_session(
    tenant_id: str, ipphone: str, session_id: str | None, reason: RevokedReason = "logout"
) -> TabsReport:
    """Close the tabs opened by one login (any of its refreshed tokens)."""
    if not session_id:
        return TabsReport()  # a session issued before sessions had ids: its tabs cannot be told apart
    return end_tabs([c for c in _tabs(tenant_id, ipphone) if c.session_id == session_id], reason)


def end_agent(tenant_id: str, ipphone: str, reason: RevokedReason) -> TabsReport:
    """Close every tab of an agent (its sessions were revoked, or it was removed)."""
    return end_tabs(_tabs(tenant_id, ipphone), reason)


def end_tenant(tenant_id: str, reason: RevokedReason = "tenant_inactive") -> TabsReport:
    """Close every tab of every agent of a tenant: one Query for the agents, one per agent for its tabs."""
    try:
        agents = repository.list_agents(tenant_id)
    except _AWS_ERRORS:
        logger.exception("could not list the agents whose tabs to close", extra={"tenant": tenant_id})
        return TabsReport()
    report = TabsReport(pushed=bool(get_settings().websocket_callback_url))
    for agent in agents:
        report += end_agent(tenant_id, agent.ipphone, reason)
    return report


def end_tabs(targets: Sequence[Connection], reason: RevokedReason) -> TabsReport:
    """Forget, tell and close each of ``targets`` (see the module docstring); answers what was done."""
    can_push = bool(get_settings().websocket_callback_url)
    if not targets:
        return TabsReport(pushed=can_push)
    notice = SessionRevokedPush(reason=reason).to_bytes()
    released: set[tuple[str, str]] = set()
    told = closed = gone = failed = 0
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
            if push.post(connection.connection_id, notice):
                told += 1
            else:
                gone += 1
                continue  # gone already: nothing to close
        except _AWS_ERRORS as error:
            # Not gone, only not told (throttled...): still try to close it.
            logger.warning(
                "could not tell an ended session's tab", extra={**log, "error": type(error).__name__}
            )
        try:
            if push.close(connection.connection_id):
                closed += 1
            else:
                gone += 1
        except _AWS_ERRORS as error:
            failed += 1
            logger.warning(
                "could not close the tab of an ended session", extra={**log, "error": type(error).__name__}
            )
    report = TabsReport(len(targets), told, closed, gone, failed, can_push)
    logger.info(
        "closed the tabs of an ended session",
        extra={"reason": reason, "tabs": len(targets), "told": told, "closed": closed, "failed": failed},
    )
    # The agent's other tabs (other logins) hear that voice is free, as after any tab's $disconnect.
    for tenant_id, ipphone in released if can_push else ():
        try:
            fanout.send_to_agent(tenant_id, ipphone, Voice(enabled=False, holder_tab=None, reason="released"))
        except _AWS_ERRORS:
            logger.warning("could not tell the agent's other tabs that voice is free")
    return report


def _tabs(tenant_id: str, ipphone: str) -> list[Connection]:
    try:
        return connections.for_agent(tenant_id, ipphone)
    except _AWS_ERRORS:
        logger.exception("could not list the tabs to close", extra={"tenant": tenant_id, "ipphone": ipphone})
        return []
