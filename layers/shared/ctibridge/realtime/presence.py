"""Agent presence: open tabs, the one voice tab, ready on/off, device and call state.

One item per agent, ``TENANT#{t}#AGENT#{ipphone} / STATE``, next to its connection items (same
partition, see ``ctibridge.connections``). Attributes:

- ``tabs``: string set of ``{expires_at}:{connection_id}``, one per open tab, updated in the same
  transaction as the connection items; members past ``expires_at`` are ignored (a lost $disconnect);
- ``voice_connection``/``voice_tab``/``voice_since``: the tab holding voice (seed ``csEnableCall``);
- ``ready``: seed ``changeCallStatus`` On/Off; absent means On (an agent who opened the webphone is
  available until they say otherwise);
- ``device_type``/``mobile``: seed ``changeDevice``; absent means the agent's configured default;
- ``call_state`` (idle|ringing|in_call), ``callid``, ``call_phone``, ``call_direction``, ``call_since``.

PBX webhooks are delivered at least once and unordered, so a call's end may come before its ring. Each
ended call leaves a marker ``TENANT#{t}#CALL#{callid} / ENDED#AGENT#{ipphone}`` (TTL two days, longer than
PBXs retry); a ring, a dial-out or an answer moves the state only in a transaction that checks that
its call has no marker, so a late event never resurrects a call that already ended.

Click-to-call and transfer read it through :func:`get_state`, :func:`list_states` and
:func:`voice_connection`. Every read is a GetItem/BatchGetItem/Query on keys from ``ctibridge.keys``.
"""

import random
import time
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict

from ctibridge import connections, keys
from ctibridge.auth import sessions
from ctibridge.auth.sessions import SessionRevoked
from ctibridge.connections import Connection, deserialize, dynamodb, serialize, table_name
from ctibridge.errors import CtiError
from ctibridge.model import Model
from ctibridge.observability import logger
from ctibridge.realtime.messages import CallInfo, CallState
from ctibridge.tenants import repository
from ctibridge.tenants.models import Agent, DeviceType

# A ring that never got its end event (a lost webhook) must not keep the agent "busy" forever; PBXs
# stop ringing after a minute or two. A call can be long, but not this long.
RINGING_MAX_SECONDS = 180
IN_CALL_MAX_SECONDS = 4 * 60 * 60
_TRANSACTION_ATTEMPTS = 5
ENDED_MARKER_TTL_SECONDS = 2 * 24 * 3600
_BATCH_GET_MAX_KEYS = 100


class NotConnected(CtiError):
    code = "NOT_CONNECTED"
    message = "This connection is not registered; reconnect."
    http_status = 409


