"""Pushing a message to every open tab of an agent, concurrently, forgetting tabs that are gone.

The tabs come from one strongly consistent Query of the agent's partition (``connections.for_agent``).
The frame is serialized once and posted to every tab at the same time from a thread pool, so ten
tabs cost about one post. API Gateway's GoneException (410) for one tab removes that tab's items and
nothing else; any other failure of one post is logged and does not stop the others.
"""

import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from ctibridge import connections, push
from ctibridge.connections import Connection
from ctibridge.observability import logger
from ctibridge.realtime import presence
from ctibridge.realtime.messages import Voice

_MAX_WORKERS = 32
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    # Created on first use (no import-time side effects); its threads live with the warm container.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="ws-post")
        return _executor


@dataclass
class Delivery:
    """What happened to one fan-out."""

    delivered: list[Connection] = field(default_factory=list)
    gone: list[Connection] = field(default_factory=list)
    failed: list[Connection] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.delivered)


def _post(connection: Connection, data: bytes) -> bool | None:
    """True delivered, False gone, None failed (logged)."""
    try:
        return push.post(connection.connection_id, data)
    except (ClientError, BotoCoreError) as error:
        logger.warning(
            "post to connection failed",
            extra={
                "tenant": connection.tenant_id,
                "ipphone": connection.ipphone,
                "error": type(error).__name__,
            },
        )
        return None


def send_to_connections(targets: Sequence[Connection], message: BaseModel | bytes) -> Delivery:
    """Post ``message`` to ``targets`` concurrently; gone tabs are forgotten afterwards."""
    data = push.encode(message)
    outcome = Delivery()
    if not targets:
        return outcome
    # The first post runs on this thread: a single tab (the common case) costs no thread hand-off.
    futures: list[tuple[Connection, Future[bool | None]]] = [
        (target, _pool().submit(_post, target, data)) for target in targets[1:]
    ]
    results = [(targets[0], _post(targets[0], data))]
    results += [(target, future.result()) for target, future in futures]
    for target, result in results:
        {True: outcome.delivered, False: outcome.gone, None: outcome.failed}[result].append(target)
    if outcome.gone:
        _forget_gone(outcome.gone, remaining=outcome.delivered)
    return outcome


def _forget_gone(gone: list[Connection], remaining: list[Connection]) -> None:
    """Remove the items of tabs API Gateway no longer knows; tell the others if voice was freed."""
    for connection in gone:
        try:
            released = presence.forget(connection)
        except (ClientError, BotoCoreError):
            # The TTL will remove them; the next fan-out retries meanwhile.
            logger.exception("could not forget a gone connection", extra={"tenant": connection.tenant_id})
            continue
        logger.info(
            "forgot a gone connection",
            extra={"tenant": connection.tenant_id, "ipphone": connection.ipphone, "released_voice": released},
        )
        if released:
            others = [
                c for c in remaining if (c.tenant_id, c.ipphone) == (connection.tenant_id, connection.ipphone)
            ]
            send_to_connections(others, Voice(enabled=False, holder_tab=None, reason="released"))


def send_to_agent(
    tenant_id: str, ipphone: str, message: BaseModel | bytes, *, exclude: Collection[str] = ()
) -> int:
    """Push ``message`` to every open tab of an agent (but ``exclude``d connection ids); answers how
    many tabs received it. Never raises for one tab's failure.
    """
    return deliver_to_agent(tenant_id, ipphone, message, exclude=exclude).count


def deliver_to_agent(
    tenant_id: str, ipphone: str, message: BaseModel | bytes, *, exclude: Collection[str] = ()
) -> Delivery:
    """``send_to_agent`` with the details: which tabs got it (to send them a follow-up)."""
    targets = [
        c
        for c in connections.for_agent(tenant_id, ipphone, only_for_posting=True)
        if c.connection_id not in exclude
    ]
    return send_to_connections(targets, message)


def send_to_connection(connection_id: str, message: BaseModel | bytes) -> bool:
    """Push ``message`` to one connection; False (and its items forgotten) when it is gone."""
    try:
        if push.post(connection_id, push.encode(message)):
            return True
    except (ClientError, BotoCoreError) as error:
        logger.warning("post to connection failed", extra={"error": type(error).__name__})
        return False
    presence.disconnect(connection_id)
    return False
