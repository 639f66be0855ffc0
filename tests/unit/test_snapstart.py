"""SnapStart's runtime hooks (ctibridge.snapstart), run as Lambda runs them: through snapshot_restore_py.

A restored snapshot must not carry what init left behind: boto3 clients (their credentials and
connections), cached secrets, tenant lookups, httpx pools, and the ``random`` module's state.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import random
from typing import Any

import boto3
import httpx
import pytest
import snapshot_restore_py
from moto import mock_aws

from ctibridge import aws, snapstart
from ctibridge.tenants import secrets


def _run(registry: list[Any]) -> None:
    # What the Lambda runtime does before the snapshot / after a restore: call every registration.
    for func, args, kwargs in registry:
        func(*args, **kwargs)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    monkeypatch.setattr(snapstart, "_installed", False)


def test_a_handler_module_registers_the_hooks_once(hooks: None) -> None:
    snapstart.install()
    snapstart.install()
    assert [f for f, _, _ in snapshot_restore_py.get_before_snapshot()] == [snapstart.before_snapshot]
    assert [f for f, _, _ in snapshot_restore_py.get_after_restore()] == [snapstart.after_restore]


@mock_aws
def test_restore_forgets_clients_secrets_pools_and_reseeds(hooks: None) -> None:
    snapstart.install()
    _run(snapshot_restore_py.get_before_snapshot())

    # What a warm-up or the first events may leave in memory before a snapshot.
    dynamodb = aws.client("dynamodb")
    boto3.client("secretsmanager").create_secret(
        Name=secrets.secret_name("test", "t1"), SecretString=json.dumps({"pbx_secret": "old-secret-value"})
    )
    with contextlib.suppress(secrets.SecretsUnavailable):  # the read fills the cache either way
        secrets.get_secrets("t1")
    parameters = importlib.import_module("aws_lambda_powertools.utilities.parameters")
    assert parameters.base.DEFAULT_PROVIDERS  # the secrets provider (its client, its cache)
    worker = importlib.import_module("ctibridge.delivery.worker")
    pool = httpx.Client()
    worker._client = pool
    state = random.getstate()
    before = [random.random() for _ in range(3)]

    random.setstate(state)  # the snapshot's state, as every restored copy would start from it
    _run(snapshot_restore_py.get_after_restore())

    assert aws.client("dynamodb") is not dynamodb
    assert not parameters.base.DEFAULT_PROVIDERS
    assert worker._client is None
    assert pool.is_closed
    assert [random.random() for _ in range(3)] != before
