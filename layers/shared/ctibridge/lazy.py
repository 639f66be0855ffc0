"""Heavy dependencies loaded on first use: boto3's DynamoDB helpers, Powertools' parameters and
idempotency.

Importing any ``boto3.*`` module runs boto3's package first (sessions, botocore, s3transfer: as much as
the whole ``import boto3``), so a module that imported ``Key`` or ``TypeSerializer`` at the top made
every handler that merely imports it pay boto3's import at cold start, before its first event, and
even when that event is refused without touching AWS. These stand-ins keep the call sites unchanged
(``Key("PK").eq(...)``, ``serializer.serialize(value)``) and import boto3's module when first called.
Powertools' ``parameters`` utility imports boto3 (and AppConfig's, SSM's and DynamoDB's providers)
when imported: ``parameters()`` loads it for the first secret read. Clients and resources have their
own seam: ``ctibridge.aws``.
"""

from functools import cache, cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ctibridge import aws

if TYPE_CHECKING:
    from boto3.dynamodb.conditions import Attr as _Attr
    from boto3.dynamodb.conditions import ConditionBase as ConditionBase
    from boto3.dynamodb.conditions import Key as _Key
else:
    ConditionBase = Any  # only ever an annotation


@cache
def _conditions() -> Any:
    import boto3.dynamodb.conditions

    return boto3.dynamodb.conditions


def Key(name: str) -> "_Key":
    """``boto3.dynamodb.conditions.Key(name)``: a key condition of a Query."""
    return _conditions().Key(name)


def Attr(name: str) -> "_Attr":
    """``boto3.dynamodb.conditions.Attr(name)``: a filter or condition on an attribute."""
    return _conditions().Attr(name)


class TypeSerializer:
    """boto3's ``TypeSerializer`` (Python value -> DynamoDB JSON), created on first use."""

    @cached_property
    def _real(self) -> Any:
        from boto3.dynamodb.types import TypeSerializer

        return TypeSerializer()

    def serialize(self, value: Any) -> dict[str, Any]:
        return self._real.serialize(value)


class TypeDeserializer:
    """boto3's ``TypeDeserializer`` (DynamoDB JSON -> Python value), created on first use."""

    @cached_property
    def _real(self) -> Any:
        from boto3.dynamodb.types import TypeDeserializer

        return TypeDeserializer()

    def deserialize(self, value: dict[str, Any]) -> Any:
        return self._real.deserialize(value)


def parameters() -> ModuleType:
    """``aws_lambda_powertools.utilities.parameters`` (get_secret, clear_caches, its exceptions), its
    Secrets Manager provider on ``ctibridge.aws``'s shared session: Powertools' own would open a second
    boto3 session and load the service model and endpoint rules again on the first secret read."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=aws.client("secretsmanager"))
    return parameters


@cache
def idempotency() -> ModuleType:
    """``aws_lambda_powertools.utilities.idempotency`` (with ``.exceptions``): its DynamoDB store
    imports boto3, so click-to-call loads it for a request that carries an idempotency key only."""
    from aws_lambda_powertools.utilities import idempotency

    return idempotency
