"""Loading a function's handler the way Lambda (and the local stack) does, for unit tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_handler(function: str, attribute: str = "handler") -> Callable[[dict[str, Any], Any], Any]:
    """Import functions/<function>/app.py afresh (module globals rebuilt) and return its handler."""
    path = FUNCTIONS / function / "app.py"
    name = f"_test_handler_{function}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)  # type: ignore[no-any-return]
