"""Tenant secrets: one JSON secret per tenant in AWS Secrets Manager, never in DynamoDB or logs.

Lambdas read through Powertools parameters (``get_secrets``), cached in the process for
``SECRETS_CACHE_TTL_SECONDS``. A request whose cached copy lacks what it needs (a new endpoint's signing
secret, a rotated JWT key or PBX secret) calls ``reread_secrets``: the secret is then read once, uncached,
before the request fails, so a CLI write works at the next request. Those re-reads are limited to one per
tenant per ``FORCED_REREAD_INTERVAL_SECONDS`` in a process, so a stream of wrong credentials cannot turn
into a stream of Secrets Manager calls. Operators write through ``SecretStore`` (the CLI), uncached.
"""

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from ctibridge import aws, lazy
from ctibridge.errors import InternalError
from ctibridge.settings import get_settings
from ctibridge.tenants.models import TenantSecrets


class SecretsUnavailable(InternalError):
    code = "SECRETS_UNAVAILABLE"
    message = "The tenant's secrets cannot be read."


def secret_name(stage: str, tenant_id: str) -> str:
    """The Secrets Manager name of a tenant's secrets; the IAM policies grant ``.../tenants/*``."""
    return f"ctibridge/{stage}/tenants/{tenant_id}"


def _parse(document: Any, tenant_id: str) -> TenantSecrets:
    try:
        return TenantSecrets.model_validate(document)
    except ValidationError as error:
        # Field names only (hide_input_in_errors keeps values out, but be explicit about it).
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors(include_input=False)})
        raise SecretsUnavailable(f"Secrets of tenant {tenant_id!r} are malformed: {fields}") from None


FORCED_REREAD_INTERVAL_SECONDS = 1.0
_forced_at: dict[str, float] = {}
_forced_lock = threading.Lock()


def get_secrets(tenant_id: str, *, fresh: bool = False) -> TenantSecrets:
    """The tenant's secrets (cached with a TTL; ``fresh``: read now and re-cached); raises
    ``SecretsUnavailable`` (500) if unreadable.
    """
    settings = get_settings()
    parameters = lazy.parameters()
    try:
        document = parameters.get_secret(
            secret_name(settings.stage, tenant_id),
            transform="json",
            max_age=settings.secrets_cache_ttl_seconds,
            force_fetch=fresh,
        )
    except (parameters.GetParameterError, parameters.TransformParameterError) as error:
        # The message names the secret and AWS's error code, never a value.
        raise SecretsUnavailable(f"Secrets of tenant {tenant_id!r} cannot be read.") from error
    return _parse(document, tenant_id)


def reread_secrets(tenant_id: str) -> TenantSecrets:
    """The tenant's secrets read now, for a request the cached copy failed (a wrong PBX secret or JWT key,
    a missing endpoint secret): a rotation or a CLI write works at its first request.

    At most one such read per tenant per ``FORCED_REREAD_INTERVAL_SECONDS``; within it, the cached copy
    (the caller then fails as it would have).
    """
    now = time.monotonic()
    with _forced_lock:
        if now - _forced_at.get(tenant_id, -FORCED_REREAD_INTERVAL_SECONDS) < FORCED_REREAD_INTERVAL_SECONDS:
            return get_secrets(tenant_id)
        _forced_at[tenant_id] = now
    return get_secrets(tenant_id, fresh=True)


def forget_rereads() -> None:
    """Tests: forget when each tenant's secrets were last re-read."""
    with _forced_lock:
        _forced_at.clear()


class SecretStore:
    """Writes and uncached reads of tenant secrets, for operators (the CLI, demo seeding)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    @property
    def _client(self) -> Any:
        return aws.client("secretsmanager")

    def name(self, tenant_id: str) -> str:
        return secret_name(self.stage, tenant_id)

    def read(self, tenant_id: str) -> TenantSecrets | None:
        try:
            response = self._client.get_secret_value(SecretId=self.name(tenant_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return _parse(json.loads(response["SecretString"]), tenant_id)

    def write(self, tenant_id: str, secrets: TenantSecrets) -> None:
        """Create the secret, or store a new version if it exists."""
        document = json.dumps(secrets.plain(), separators=(",", ":"))
        try:
            self._client.create_secret(
                Name=self.name(tenant_id),
                SecretString=document,
                Description=f"CTI Bridge secrets of tenant {tenant_id}",
                Tags=[{"Key": "app", "Value": "ctibridge"}, {"Key": "tenant", "Value": tenant_id}],
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            self._client.put_secret_value(SecretId=self.name(tenant_id), SecretString=document)
