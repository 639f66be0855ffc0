"""DynamoDB access for tenants and agents, and the cached lookups of the request path.

Lambdas call the module functions (``get_by_customer``, ``get_by_domain``, ``get_by_api_key``,
``get_agent``, ``list_agents``). Tenant lookups go through an in-process cache with a short TTL
(``TENANT_CACHE_TTL_SECONDS``, 5 s), which bounds how long a change that denies access (status, expiry,
a removed API key, callout prefixes, allowed origins) can be missed by a warm function; a webhook pays one
tenant GetItem per warm container every 5 s, not one per request. Agent reads are not cached because
they carry the session epoch and removal, which must take effect at once.
Operators' tools use ``TenantRepository`` directly, uncached.

Item layout (see ``ctibridge.keys``): the profile ``TENANT#{id}/PROFILE`` (also in GSI1 under
``TENANT`` for the tenant list), agents ``TENANT#{id}/AGENT#{ipphone}``, and alias items
``DOMAIN#{domain}/ALIAS`` and ``APIKEY#{sha256}/ALIAS`` pointing at the tenant id.
"""

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ctibridge import aws, keys
from ctibridge.errors import BadRequest, Conflict, NotFound
from ctibridge.lazy import Key, TypeSerializer
from ctibridge.settings import get_settings
from ctibridge.tenants.models import (
    CUSTOMER_PATTERN,
    DOMAIN_PATTERN,
    IPPHONE_PATTERN,
    Agent,
    DeviceType,
    Tenant,
    normalize_domain,
)

# An unknown domain or key is remembered briefly only: a tenant created a moment after a probe must
# become reachable quickly.
NEGATIVE_CACHE_TTL_SECONDS = 5.0
_CACHE_MAX_ENTRIES = 2048

# Fields changed through dedicated operations (aliases must move with them), never by update_*.
_TENANT_IMMUTABLE = frozenset({"tenant_id", "domain", "api_key_hashes", "created_at"})
_AGENT_IMMUTABLE = frozenset({"tenant_id", "ipphone", "user_id", "session_epoch", "created_at"})


class TenantNotFound(NotFound):
    code = "TENANT_NOT_FOUND"
    message = "Tenant not found."


class AgentNotFound(NotFound):
    code = "AGENT_NOT_FOUND"
    message = "Agent not found."


class TenantExists(Conflict):
    code = "TENANT_EXISTS"
    message = "A tenant with this customer code already exists."


class DomainTaken(Conflict):
    code = "DOMAIN_TAKEN"
    message = "Another tenant already uses this domain."


class ApiKeyTaken(Conflict):
    code = "API_KEY_TAKEN"
    message = "This API key is already in use."


class AgentExists(Conflict):
    code = "AGENT_EXISTS"
    message = "An agent with this ipphone already exists."


