"""The deploy rehearsal's tools: template.yaml translated to CloudFormation offline, and a small evaluator.

``translate`` runs the SAM translator that ships with sam-cli (samtranslator), as ``sam deploy``'s
transform would, with no AWS access: a fake region and account, code URIs replaced by S3 ones (what
``sam package`` does) and a stubbed managed-policy map. ``Evaluator`` resolves the intrinsics the
invariants need (Ref to parameters, Fn::If, Fn::Split, conditions) for given parameter values.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "ap-southeast-1"
ACCOUNT_ID = "123456789012"
# What SAM would look up in IAM for a policy named in Policies (none are: every grant is explicit).
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


class _StubPolicyLoader:
    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


@cache
def source_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())  # type: ignore[no-any-return]


def code_dir(function: dict[str, Any]) -> str:
    """functions/<name> of a translated function (from the S3 key that stands for its CodeUri)."""
    return str(function["Properties"]["Code"]["S3Key"]).rstrip("/").split("/")[-1]


def _translate(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(source_template())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):  # `sam package` uploads the folder: an S3 URI
                properties[key] = f"s3://rehearsal-artifacts/{properties[key].strip('/')}"
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = REGION
    try:
        return transform(template, dict(parameters), _StubPolicyLoader())  # type: ignore[no-any-return]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@cache
def translate(**parameters: str) -> dict[str, Any]:
    """template.yaml as CloudFormation, for these parameter values (others: the defaults)."""
    return _translate(tuple(sorted(parameters.items())))


NO_VALUE = object()


class Evaluator:
    """Resolves Ref (parameters, pseudo parameters), Fn::If, Fn::Split, Fn::Join and conditions."""

    def __init__(self, template: dict[str, Any], **parameters: str) -> None:
        self.template = template
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
        }
        self.parameters.update(parameters)
        self.parameters.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"})

    def condition(self, name: str) -> bool:
        return self._test(self.template["Conditions"][name])

    def _test(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if key == "Fn::Not":
            return not self._test(arg[0])
        if key == "Fn::And":
            return all(self._test(a) for a in arg)
        if key == "Fn::Or":
            return any(self._test(a) for a in arg)
        if key == "Condition":
            return self.condition(arg)
        raise ValueError(f"condition {key} is not understood here")

    def value(self, node: Any) -> Any:
        """``node`` with the intrinsics above resolved; AWS::NoValue removes keys and list items."""
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return NO_VALUE
            if key == "Ref" and arg in self.parameters:
                return self.parameters[arg]
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if key == "Fn::Join":
                return arg[0].join(str(self.value(i)) for i in arg[1])
        if isinstance(node, dict):
            resolved = {k: self.value(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.value(i) for i in node) if v is not NO_VALUE]
        return node
