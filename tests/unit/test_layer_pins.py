"""The layer ships pinned versions, and the tests run against exactly those."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line), f"not an exact pin: {line}"
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def test_every_layer_dependency_is_pinned_exactly_with_its_dependencies() -> None:
    # Given the layer's requirements
    pins = _pins()
    # Then every runtime dependency of the project (but boto3, which Lambda provides) is pinned ...
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {_name(r) for r in project} - {"boto3"} <= set(pins)
    # ... and so is every dependency those pins install (nothing left to pip's choice at build time)
    for name in pins:
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" in requirement or "python_version < " in requirement:
                continue
            assert _name(requirement) in pins, f"{name} needs {requirement}, which is not pinned"


def test_the_test_environment_runs_the_versions_the_layer_ships() -> None:
    # Given the layer's pins; Then this venv has exactly those versions installed
    installed = {name: importlib.metadata.version(name) for name in _pins()}
    assert installed == _pins()