class AgentState(Model):
    """What the rest of the system may rely on about an agent right now."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    ipphone: str
    known: bool  # the agent exists in the tenant
    ready: bool
    device_type: DeviceType
    mobile: str | None
    voice_connection: str | None  # None also when the recorded holder is no longer connected
    voice_tab: str | None
    connections: tuple[str, ...]  # live connection ids
    call: CallInfo

    @property
    def online(self) -> bool:
        """At least one webphone tab is open."""
        return bool(self.connections)

    @property
    def busy(self) -> bool:
        return self.call.state != "idle"

    @property
    def reachable(self) -> bool:
        """Calls to this agent can ring somewhere: the voice tab (browser) or the phone/mobile."""
        if self.device_type is DeviceType.BROWSER:
            return self.voice_connection is not None
        return self.device_type is DeviceType.SOFTPHONE or bool(self.mobile)

    @property
    def available(self) -> bool:
        """Ready (On), not in or ringing with a call, and reachable: a click-to-call or transfer target."""
        return self.known and self.ready and not self.busy and self.reachable


# ---------------------------------------------------------------- helpers


def _now() -> int:
    return int(time.time())


def _iso(epoch: int | None = None) -> str:
    return datetime.fromtimestamp(_now() if epoch is None else epoch, UTC).isoformat()


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _live_members(item: dict[str, Any], now: float) -> list[tuple[int, str]]:
    members = [connections.parse_member(m) for m in item.get("tabs") or ()]
    return sorted((m for m in members if m[0] > now), reverse=True)


def _call_info(item: dict[str, Any], now: float) -> CallInfo:
    state: CallState = item.get("call_state") or "idle"
    since_raw = item.get("call_since")
    since = datetime.fromisoformat(since_raw) if isinstance(since_raw, str) else None
    age = now - since.timestamp() if since else 0
    if (state == "ringing" and age > RINGING_MAX_SECONDS) or (
        state == "in_call" and age > IN_CALL_MAX_SECONDS
    ):
        state = "idle"  # the end event was lost; see RINGING_MAX_SECONDS
    if state == "idle":
        return CallInfo(state="idle", since=since)
    return CallInfo(
        state=state,
        callid=item.get("callid"),
        phone=item.get("call_phone"),
        direction=item.get("call_direction"),
        since=since,
    )


def _state_from(tenant_id: str, ipphone: str, item: dict[str, Any], agent: Agent | None) -> AgentState:
    now = time.time()
    live = _live_members(item, now)
    live_ids = tuple(connection_id for _, connection_id in live)
    holder = item.get("voice_connection")
    holder_live = holder if holder in live_ids else None
    device_raw = item.get("device_type")
    if device_raw is not None:
        device_type, mobile = DeviceType(int(device_raw)), item.get("mobile")
    elif agent is not None:
        device_type, mobile = agent.device_type, agent.mobile
    else:
        device_type, mobile = DeviceType.BROWSER, None
    return AgentState(
        tenant_id=tenant_id,
        ipphone=ipphone,
        known=agent is not None,
        ready=bool(item.get("ready", True)),
        device_type=device_type,
        mobile=mobile,
        voice_connection=holder_live,
        voice_tab=item.get("voice_tab") if holder_live else None,
        connections=live_ids,
        call=_call_info(item, now),
    )


def _agent_from(item: dict[str, Any] | None) -> Agent | None:
    if not item:
        return None
    return Agent.model_validate(item)


def _get_state_item(tenant_id: str, ipphone: str) -> dict[str, Any]:
    item = (
        dynamodb()
        .get_item(
            TableName=table_name(), Key=serialize(keys.agent_state(tenant_id, ipphone)), ConsistentRead=True
        )
        .get("Item")
    )
    return deserialize(item) if item else {}


def _update_state(
    tenant_id: str,
    ipphone: str,
    *,
    set_: str = "",
    remove: str = "",
    delete: str = "",
    values: dict[str, Any] | None = None,
    **extra: Any,
) -> Any:
    """One UpdateItem of the agent's state item; it is created on first write (no separate insert)."""
    sets = ", ".join(part for part in (set_, "updated_at = :now, tenant_id = :t, ipphone = :x") if part)
    expression = (
        f"SET {sets}" + (f" REMOVE {remove}" if remove else "") + (f" DELETE {delete}" if delete else "")
    )
    return dynamodb().update_item(
        TableName=table_name(),
        Key=serialize(keys.agent_state(tenant_id, ipphone)),
        UpdateExpression=expression,
        ExpressionAttributeValues=serialize(
            {**(values or {}), ":now": _iso(), ":t": tenant_id, ":x": ipphone}
        ),
        **extra,
    )


# ---------------------------------------------------------------- reads (click-to-call, transfer)


def get_state(tenant_id: str, ipphone: str) -> AgentState:
    """The agent's presence and call state; one strongly consistent BatchGetItem (state + profile)."""
    state_key, agent_key = keys.agent_state(tenant_id, ipphone), keys.agent(tenant_id, ipphone)
    found = _batch_get([state_key, agent_key])
    return _state_from(
        tenant_id, ipphone, found.get(_key_id(state_key), {}), _agent_from(found.get(_key_id(agent_key)))
    )


