"""Unit-test fixtures: a fake AWS environment (moto in-process) and a Lambda context."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ctibridge import aws
from ctibridge.settings import get_settings


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _unit_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real AWS: fake credentials, one region, the table name the template would set."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TABLE_NAME", "ctibridge-test")
    monkeypatch.setenv("STAGE", "test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CTIBridgeTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ctibridge")
    _forget_caches()
    yield
    _forget_caches()


def _forget_caches() -> None:
    """Process-wide caches (settings, clients, tenants, Powertools' secrets) must not leak between tests."""
    from aws_lambda_powertools.utilities import parameters

    from ctibridge.tenants import repository, secrets

    get_settings.cache_clear()
    aws.reset()
    repository.clear_cache()
    parameters.clear_caches()
    secrets.forget_rereads()
