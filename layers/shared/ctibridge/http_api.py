"""Powertools' HTTP API resolver without the rest of its ``event_handler`` package: the lazy seam.

``aws_lambda_powertools.event_handler``'s ``__init__`` imports every resolver Powertools has (AppSync,
AppSync events, Bedrock agents, Lambda function URLs, VPC Lattice, ...) and their event classes: about a
third of a webhook handler's import, for code no function of ours runs. Python runs a package's
``__init__`` before any of its submodules, so this module registers the package first as a bare module
whose ``__path__`` finds the submodules (``api_gateway``, ``openapi``, ``middlewares`` load as usual)
and whose module ``__getattr__`` serves a name asked of the package from a submodule already loaded
(``from aws_lambda_powertools.event_handler import ApiGatewayResolver``, as Powertools' own modules
write it) or, for any other name, runs the real ``__init__`` then: nothing is missing, only deferred.

HTTP handlers import the resolver, ``Response``, ``content_types`` and ``Query`` from here, before any
other ``event_handler`` import. Where the package was already imported (the local stack imports it
whole), this changes nothing.
"""

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

_PACKAGE = "aws_lambda_powertools.event_handler"


def _register_bare_package() -> None:
    if _PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not a package as expected: import it normally
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for module_name, module in list(sys.modules.items()):
            if not module_name.startswith(_PACKAGE + ".") or module is None:
                continue
            value = vars(module).get(name)
            # Only what the package defines (what its __init__ re-exports), not a submodule's imports.
            if value is not None and str(getattr(value, "__module__", "")).startswith(_PACKAGE):
                return value
        try:
            return importlib.import_module(f"{_PACKAGE}.{name}")  # a submodule (content_types)
        except ModuleNotFoundError as error:
            if error.name != f"{_PACKAGE}.{name}":
                raise
        # Anything else: the package's own __init__, once; its names then resolve normally.
        del vars(package)["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[_PACKAGE] = package
    parent = importlib.import_module(_PACKAGE.rpartition(".")[0])
    parent.event_handler = package  # type: ignore[attr-defined]


_register_bare_package()

from aws_lambda_powertools.event_handler import content_types  # noqa: E402
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response  # noqa: E402

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.params import Query


def __getattr__(name: str) -> Any:
    # ``Query`` (typed query parameters, for the resolvers with enable_validation) on first use: its module
    # and the pydantic compatibility layer it loads cost ~15 ms of the import of every other HTTP function.
    if name == "Query":
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Query
    raise AttributeError(name)


__all__ = ["APIGatewayHttpResolver", "Query", "Response", "content_types"]