def list_states(tenant_id: str) -> list[AgentState]:
    """Every agent of the tenant with its state (seed ``getTransferAgent``): one Query + BatchGetItem."""
    agents = repository.list_agents(tenant_id)
    state_keys = [keys.agent_state(tenant_id, a.ipphone) for a in agents]
    found = _batch_get(state_keys)
    return [
        _state_from(tenant_id, agent.ipphone, found.get(_key_id(key), {}), agent)
        for agent, key in zip(agents, state_keys, strict=True)
    ]


def voice_connection(tenant_id: str, ipphone: str) -> str | None:
    """The connection id of the tab holding voice, if that tab is still connected."""
    item = _get_state_item(tenant_id, ipphone)
    holder = item.get("voice_connection")
    live = {connection_id for _, connection_id in _live_members(item, time.time())}
    return holder if holder in live else None


def _key_id(key: dict[str, str]) -> tuple[str, str]:
    return key["PK"], key["SK"]


def _batch_get(item_keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    name = table_name()
    for start in range(0, len(item_keys), _BATCH_GET_MAX_KEYS):
        pending: dict[str, Any] = {
            name: {
                "Keys": [serialize(k) for k in item_keys[start : start + _BATCH_GET_MAX_KEYS]],
                "ConsistentRead": True,
            }
        }
        for attempt in range(8):
            answer = dynamodb().batch_get_item(RequestItems=pending)
            for raw in answer.get("Responses", {}).get(name, []):
                item = deserialize(raw)
                found[(item["PK"], item["SK"])] = item
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(min(0.5, 0.01 * 2**attempt))  # throttled: back off, as the SDK would
    return found


# ---------------------------------------------------------------- connections


def _transact(operations: list[dict[str, Any]]) -> None:
    dynamodb().transact_write_items(TransactItems=operations)


def _retry_transaction(error: ClientError, attempt: int) -> bool:
    """Back off and retry on a lost race (condition or conflict); re-raise anything else."""
    if _error_code(error) != "TransactionCanceledException" or attempt + 1 >= _TRANSACTION_ATTEMPTS:
        return False
    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))  # noqa: S311 - jitter, not crypto
    return True


def connect(connection: Connection) -> bool:
    """Record a new tab (both connection items and the state, one transaction); True if it took voice.

    Seed rule: the first tab of an agent holds voice; later tabs take it with ``enableVoice``. A
    recorded holder whose tab is gone without a $disconnect does not count: the new tab takes over.
    """
    for attempt in range(_TRANSACTION_ATTEMPTS):
        item = _get_state_item(connection.tenant_id, connection.ipphone)
        holder = item.get("voice_connection")
        live = {connection_id for _, connection_id in _live_members(item, time.time())}
        claim = holder is None or holder not in live
        values: dict[str, Any] = {
            ":member": {connection.member},
            ":now": _iso(),
            ":t": connection.tenant_id,
            ":x": connection.ipphone,
        }
        update: dict[str, Any] = {
            "TableName": table_name(),
            "Key": serialize(keys.agent_state(connection.tenant_id, connection.ipphone)),
            "UpdateExpression": "ADD tabs :member SET updated_at = :now, tenant_id = :t, ipphone = :x",
        }
        if claim:
            update["UpdateExpression"] += ", voice_connection = :c, voice_tab = :tab, voice_since = :now"
            # Claim only from what was read: a tab that connected meanwhile may have claimed it.
            if holder is None:
                update["ConditionExpression"] = "attribute_not_exists(voice_connection)"
            else:
                update["ConditionExpression"] = "voice_connection = :old"
                values[":old"] = holder
            values |= {":c": connection.connection_id, ":tab": connection.tab}
        update["ExpressionAttributeValues"] = serialize(values)
        try:
            _transact([*connections.put_operations(connection), {"Update": update}])
        except ClientError as error:
            if _retry_transaction(error, attempt):
                continue
            raise
        stale = [m for m in item.get("tabs") or () if connections.parse_member(m)[0] <= time.time()]
        if stale:
            _prune(connection.tenant_id, connection.ipphone, stale)
        return claim
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _prune(tenant_id: str, ipphone: str, members: list[str]) -> None:
    """Drop members of tabs whose $disconnect was lost; best effort (the readers skip them anyway)."""
    try:
        _update_state(tenant_id, ipphone, delete="tabs :stale", values={":stale": set(members)})
    except ClientError:
        logger.warning("could not prune stale tabs", extra={"tenant": tenant_id, "ipphone": ipphone})


