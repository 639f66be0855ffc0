"""Fixtures of the hardening unit tests: moto with the template's table and queues, the demo tenant,
and the PBX webhook function loaded as Lambda loads it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from ctibridge.observability import metrics
from ctibridge_cli.demo import seed_demo_tenant
from tests.support.aws import create_table_from_template
from tests.support.calls import Invoke, RecordingResources, create_recording_resources
from tests.support.handlers import load_handler

TABLE = "ctibridge-test"  # what tests/unit/conftest.py puts in TABLE_NAME
STAGE = "test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingResources]:
    # Standard retry mode for every client, Powertools' own included (what Lambda's boto3 would do
    # with AWS_RETRY_MODE=standard; ctibridge.aws sets it explicitly for its clients).
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    with mock_aws():
        create_table_from_template(TABLE)
        yield create_recording_resources(monkeypatch)


@pytest.fixture
def webhook(aws: RecordingResources, lambda_context: Any) -> Invoke:
    """The PBX webhook function with the demo tenant (PBX secret demo-secret, agents 101 and 102)."""
    seed_demo_tenant(TABLE, STAGE)
    metrics.clear_metrics()  # counts left by tests that ran logic without a handler
    handler = load_handler("pbx_webhooks")
    return lambda event: handler(event, lambda_context)
