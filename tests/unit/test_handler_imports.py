"""What a handler's import loads, in a fresh interpreter: never boto3, nor Powertools' whole packages.

``import boto3`` is the cold-start yardstick (bench/cold_start: a handler import <= 1.3x it), so a
handler that pulls boto3 in at import has already spent the whole budget before its own code. One
top-level ``from boto3.dynamodb.types import ...`` anywhere in the layer does it (it runs boto3's
package: sessions, botocore's loaders, s3transfer); ``ctibridge.lazy`` and ``ctibridge.aws`` are the
seams that load it on first use. Likewise Powertools' ``event_handler`` and ``utilities.data_classes``
packages, whose ``__init__`` imports every resolver and event class Powertools has, and PyJWT's:
``ctibridge.deferred_package`` keeps them to what a function uses. This checks the module graph, not a
time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fresh_interpreter import last_json_line

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").is_file())

CHILD = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
import app
print(json.dumps(sorted(sys.modules)))
"""
# Loaded only by those packages' __init__: event classes and resolvers no function of ours handles, and
# PyJWT's JWKS client (ctibridge.auth.crm_jwt defers PyJWT's __init__ the same way).
WHOLE_PACKAGES = (
    "aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event",
    "aws_lambda_powertools.event_handler.appsync",
    "jwt.jwks_client",
    # Powertools' parser models: its batch types import them when pydantic came first (queue_batch).
    "aws_lambda_powertools.utilities.parser.models",
)


def _modules_after_import(path: list[str]) -> list[str]:
    """A fresh interpreter with ``path`` first imports ``app``: the modules it then holds."""
    return list(last_json_line(CHILD, json.dumps(path)))


def _boto3_modules_after_import(path: list[str]) -> list[str]:
    return [name for name in _modules_after_import(path) if name.split(".")[0] in ("boto3", "s3transfer")]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_the_handler_does_not_import_boto3(function: str) -> None:
    path = [str(ROOT / "functions" / function), str(ROOT / "layers" / "shared")]
    assert _boto3_modules_after_import(path) == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_the_handler_does_not_run_whole_packages_init(function: str) -> None:
    path = [str(ROOT / "functions" / function), str(ROOT / "layers" / "shared")]
    loaded = set(_modules_after_import(path))
    assert loaded.isdisjoint(WHOLE_PACKAGES)


def test_the_check_sees_a_module_that_imports_boto3_at_the_top(tmp_path: Path) -> None:
    # The same child, on a handler that does what auth.sessions once did: the check must catch it.
    (tmp_path / "app.py").write_text("from boto3.dynamodb.types import TypeSerializer\n")
    assert "boto3" in _boto3_modules_after_import([str(tmp_path)])