def forget(connection: Connection) -> bool:
    """Remove a tab (on $disconnect, or when API Gateway says it is gone); True if it held voice.

    A released voice is not handed to another tab: seed rule, a tab takes voice by asking for it.
    """
    state_update = {
        "Update": {
            "TableName": table_name(),
            "Key": serialize(keys.agent_state(connection.tenant_id, connection.ipphone)),
            "UpdateExpression": "DELETE tabs :member",
            "ExpressionAttributeValues": serialize({":member": {connection.member}}),
        }
    }
    for attempt in range(_TRANSACTION_ATTEMPTS):
        try:
            _transact([*connections.delete_operations(connection), state_update])
            break
        except ClientError as error:
            if not _retry_transaction(error, attempt):
                raise
    try:
        _update_state(
            connection.tenant_id,
            connection.ipphone,
            set_="voice_since = :now",
            remove="voice_connection, voice_tab",
            values={":c": connection.connection_id},
            ConditionExpression="voice_connection = :c",
        )
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return False  # another tab holds voice, or nobody
        raise
    return True


def disconnect(connection_id: str) -> tuple[Connection, bool] | None:
    """``forget`` by connection id; None when it was not recorded (refused at $connect, or gone)."""
    connection = connections.get(connection_id)
    if connection is None:
        return None
    return connection, forget(connection)


# ---------------------------------------------------------------- the agent's own settings


def enable_voice(connection: Connection) -> str | None:
    """Give voice to this tab (seed ``csEnableCall``); answers the previous holder's connection id."""
    try:
        answer = _update_state(
            connection.tenant_id,
            connection.ipphone,
            set_="voice_connection = :c, voice_tab = :tab, voice_since = :now",
            values={":c": connection.connection_id, ":tab": connection.tab, ":member": connection.member},
            # Only a tab still recorded as open may take voice (not one whose items were just cleaned).
            ConditionExpression="contains(tabs, :member)",
            ReturnValues="UPDATED_OLD",
        )
    except ClientError as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            raise NotConnected() from None
        raise
    previous = deserialize(answer.get("Attributes") or {}).get("voice_connection")
    return None if previous == connection.connection_id else previous


def set_ready(tenant_id: str, ipphone: str, ready: bool) -> None:
    """Seed ``changeCallStatus``: On (ready for calls) or Off."""
    _update_state(tenant_id, ipphone, set_="ready = :r, ready_since = :now", values={":r": ready})


def set_device(tenant_id: str, ipphone: str, device_type: DeviceType, mobile: str | None) -> None:
    """Seed ``changeDevice(type[, mobile])``; the mobile number is kept only with type 3."""
    if device_type is DeviceType.MOBILE:
        _update_state(
            tenant_id,
            ipphone,
            set_="device_type = :d, mobile = :m",
            values={":d": int(device_type), ":m": mobile},
        )
    else:
        _update_state(
            tenant_id, ipphone, set_="device_type = :d", remove="mobile", values={":d": int(device_type)}
        )


def reset_device(tenant_id: str, ipphone: str) -> None:
    """Seed ``reConfigDeviceType``: back to the agent's configured device."""
    _update_state(tenant_id, ipphone, remove="device_type, mobile")


# ---------------------------------------------------------------- call state


CallEventKind = Literal["ringing", "outgoing", "ended"]


def _ended_marker_key(tenant_id: str, ipphone: str, callid: str) -> dict[str, Any]:
    return serialize(keys.agent_ended_call(tenant_id, ipphone, callid))


