"""Call transfers on the bridge side (seed 002: getTransferAgent, csTransferCallAgent,
csTransferCallAcd, responseTransferAgent).

The SIP call lives in the requesting agent's browser tab, so the bridge never moves media: it finds
who may take a call, asks them, and tells the requesting tab where to send the call; that tab does the
SIP transfer (REFER) itself.

- ``transfer.agents`` → ``transfer.agents``: the tenant's online agents that are ready, idle and
  reachable (``presence.AgentState.available``), the requester excluded.
- ``transfer.agent {ipphone}`` → one item ``TENANT#{t}#TRANSFER#{id}`` (status ``pending``, a deadline
  10 s ahead, TTL) and ``transfer.request`` to every tab of the target; ``transfer.pending`` to the
  requester.
- ``transfer.respond {transfer_id, accept}`` from a tab of the target: one conditional update moves
  the item out of ``pending`` (first answer wins, only before the deadline, only by the target); the
  requesting tab gets ``transfer.response`` OK/NOK, the target's tabs ``transfer.closed``. An answer
  after the deadline expires the transfer instead (NOK, reason ``expired``): nothing runs on a timer,
  the deadline is checked when someone acts. The target's page rejects on its own after 10 s (the
  seed's behaviour) and the requester's gives up shortly after and sends ``transfer.cancel``.
- ``transfer.queue {queue_id}`` → ``transfer.target``: the tenant's number for that queue
  (``Tenant.transfer_queues``), or the id itself when it is dialable.

Errors use the seed's transfer error codes where they apply (``TRANSFER_CALL_FAILED``); the
browser raises ``NOT_IN_A_CALL``, ``COULD_NOT_GET_CALL_INFO`` and ``NOT_CHOOSE_TYPE_TRANSFER``
itself, since only it knows its SIP call.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict

from ctibridge import aws, keys
from ctibridge.connections import Connection
from ctibridge.errors import CtiError
from ctibridge.model import Model
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.actions import route
from ctibridge.realtime.messages import (
    TransferAgent,
    TransferAgentRequest,
    TransferAgents,
    TransferAgentsRequest,
    TransferCancelRequest,
    TransferClosed,
    TransferPending,
    TransferQueueRequest,
    TransferRequestPush,
    TransferRespondRequest,
    TransferResponse,
    TransferStatus,
    TransferTarget,
)
from ctibridge.settings import get_settings
from ctibridge.tenants import repository

ANSWER_SECONDS = 10  # seed: a transfer request nobody answers is rejected after 10 s
RETENTION_SECONDS = 3600  # the item outlives its deadline a little, for late answers and debugging
_DIALABLE = re.compile(r"^[0-9*#+]{1,20}$")


class TransferFailed(CtiError):
    code = "TRANSFER_CALL_FAILED"
    message = "The call could not be transferred."
    http_status = 409


class TransferNotFound(CtiError):
    code = "TRANSFER_NOT_FOUND"
    message = "No such transfer request for this agent."
    http_status = 404


class Transfer(Model):
    """One agent-to-agent transfer request as stored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tenant_id: str
    transfer_id: str
    from_ipphone: str
    from_connection: str  # the tab holding the call: it gets the answer and does the REFER
    to_ipphone: str
    callid: str | None = None
    phone: str | None = None
    status: Literal["pending"] | TransferStatus
    deadline_ms: int

    @property
    def deadline(self) -> datetime:
        return datetime.fromtimestamp(self.deadline_ms / 1000, UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _table() -> Any:
    return aws.table(get_settings().table_name)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# ---------------------------------------------------------------- logic


def available_agents(tenant_id: str, *, exclude: str | None = None) -> list[TransferAgent]:
    """Agents a call can go to now: online, ready, idle and reachable (one Query + one BatchGet,
    plus the agents' Query for their names)."""
    names = {agent.ipphone: agent.display_name for agent in repository.list_agents(tenant_id)}
    return [
        TransferAgent(
            ipphone=state.ipphone,
            display_name=names.get(state.ipphone, state.ipphone),
            device_type=state.device_type,
        )
        for state in presence.list_states(tenant_id)
        if state.ipphone != exclude and state.online and state.available
    ]


def request_transfer(
    connection: Connection, ipphone: str, *, callid: str | None, phone: str | None
) -> Transfer:
    """Record a transfer request from ``connection``'s agent to ``ipphone`` and ask the target's tabs."""
    if ipphone == connection.ipphone:
        raise TransferFailed("A call cannot be transferred to the agent who has it.")
    target = presence.get_state(connection.tenant_id, ipphone)
    if not target.known:
        raise TransferFailed(f"There is no agent {ipphone}.")
    if not target.online or not target.available:
        raise TransferFailed(f"Agent {ipphone} is not available (offline, not ready or busy).")
    transfer = Transfer(
        tenant_id=connection.tenant_id,
        transfer_id=secrets.token_urlsafe(12),
        from_ipphone=connection.ipphone,
        from_connection=connection.connection_id,
        to_ipphone=ipphone,
        callid=callid,
        phone=phone,
        status="pending",
        deadline_ms=_now_ms() + ANSWER_SECONDS * 1000,
    )
    _table().put_item(
        Item={
            **keys.transfer(transfer.tenant_id, transfer.transfer_id),
            **transfer.model_dump(exclude_none=True),
            "created_at": datetime.now(UTC).isoformat(),
            "expires_at": int(time.time()) + ANSWER_SECONDS + RETENTION_SECONDS,
        },
        ConditionExpression="attribute_not_exists(PK)",
    )
    sender = repository.get_agent(connection.tenant_id, connection.ipphone)
    reached = fanout.send_to_agent(
        connection.tenant_id,
        ipphone,
        TransferRequestPush(
            transfer_id=transfer.transfer_id,
            from_ipphone=connection.ipphone,
            from_name=sender.display_name if sender else connection.ipphone,
            callid=callid,
            phone=phone,
            deadline=transfer.deadline,
        ),
    )
    if not reached:
        _settle(transfer, "cancelled")
        raise TransferFailed(f"Agent {ipphone}'s phone cannot be reached.")
    logger.info(
        "transfer requested",
        extra={"transfer": transfer.transfer_id, "from": connection.ipphone, "to": ipphone, "tabs": reached},
    )
    return transfer


def respond(connection: Connection, transfer_id: str, accept: bool) -> Transfer:
    """The target's answer; the first one before the deadline wins. Answers the settled transfer."""
    status: TransferStatus = "accepted" if accept else "rejected"
    try:
        answer = _table().update_item(
            Key=keys.transfer(connection.tenant_id, transfer_id),
            UpdateExpression="SET #status = :status, answered_by = :connection, answered_at = :at",
            ConditionExpression="#status = :pending AND to_ipphone = :me AND deadline_ms >= :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": status,
                ":pending": "pending",
                ":me": connection.ipphone,
                ":now": _now_ms(),
                ":connection": connection.connection_id,
                ":at": datetime.now(UTC).isoformat(),
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if _error_code(error) != "ConditionalCheckFailedException":
            raise
        transfer = _get(connection.tenant_id, transfer_id)
        if transfer is None or transfer.to_ipphone != connection.ipphone:
            raise TransferNotFound() from None
        if transfer.status == "pending":  # too late: the deadline passed without an answer
            transfer = _expire(transfer)
        # Already settled (answered in another tab, expired, cancelled): this tab hides its prompt.
        fanout.send_to_connection(
            connection.connection_id, TransferClosed(transfer_id=transfer_id, status=_final(transfer))
        )
        return transfer
    transfer = Transfer.model_validate(answer["Attributes"])
    _announce(transfer)
    logger.info("transfer answered", extra={"transfer": transfer_id, "status": transfer.status})
    return transfer


def cancel(connection: Connection, transfer_id: str) -> Transfer | None:
    """The requester gives up (its timer ran out, the call ended); the target's prompt closes."""
    transfer = _get(connection.tenant_id, transfer_id)
    if transfer is None or transfer.from_ipphone != connection.ipphone:
        raise TransferNotFound()
    if transfer.status != "pending":
        return transfer  # already settled: nothing to undo
    settled = _settle(transfer, "cancelled")
    if settled is not None:
        fanout.send_to_agent(
            transfer.tenant_id,
            transfer.to_ipphone,
            TransferClosed(transfer_id=transfer_id, status="cancelled"),
        )
    return settled


def queue_target(tenant_id: str, queue_id: str) -> str:
    """The number a call is transferred to for ``queue_id`` (seed ``csTransferCallAcd``)."""
    tenant = repository.get_by_customer(tenant_id)
    number = tenant.transfer_queues.get(queue_id) if tenant else None
    if number is None and _DIALABLE.fullmatch(queue_id):
        number = queue_id  # the PBX's queue extension itself
    if number is None:
        raise TransferFailed(f"Queue {queue_id} is not set up for transfers.")
    return number


# ---------------------------------------------------------------- storage


def _get(tenant_id: str, transfer_id: str) -> Transfer | None:
    item = _table().get_item(Key=keys.transfer(tenant_id, transfer_id), ConsistentRead=True).get("Item")
    return Transfer.model_validate(item) if item else None


def _settle(transfer: Transfer, status: TransferStatus) -> Transfer | None:
    """pending → ``status``; None when someone settled it first."""
    try:
        answer = _table().update_item(
            Key=keys.transfer(transfer.tenant_id, transfer.transfer_id),
            UpdateExpression="SET #status = :status",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": status, ":pending": "pending"},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return None
        raise
    return Transfer.model_validate(answer["Attributes"])


def _expire(transfer: Transfer) -> Transfer:
    settled = _settle(transfer, "expired")
    if settled is None:  # answered or cancelled meanwhile: that outcome stands
        return _get(transfer.tenant_id, transfer.transfer_id) or transfer
    _announce(settled)
    return settled


def _final(transfer: Transfer) -> TransferStatus:
    return "expired" if transfer.status == "pending" else transfer.status


def _announce(transfer: Transfer) -> None:
    """Tell the requesting tab the outcome and close the prompt in every tab of the target."""
    status = _final(transfer)
    response = TransferResponse(
        transfer_id=transfer.transfer_id,
        ipphone=transfer.to_ipphone,
        status="OK" if status == "accepted" else "NOK",
        reason=status,
        target=transfer.to_ipphone,
    )
    # Only the requesting tab holds the SIP call, so only it can act on the answer.
    if not fanout.send_to_connection(transfer.from_connection, response):
        logger.info("transfer requester is gone", extra={"transfer": transfer.transfer_id})
    fanout.send_to_agent(
        transfer.tenant_id,
        transfer.to_ipphone,
        TransferClosed(transfer_id=transfer.transfer_id, status=status),
    )


# ---------------------------------------------------------------- WebSocket actions


@route(TransferAgentsRequest)
def _agents(connection_id: str, request: TransferAgentsRequest) -> None:
    connection = presence.require_connection(connection_id)
    agents = available_agents(connection.tenant_id, exclude=connection.ipphone)
    fanout.send_to_connection(connection_id, TransferAgents(agents=agents))


@route(TransferAgentRequest)
def _to_agent(connection_id: str, request: TransferAgentRequest) -> None:
    connection = presence.require_connection(connection_id)
    transfer = request_transfer(connection, request.ipphone, callid=request.callid, phone=request.phone)
    fanout.send_to_connection(
        connection_id,
        TransferPending(
            transfer_id=transfer.transfer_id, ipphone=transfer.to_ipphone, deadline=transfer.deadline
        ),
    )


@route(TransferRespondRequest)
def _respond(connection_id: str, request: TransferRespondRequest) -> None:
    respond(presence.require_connection(connection_id), request.transfer_id, request.accept)


@route(TransferCancelRequest)
def _cancel(connection_id: str, request: TransferCancelRequest) -> None:
    cancel(presence.require_connection(connection_id), request.transfer_id)


@route(TransferQueueRequest)
def _to_queue(connection_id: str, request: TransferQueueRequest) -> None:
    connection = presence.require_connection(connection_id)
    target = queue_target(connection.tenant_id, request.queue_id)
    fanout.send_to_connection(connection_id, TransferTarget(queue_id=request.queue_id, target=target))
