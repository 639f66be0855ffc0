"""Powertools' HTTP API resolver without the rest of its ``event_handler`` package: the lazy seam.

``aws_lambda_powertools.event_handler``'s ``__init__`` imports every resolver Powertools has (AppSync,
AppSync events, Bedrock agents, Lambda function URLs, VPC Lattice, ...) and their event classes: about a
third of a webhook handler's import, for code no function of ours runs. So the package's ``__init__`` is
deferred (``ctibridge.deferred_package``) and only ``api_gateway``, ``openapi`` and ``middlewares`` load;
the same for ``utilities.data_classes``, whose ``__init__`` imports every event class Powertools has when
the resolver needs the few of API Gateway, ALB, function URLs, VPC Lattice and Bedrock agents.

HTTP handlers import the resolver, ``Response``, ``content_types`` and ``Query`` from here, before any
other ``event_handler`` import.
"""

from typing import TYPE_CHECKING, Any

from ctibridge.deferred_package import defer_init

defer_init("aws_lambda_powertools.event_handler")
defer_init("aws_lambda_powertools.utilities.data_classes")

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
