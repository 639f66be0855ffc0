"""SnapStart's runtime hooks (ctibridge.snapstart), run as Lambda runs them: through snapshot_restore_py.

A restored snapshot must not carry what init left behind: boto3 clients (their credentials and
connections), cached secrets, tenant lookups, httpx pools, and the ``random`` module's state.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import snapshot_restore_py
from moto import mock_aws

from ctibridge import aws, snapstart
from ctibridge.tenants import secrets
from tests.support.aws import create_table_from_template
from tests.support.fresh_interpreter import last_json_line

ROOT = Path(__file__).resolve().parents[2]


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


# ---------------------------------------------------------------- priming

# A fresh interpreter, as Lambda's init: import the handler, run before_snapshot, then look at what
# survived (the gc sees every live client, resource, credentials object and httpx client), and restore
# with botocore's model files made unreadable: every client the first event needs must come from the
# models the snapshot holds.
PRIMING_CHILD = r"""
import gc, json, sys
sys.path[:0] = json.loads(sys.argv[1])
import app
from ctibridge import aws, snapstart
unbuilt_before = len(snapstart.unbuilt_models())
snapstart.before_snapshot()

import boto3.resources.base, botocore.client, botocore.credentials, botocore.loaders, httpx
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from ctibridge.tenants import repository
gc.collect()
kinds = (botocore.client.BaseClient, boto3.resources.base.ServiceResource, botocore.credentials.Credentials,
         httpx.Client)
alive = sorted({type(o).__name__ for o in gc.get_objects() if isinstance(o, kinds)})
report = {
    "unbuilt_before": unbuilt_before,
    "unbuilt_after": [m.__qualname__ for m in snapstart.unbuilt_models()],
    "alive": alive,
    "secret_providers": sorted(DEFAULT_PROVIDERS),
    "tenant_cache": len(repository._cache._entries),
    "phonenumbers_loaded": "phonenumbers" in sys.modules,
}

def refuse(self, path):
    raise AssertionError(f"{path} read after the snapshot")

botocore.loaders.JSONFileLoader.load_file = refuse
snapstart.after_restore()
for service in snapstart.PRIMED_SERVICES:
    aws.client(service)
aws.table("restored")
print(json.dumps(report))
"""

CRITICAL_FUNCTIONS = ("pbx_webhooks", "ws_connect", "agent_login", "click_to_call")


def _child_report(code: str, path: list[str]) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with ``path`` first; the JSON report it prints last."""
    return dict(last_json_line(code, json.dumps(path)))


@pytest.mark.parametrize("function", CRITICAL_FUNCTIONS)
def test_the_snapshot_holds_parsed_models_and_built_schemas_but_no_client_or_credential(
    function: str,
) -> None:
    # Given a fresh interpreter with the function's Lambda path (its code, then the layer)
    path = [str(ROOT / "functions" / function), str(ROOT / "layers" / "shared")]

    # When it imports the handler, runs before_snapshot, then restores with no model file readable
    report = _child_report(PRIMING_CHILD, path)

    # Then every client the first event needs was made from the snapshot's models (no file read),
    # the models the handler loaded unbuilt (defer_build) were all built before the snapshot,
    assert report["unbuilt_before"] > 0
    assert report["unbuilt_after"] == []
    # and no client, resource, credentials, httpx client, secret provider or tenant lookup survived it.
    assert report["alive"] == []
    assert report["secret_providers"] == []
    assert report["tenant_cache"] == 0


def test_priming_loads_the_phone_numbers_metadata_but_keeps_no_caller() -> None:
    # Given the phone module the webhook uses, nothing parsed yet
    phones = importlib.import_module("ctibridge.phones")
    phones.normalize.cache_clear()

    # When priming imports what a first event imports lazily
    snapstart._prime_modules()

    # Then phonenumbers is loaded, and the example number parsed to load it is not cached
    assert "phonenumbers" in sys.modules
    assert phones.normalize.cache_info().currsize == 0