def _start_call(
    tenant_id: str, ipphone: str, callid: str, set_: str, values: dict[str, Any], condition: str | None = None
) -> bool:
    """Move the state to a call, atomically with "this call has not ended" (its marker is absent)."""
    values = {**values, ":now": _iso(), ":t": tenant_id, ":x": ipphone, ":cid": callid}
    update: dict[str, Any] = {
        "TableName": table_name(),
        "Key": serialize(keys.agent_state(tenant_id, ipphone)),
        "UpdateExpression": f"SET {set_}, updated_at = :now, tenant_id = :t, ipphone = :x",
        "ExpressionAttributeValues": serialize(values),
    }
    if condition:
        update["ConditionExpression"] = condition
    operations = [
        {
            "ConditionCheck": {
                "TableName": table_name(),
                "Key": _ended_marker_key(tenant_id, ipphone, callid),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        },
        {"Update": update},
    ]
    for attempt in range(_TRANSACTION_ATTEMPTS):
        try:
            _transact(operations)
            return True
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" in reasons:
                return False  # the call already ended, or the state is already past this event
            if not _retry_transaction(error, attempt):
                raise
    return False  # pragma: no cover - the loop returns or raises


def record_call_event(
    tenant_id: str, ipphone: str, kind: CallEventKind, callid: str, phone: str | None, direction: str | None
) -> bool:
    """Track a PBX call event in the agent's call state; False when it was stale and ignored."""
    if kind == "ended":
        return _end_call(tenant_id, ipphone, callid)
    state: CallState = "ringing" if kind == "ringing" else "in_call"
    # A repeated or late ring of a call already answered (or dialing out) must not move it back.
    condition = (
        "attribute_not_exists(callid) OR callid <> :cid OR call_state = :s" if state == "ringing" else None
    )
    return _start_call(
        tenant_id,
        ipphone,
        callid,
        "call_state = :s, callid = :cid, call_phone = :p, call_direction = :d, call_since = :now",
        {":s": state, ":p": phone or "", ":d": direction or ""},
        condition,
    )


def _end_call(tenant_id: str, ipphone: str, callid: str) -> bool:
    # The marker first: from now on no late event of this call can start it again (see _start_call).
    dynamodb().put_item(
        TableName=table_name(),
        Item={
            **_ended_marker_key(tenant_id, ipphone, callid),
            **serialize({"type": "ended_call", "expires_at": _now() + ENDED_MARKER_TTL_SECONDS}),
        },
    )
    try:
        _update_state(
            tenant_id,
            ipphone,
            set_="call_state = :idle, call_since = :now",
            remove="callid, call_phone, call_direction",
            values={":idle": "idle", ":cid": callid},
            # Only the current call may end the state; an old call's log must not end a newer one.
            ConditionExpression="attribute_not_exists(callid) OR callid = :cid",
        )
    except ClientError as error:
        if _error_code(error) != "ConditionalCheckFailedException":
            raise
        return False
    return True


def set_call_state(tenant_id: str, ipphone: str, callid: str, state: Literal["in_call", "idle"]) -> bool:
    """The webphone's report: the agent answered (``in_call``) or hung up (``idle``) ``callid``."""
    if state == "idle":
        return _end_call(tenant_id, ipphone, callid)
    return _start_call(
        tenant_id,
        ipphone,
        callid,
        "call_state = :s, callid = :cid, call_since = :now",
        {":s": "in_call"},
    )


class TabSessionEnded(SessionRevoked):
    """The login a tab was opened with has ended (logout, revocation, removal, inactive tenant)."""

    def __init__(self, connection: Connection, message: str | None = None) -> None:
        super().__init__(message)
        self.connection = connection


def require_connection(connection_id: str) -> Connection:
    """The sender's connection, for a frame that acts for its agent; its login is checked first.

    A tab stays open after its login ended if the revocation could not reach it (or it connected while
    the logout ran): every acting frame re-checks the login, uncached (``sessions.check_login``), and
    raises ``TabSessionEnded`` so the dispatcher closes that tab.
    """
    connection = connections.get(connection_id)
    if connection is None:
        raise NotConnected()
    try:
        sessions.check_login(connection.tenant_id, connection.ipphone, connection.session_id)
    except SessionRevoked as error:
        raise TabSessionEnded(connection, error.message) from None
    return connection
