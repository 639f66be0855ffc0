"""Import a package's submodules without running its ``__init__`` first: the seam for Powertools'
packages whose ``__init__`` imports far more than a function uses.

Python runs a package's ``__init__`` before any of its submodules. ``defer_init(name)`` registers the
package first as a bare module whose ``__path__`` finds the submodules (they load as usual) and whose
module ``__getattr__`` serves a name asked of the package (``from package import Name``, as Powertools'
own modules write it) from the submodule the ``__init__`` itself takes it from (read from its source,
not run), or, for any other name, runs the real ``__init__`` then: nothing is missing, only deferred.
Where the package was already imported (the local stack imports Powertools whole), this changes nothing.
"""

import ast
import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _reexports(init_file: str, package_name: str) -> dict[str, str]:
    """Name -> submodule, for each ``from .submodule import Name`` in the package's ``__init__``."""
    try:
        tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 1:
                module = f"{package_name}.{node.module}"
            elif node.level == 0 and node.module.startswith(package_name + "."):
                module = node.module
            else:
                continue
            for alias in node.names:
                names[alias.asname or alias.name] = module
    return names


def defer_init(package_name: str) -> None:
    """Register ``package_name`` (not yet imported) as a bare package; see the module's docstring."""
    if package_name in sys.modules:
        return
    spec = importlib.util.find_spec(package_name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not a package as expected: it is imported normally
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        reexports = _reexports(spec.origin or "", package_name)  # read once per package
        if name in reexports:
            return getattr(importlib.import_module(reexports[name]), name)
        try:
            return importlib.import_module(f"{package_name}.{name}")  # a submodule
        except ModuleNotFoundError as error:
            if error.name != f"{package_name}.{name}":
                raise
        # Anything else: the package's own __init__, once; its names then resolve normally.
        del vars(package)["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package_name] = package
    parent_name, _, child = package_name.rpartition(".")
    if parent_name:
        setattr(importlib.import_module(parent_name), child, package)