@mock_aws
def test_a_restored_environment_signs_with_its_own_credentials_and_answers(
    hooks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a table, and a snapshot taken (primed) with init's credentials
    create_table_from_template()
    snapstart.install()
    _run(snapshot_restore_py.get_before_snapshot())

    # When the restored copy runs with the credentials Lambda gives it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "restored-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "restored-secret-key")
    _run(snapshot_restore_py.get_after_restore())
    aws.table("ctibridge-test").put_item(Item={"PK": "TENANT#t1", "SK": "PROFILE", "name": "restored"})
    item = aws.client("dynamodb").get_item(
        TableName="ctibridge-test", Key={"PK": {"S": "TENANT#t1"}, "SK": {"S": "PROFILE"}}
    )["Item"]

    # Then its clients sign with those, and real calls work
    assert aws.client("dynamodb")._request_signer._credentials.access_key == "restored-access-key"
    assert aws.table("ctibridge-test").meta.client._request_signer._credentials.access_key == (
        "restored-access-key"
    )
    assert item["name"] == {"S": "restored"}


@mock_aws
def test_forget_credentials_keeps_the_session_and_its_models_but_no_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a client and a Table resource made on the shared session
    dynamodb = aws.client("dynamodb")
    table = aws.table("ctibridge-test")
    session = aws._session()[0]
    loader = session._session.get_component("data_loader")

    # When the credentials change and the module forgets them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "new-access-key")
    aws.forget_credentials()

    # Then new clients and resources are made on the same session (its parsed models kept), with the new key
    assert aws.client("dynamodb") is not dynamodb
    assert aws.table("ctibridge-test") is not table
    assert aws._session()[0] is session
    assert session._session.get_component("data_loader") is loader
    assert session.get_credentials().access_key == "new-access-key"


# A fresh interpreter with moto in-process and the demo tenant: import the login handler, snapshot,
# restore, then answer a real first login (a CRM token made with the standard library: PyJWT must not be
# loaded by the test) and list the modules that first answer had to import.
FIRST_LOGIN_CHILD = r"""
import base64, hashlib, hmac, json, sys
from datetime import datetime, timedelta
sys.path[:0] = json.loads(sys.argv[1])
from moto import mock_aws
mock_aws().start()
from tests.support.aws import create_table_from_template, load_event
from ctibridge_cli.demo import DEMO_JWT_ACCESS_KEY, seed_demo_tenant
create_table_from_template()
seed_demo_tenant("ctibridge-test", "test")
import app
from ctibridge import snapstart
snapstart.before_snapshot()
snapstart.after_restore()

def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

claims = {"ipphone": "102", "expired": (datetime.now() + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")}
signed = b64(b'{"typ":"JWT","alg":"HS256"}') + "." + b64(json.dumps(claims).encode())
token = signed + "." + b64(hmac.new(DEMO_JWT_ACCESS_KEY.encode(), signed.encode(), hashlib.sha256).digest())
event = load_event("agent_login", "login")
event["body"] = json.dumps({"token": token})
event["isBase64Encoded"] = False

class Context:
    function_name = "AgentLoginFunction"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AgentLoginFunction"
    def get_remaining_time_in_millis(self):
        return 6000

loaded = set(sys.modules)
answer = app.handler(event, Context())
print(json.dumps({"status": answer["statusCode"], "imported": sorted(set(sys.modules) - loaded)}))
"""


def test_a_restored_login_imports_nothing_on_its_first_answer() -> None:
    # Given the login function's path (its code, the layer) and the repository's test support and CLI
    path = [
        str(ROOT / "functions" / "agent_login"),
        str(ROOT / "layers" / "shared"),
        str(ROOT),
        str(ROOT / "cli"),
    ]

    # When a restored copy answers its first login
    report = _child_report(FIRST_LOGIN_CHILD, path)

    # Then it logged in, and every module it used (PyJWT's, deferred at import) came with the snapshot
    assert report["status"] == 200
    assert report["imported"] == []
