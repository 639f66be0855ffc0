"""Reads template.yaml into what the local stack needs: functions, routes, resources, mappings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


# libyaml's loader when present: the template is read by every unit test that builds a table.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML loader that keeps CloudFormation short-form tags as their long-form dicts."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_raw(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """template.yaml as plain data, intrinsic functions kept as ``{"Ref": ...}``/``{"Fn::Sub": ...}``."""
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class HttpRoute:
    method: str  # GET, POST, ... or ANY
    path: str  # API Gateway path template, e.g. /wsapi/{customer}/incoming_call
    function: str  # logical id

    @property
    def route_key(self) -> str:
        # The catch-all route's key is its path alone, as API Gateway writes it.
        return self.path if self.is_default else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        """API Gateway's ``$default`` route: what no other route matches."""
        return self.path == "$default"


def _maximum_concurrency(properties: dict[str, Any]) -> int | None:
    value = (properties.get("ScalingConfig") or {}).get("MaximumConcurrency")
    return int(value) if value is not None else None


@dataclass(frozen=True)
class QueueMapping:
    function: str
    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int
    partial_failures: bool
    maximum_batching_window: int
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    timeout: int


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    http_routes: list[HttpRoute] = field(default_factory=list)
    queue_mappings: list[QueueMapping] = field(default_factory=list)
    websocket_routes: dict[str, str] = field(default_factory=dict)  # route key -> function logical id
    websocket_api: str | None = None
    route_selection_expression: str = "$request.body.action"

    def resources_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.raw.get("Resources", {}).items() if r.get("Type") == kind}

    def parameter_defaults(self) -> dict[str, str]:
        return {k: str(v.get("Default", "")) for k, v in self.raw.get("Parameters", {}).items()}


def _function_from_arn_uri(uri: Any) -> str | None:
    """The function logical id inside an integration URI: ``!Sub ...${Fn.Arn}/invocations``, or the
    alias form ``!Sub [...${Function}/invocations, {Function: !Ref Fn.Alias}]`` (SnapStart, issue 21)."""
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if isinstance(text, list):
        variables = text[1] if len(text) > 1 and isinstance(text[1], dict) else {}
        for value in variables.values():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if isinstance(ref, str) and ref.endswith(".Alias"):
                return ref.removesuffix(".Alias")
        text = text[0]
    match = re.search(r"\$\{(\w+)\.Arn\}", str(text))
    return match.group(1) if match else None


def parse(path: Path = TEMPLATE_PATH) -> Template:
    raw = load_raw(path)
    template = Template(raw=raw)
    global_fn = raw.get("Globals", {}).get("Function", {})
    global_env = global_fn.get("Environment", {}).get("Variables", {})
    root = path.parent

    for name, res in template.resources_of_type("AWS::Serverless::Function").items():
        props = res.get("Properties", {})
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        template.functions[name] = Function(
            logical_id=name,
            code_uri=(root / props["CodeUri"]).resolve(),
            handler=props.get("Handler", global_fn.get("Handler", "app.handler")),
            environment=env,
            timeout=int(props.get("Timeout", global_fn.get("Timeout", 3))),
        )
        for event in props.get("Events", {}).values():
            eprops = event.get("Properties", {})
            if event.get("Type") == "HttpApi":
                template.http_routes.append(
                    HttpRoute(
                        method=str(eprops.get("Method", "ANY")).upper(), path=eprops["Path"], function=name
                    )
                )
            elif event.get("Type") == "SQS":
                queue = eprops["Queue"]
                queue_id = queue["Fn::GetAtt"][0] if isinstance(queue, dict) else queue
                template.queue_mappings.append(
                    QueueMapping(
                        function=name,
                        queue=queue_id,
                        batch_size=int(eprops.get("BatchSize", 10)),
                        partial_failures="ReportBatchItemFailures" in eprops.get("FunctionResponseTypes", []),
                        maximum_batching_window=int(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                        maximum_concurrency=_maximum_concurrency(eprops),
                    )
                )

    apis = template.resources_of_type("AWS::ApiGatewayV2::Api")
    for name, res in apis.items():
        if res["Properties"].get("ProtocolType") == "WEBSOCKET":
            template.websocket_api = name
            template.route_selection_expression = res["Properties"].get(
                "RouteSelectionExpression", "$request.body.action"
            )
    integrations = template.resources_of_type("AWS::ApiGatewayV2::Integration")
    for res in template.resources_of_type("AWS::ApiGatewayV2::Route").values():
        props = res["Properties"]
        target = props.get("Target", {})
        target_text = target.get("Fn::Sub", "") if isinstance(target, dict) else str(target)
        match = re.search(r"\$\{(\w+)\}", str(target_text))
        if not match or match.group(1) not in integrations:
            continue
        function = _function_from_arn_uri(integrations[match.group(1)]["Properties"].get("IntegrationUri"))
        if function:
            template.websocket_routes[props["RouteKey"]] = function
    return template