def hash_api_key(api_key: str) -> str:
    """The SHA-256 under which a CRM API key is stored; keys are random, so no salt is needed."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- (de)serialization


def _to_dynamo(value: Any) -> Any:
    # boto3 refuses floats; a JSON round trip turns them (nested too) into Decimals.
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_from_dynamo(v) for v in value]
    return value


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


_serializer = TypeSerializer()


def _attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


class TenantRepository:
    """Tenants and agents in one table. Every access is a GetItem, Query or conditional write."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Any:
        return aws.table(self.table_name)

    # ------------------------------------------------------------ tenants

    def create_tenant(self, tenant: Tenant) -> Tenant:
        """Write the profile, its domain alias and API key aliases in one transaction."""
        now = _now()
        tenant = tenant.model_copy(update={"created_at": now, "updated_at": now})
        profile = {
            **keys.tenant(tenant.tenant_id),
            **keys.tenant_list_index(tenant.tenant_id),
            "type": "tenant",
            "agent_seq": 0,
            **_to_dynamo(tenant.model_dump(mode="json", exclude_none=True)),
        }
        puts = [profile, self._alias(keys.domain_alias(tenant.domain), tenant.tenant_id, "domain_alias")]
        puts += [
            self._alias(keys.api_key_alias(digest), tenant.tenant_id, "api_key_alias")
            for digest in tenant.api_key_hashes
        ]
        try:
            aws.client("dynamodb").transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _attribute_values(item),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                    for item in puts
                ]
            )
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            failed = [i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            if not failed or failed[0] == 0:
                raise TenantExists() from None
            if failed[0] == 1:
                raise DomainTaken() from None
            raise ApiKeyTaken() from None
        return tenant

    @staticmethod
    def _alias(key: dict[str, str], tenant_id: str, kind: str) -> dict[str, Any]:
        return {**key, "type": kind, "tenant_id": tenant_id}

    def get_tenant(self, tenant_id: str, *, consistent: bool = False) -> Tenant | None:
        item = self._table.get_item(Key=keys.tenant(tenant_id), ConsistentRead=consistent).get("Item")
        return Tenant.model_validate(_from_dynamo(item)) if item else None

    def require_tenant(self, tenant_id: str) -> Tenant:
        tenant = self.get_tenant(tenant_id, consistent=True)
        if tenant is None:
            raise TenantNotFound(f"Tenant {tenant_id!r} not found.")
        return tenant

    def tenant_id_for_domain(self, domain: str) -> str | None:
        item = self._table.get_item(Key=keys.domain_alias(normalize_domain(domain))).get("Item")
        return str(item["tenant_id"]) if item else None

    def tenant_id_for_api_key_hash(self, key_sha256: str) -> str | None:
        item = self._table.get_item(Key=keys.api_key_alias(key_sha256)).get("Item")
        return str(item["tenant_id"]) if item else None

    def list_tenants(self) -> list[Tenant]:
        items = self._query(
            IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq(keys.TENANT_LIST_PARTITION)
        )
        return [Tenant.model_validate(_from_dynamo(item)) for item in items]

    def update_tenant(self, tenant_id: str, changes: dict[str, Any]) -> Tenant:
        """Validate ``changes`` against the model, then write only those fields (None removes one)."""
        forbidden = _TENANT_IMMUTABLE & changes.keys()
        if forbidden:
            raise BadRequest(
                f"Cannot change {', '.join(sorted(forbidden))} this way.", code="IMMUTABLE_FIELD"
            )
        current = self.require_tenant(tenant_id)
        updated = Tenant.model_validate({**current.model_dump(), **changes, "updated_at": _now()})
        self._write_fields(keys.tenant(tenant_id), updated, [*changes, "updated_at"], TenantNotFound)
        return updated

    def add_api_key_hash(self, tenant_id: str, key_sha256: str) -> None:
        """Register one more API key (rotation keeps the old one until it is removed)."""
        client = aws.client("dynamodb")
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _attribute_values(
                                self._alias(keys.api_key_alias(key_sha256), tenant_id, "api_key_alias")
                            ),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": _attribute_values(keys.tenant(tenant_id)),
                            "UpdateExpression": "SET api_key_hashes = list_append(api_key_hashes, :h), "
                            "updated_at = :now",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": _attribute_values(
                                {":h": [key_sha256], ":now": _now().isoformat()}
                            ),
                        }
                    },
                ]
            )
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise TenantNotFound() from None
            raise ApiKeyTaken() from None

    def remove_api_key_hashes(self, tenant_id: str, key_hashes: list[str]) -> None:
        """Forget API keys: their aliases go, so they stop resolving (after the cache TTL)."""
        tenant = self.require_tenant(tenant_id)
        remaining = [h for h in tenant.api_key_hashes if h not in key_hashes]
        operations: list[dict[str, Any]] = [
            {"Delete": {"TableName": self.table_name, "Key": _attribute_values(keys.api_key_alias(h))}}
            for h in key_hashes
        ]
        operations.append(
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _attribute_values(keys.tenant(tenant_id)),
                    "UpdateExpression": "SET api_key_hashes = :rest, updated_at = :now",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": _attribute_values(
                        {":rest": remaining, ":now": _now().isoformat()}
                    ),
                }
            }
        )
        aws.client("dynamodb").transact_write_items(TransactItems=operations)

    # ------------------------------------------------------------ agents

    def create_agent(
        self,
        tenant_id: str,
        ipphone: str,
        *,
        display_name: str = "",
        device_type: DeviceType = DeviceType.BROWSER,
        mobile: str | None = None,
        sip_username: str = "",
    ) -> Agent:
        """Add an agent; its numeric ``user_id`` comes from a per-tenant counter."""
        now = _now()
        # Validate before spending a user id.
        draft = Agent(
            tenant_id=tenant_id,
            ipphone=ipphone,
            user_id=0,
            display_name=display_name,
            device_type=device_type,
            mobile=mobile,
            sip_username=sip_username,
            created_at=now,
            updated_at=now,
        )
        try:
            counter = self._table.update_item(
                Key=keys.tenant(tenant_id),
                UpdateExpression="ADD agent_seq :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise TenantNotFound(f"Tenant {tenant_id!r} not found.") from None
            raise
        agent = draft.model_copy(update={"user_id": int(counter["Attributes"]["agent_seq"])})
        try:
            self._table.put_item(
                Item={
                    **keys.agent(tenant_id, agent.ipphone),
                    "type": "agent",
                    **_to_dynamo(agent.model_dump(mode="json", exclude_none=True)),
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise AgentExists(f"Agent {ipphone!r} already exists.") from None
            raise
        return agent

    def get_agent(self, tenant_id: str, ipphone: str, *, consistent: bool = False) -> Agent | None:
        item = self._table.get_item(Key=keys.agent(tenant_id, ipphone), ConsistentRead=consistent).get("Item")
        return Agent.model_validate(_from_dynamo(item)) if item else None

    def require_agent(self, tenant_id: str, ipphone: str) -> Agent:
        agent = self.get_agent(tenant_id, ipphone, consistent=True)
        if agent is None:
            raise AgentNotFound(f"Agent {ipphone!r} not found.")
        return agent

    def list_agents(self, tenant_id: str) -> list[Agent]:
        items = self._query(
            KeyConditionExpression=Key("PK").eq(keys.tenant(tenant_id)["PK"])
            & Key("SK").begins_with(keys.AGENT_SK_PREFIX)
        )
        return [Agent.model_validate(_from_dynamo(item)) for item in items]

    def update_agent(self, tenant_id: str, ipphone: str, changes: dict[str, Any]) -> Agent:
        forbidden = _AGENT_IMMUTABLE & changes.keys()
        if forbidden:
            raise BadRequest(
                f"Cannot change {', '.join(sorted(forbidden))} this way.", code="IMMUTABLE_FIELD"
            )
        current = self.require_agent(tenant_id, ipphone)
        updated = Agent.model_validate({**current.model_dump(), **changes, "updated_at": _now()})
        self._write_fields(keys.agent(tenant_id, ipphone), updated, [*changes, "updated_at"], AgentNotFound)
        return updated

    def bump_session_epoch(self, tenant_id: str, ipphone: str) -> Agent:
        """Revoke every session of this agent: sessions carry the epoch they were issued under."""
        try:
            result = self._table.update_item(
                Key=keys.agent(tenant_id, ipphone),
                UpdateExpression="ADD session_epoch :one SET updated_at = :now",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":one": 1, ":now": _now().isoformat()},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise AgentNotFound(f"Agent {ipphone!r} not found.") from None
            raise
        return Agent.model_validate(_from_dynamo(result["Attributes"]))

    def delete_agent(self, tenant_id: str, ipphone: str) -> bool:
        """Remove an agent; its sessions die with it (they no longer find their agent)."""
        result = self._table.delete_item(Key=keys.agent(tenant_id, ipphone), ReturnValues="ALL_OLD")
        return bool(result.get("Attributes"))

    # ------------------------------------------------------------ helpers

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _write_fields(
        self,
        key: dict[str, str],
        model: Tenant | Agent,
        fields: list[str],
        missing: type[NotFound],
    ) -> None:
        data = model.model_dump(mode="json")
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for index, field in enumerate(dict.fromkeys(fields)):
            names[f"#f{index}"] = field
            if data.get(field) is None:
                removes.append(f"#f{index}")
            else:
                values[f":v{index}"] = _to_dynamo(data[field])
                sets.append(f"#f{index} = :v{index}")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        kwargs: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": names,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._table.update_item(**kwargs)
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise missing() from None
            raise


# ---------------------------------------------------------------- cached lookups of the request path

_T = TypeVar("_T")
_MISS = object()


class _TtlCache:
    """A small thread-safe map whose entries expire; enough for a Lambda's warm container."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        # One loader per key at a time: when an entry expires under concurrent requests (the local
        # stack's threads, a function's fan-out), one read refreshes it for all of them.
        self._loading: dict[Hashable, threading.Lock] = {}

    def _hit(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return True, hit[1]
            return False, None

    def get_or_load(self, key: Hashable, load: Callable[[], _T | None], ttl: float) -> _T | None:
        found, value = self._hit(key)
        if found:
            return value
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        # Outside the cache's lock: a slow read must not block other keys' hits.
        with loading:
            found, value = self._hit(key)
            if found:
                return value
            read_at = time.monotonic()  # the TTL runs from the read, not from its end
            value = load()
            self._store(key, value, ttl, read_at)
        return value

    def _store(self, key: Hashable, value: Any, ttl: float, now: float) -> None:
        with self._lock:
            if len(self._loading) >= _CACHE_MAX_ENTRIES:  # keys probed once (unknown API keys...)
                self._loading = {k: lock for k, lock in self._loading.items() if lock.locked()}
            if len(self._entries) >= _CACHE_MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= _CACHE_MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (now + (ttl if value is not None else NEGATIVE_CACHE_TTL_SECONDS), value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._loading.clear()


_cache = _TtlCache()


def clear_cache() -> None:
    """Forget cached tenants (tests; a CLI process that changes and then reads a tenant)."""
    _cache.clear()


def _repository() -> TenantRepository:
    return TenantRepository(get_settings().table_name)


def _ttl() -> float:
    return float(get_settings().tenant_cache_ttl_seconds)


def get_by_customer(customer: str) -> Tenant | None:
    """The tenant whose customer code (seed 004 ``{customer}``, our tenant_id) is ``customer``."""
    if not re.fullmatch(CUSTOMER_PATTERN, customer):
        return None
    repository = _repository()
    return _cache.get_or_load(
        ("customer", repository.table_name, customer), lambda: repository.get_tenant(customer), _ttl()
    )


def get_by_domain(domain: str) -> Tenant | None:
    """The tenant of a seed login domain (``/{domain}/thirdParty/login``), case-insensitive."""
    domain = normalize_domain(domain)
    if not re.fullmatch(DOMAIN_PATTERN, domain):
        return None
    repository = _repository()
    tenant_id = _cache.get_or_load(
        ("domain", repository.table_name, domain), lambda: repository.tenant_id_for_domain(domain), _ttl()
    )
    return get_by_customer(tenant_id) if tenant_id else None


def get_by_api_key(api_key: str) -> Tenant | None:
    """The tenant owning a CRM API key (looked up by its hash)."""
    if not api_key or len(api_key) > 256:
        return None
    digest = hash_api_key(api_key)
    repository = _repository()
    tenant_id = _cache.get_or_load(
        ("apikey", repository.table_name, digest),
        lambda: repository.tenant_id_for_api_key_hash(digest),
        _ttl(),
    )
    return get_by_customer(tenant_id) if tenant_id else None


def get_agent(tenant_id: str, ipphone: str) -> Agent | None:
    """One agent, read fresh (not cached: its session epoch must take effect at once)."""
    if not re.fullmatch(IPPHONE_PATTERN, ipphone):
        return None
    return _repository().get_agent(tenant_id, ipphone)


def list_agents(tenant_id: str) -> list[Agent]:
    return _repository().list_agents(tenant_id)


def list_tenants() -> list[Tenant]:
    return _repository().list_tenants()


def expire(tenant_id: str, on: date | None = None) -> Tenant:
    """Expire a tenant: now (status ``expired``) or after the day ``on`` (its expiry date).

    An expired tenant's logins answer 405 and its sessions stop working, within the cache TTL.
    """
    changes: dict[str, Any] = {"status": "expired"} if on is None else {"expiry_date": on}
    return _repository().update_tenant(tenant_id, changes)
