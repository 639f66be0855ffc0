"""Resolves the CloudFormation intrinsics the template uses, to local names and URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
_SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:(.+?):SecretString\}\}")


@dataclass
class LocalNames:
    """What each logical id means on the local stack (filled in as resources are created)."""

    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, attr) -> value
    # rewrites of AWS endpoint URLs to the local servers, applied to every resolved string
    url_rewrites: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)  # the template's Conditions section
    # Secrets Manager secrets the template creates: ARN -> the value generated for this stack
    secret_values: dict[str, str] = field(default_factory=dict)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": f"ctibridge-{self.parameters.get('Stage', 'local')}",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        value = self.pseudo(name)
        if value is None:
            value = self.parameters.get(name)
        if value is None:
            value = self.refs.get(name)
        if value is None:
            raise KeyError(f"template Ref to {name!r} has no local value")
        return value

    def resolve_dynamic(self, text: str) -> str:
        """``text`` with its ``{{resolve:secretsmanager:<arn>:SecretString}}`` references replaced, as
        CloudFormation does at deploy time (only the template's own secrets are known here)."""
        return _SECRET_REFERENCE.sub(lambda m: self.secret_values[m.group(1)], text)

    def get_att(self, name: str, attribute: str) -> str:
        if (name, attribute) not in self.attributes:
            raise KeyError(f"template GetAtt {name}.{attribute} has no local value")
        return self.attributes[(name, attribute)]

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics in ``value`` (Ref, GetAtt, Sub, Join) and rewrite AWS URLs to local ones."""
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._rewrite(self.ref(arg))
            if key == "Fn::GetAtt":
                return self._rewrite(self.get_att(arg[0], arg[1]))
            if key == "Fn::Sub":
                return self._rewrite(self._sub(arg))
            if key == "Fn::Join":
                separator, items = arg
                return self._rewrite(separator.join(str(self.resolve(i)) for i in items))
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::If":
                name, when_true, when_false = arg
                chosen = when_true if self.condition(name) else when_false
                return None if chosen == {"Ref": "AWS::NoValue"} else self.resolve(chosen)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def condition(self, name: str) -> bool:
        """A template condition (Fn::Equals / Not / And / Or / Condition over resolvable values)."""
        return self._evaluate(self.conditions[name])

    def _evaluate(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Fn::Equals":
            return bool(str(self.resolve(arg[0])) == str(self.resolve(arg[1])))
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(a) for a in arg)
        if key == "Fn::Or":
            return any(self._evaluate(a) for a in arg)
        if key == "Condition":
            return self.condition(arg)
        raise KeyError(f"template condition {key!r} has no local meaning")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)

    def _rewrite(self, text: str) -> str:
        for pattern, replacement in self.url_rewrites:
            text = pattern.sub(replacement, text)
        return text
