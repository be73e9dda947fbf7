"""Read ``template.yaml`` the way CloudFormation would, for the local stack (no second list of resources).

Only what local mode needs is evaluated: parameters (defaults + overrides), conditions, and the
intrinsic functions ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``, ``Fn::Join``, ``Fn::Select``,
``Fn::Split``, ``Fn::Equals``/``Not``/``And``/``Or``. A reference to a resource resolves through the
physical ids the provisioner records as it creates resources, in dependency order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template uses something local mode cannot evaluate (or is inconsistent)."""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (``!Ref``, ``!Sub``, ``!GetAtt A.B``…)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TemplateError(f"unexpected YAML node for !{suffix}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file into plain data with long-form intrinsics."""
    data = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a template")
    return data


@dataclass
class Physical:
    """What a created resource answers to ``Ref`` and ``Fn::GetAtt``."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class SamTemplate:
    """A loaded template with its parameters fixed; ``resolve`` evaluates intrinsics in property values."""

    def __init__(
        self,
        path: Path,
        *,
        parameters: Mapping[str, str] | None = None,
        region: str,
        account_id: str,
        stack_name: str,
    ) -> None:
        self.path = path
        self.root = path.parent
        self.data = load_yaml(path)
        self.resources: dict[str, dict[str, Any]] = self.data.get("Resources", {})
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        }
        self.parameters = self._parameters(parameters or {})
        self.physical: dict[str, Physical] = {}
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ parameters and conditions

    def _parameters(self, overrides: Mapping[str, str]) -> dict[str, str]:
        declared: dict[str, dict[str, Any]] = self.data.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameters: {', '.join(sorted(unknown))}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and no value was given")
            allowed = spec.get("AllowedValues")
            if allowed and values[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={values[name]!r} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, values[name]):
                raise TemplateError(f"parameter {name}={values[name]!r} does not match {pattern}")
        return values

    def condition(self, name: str) -> bool:
        """The value of condition ``name``."""
        if name not in self._conditions:
            expression = self.data.get("Conditions", {}).get(name)
            if expression is None:
                raise TemplateError(f"no condition named {name}")
            self._conditions[name] = bool(self.resolve(expression))
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        """Whether the resource exists under the current parameters (its ``Condition``)."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # ------------------------------------------------------------------ resources

    def of_type(self, *types: str) -> list[str]:
        """Logical ids of the included resources of the given types, in template order."""
        return [rid for rid, res in self.resources.items() if res.get("Type") in types and self.included(rid)]

    def creation_order(self, logical_ids: list[str]) -> list[str]:
        """``logical_ids`` ordered so that every resource comes after those it references."""
        wanted = set(logical_ids)
        graph = {rid: {d for d in self.dependencies(rid) if d in wanted} for rid in logical_ids}
        return list(TopologicalSorter(graph).static_order())

    def dependencies(self, logical_id: str) -> set[str]:
        """Resources ``logical_id`` references (``Ref``, ``GetAtt``, ``Sub``, ``DependsOn``)."""
        resource = self.resources[logical_id]
        found: set[str] = set()
        depends = resource.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        self._references(resource.get("Properties", {}), found)
        return {r for r in found if r in self.resources}

    def _references(self, value: Any, found: set[str]) -> None:
        if isinstance(value, dict):
            if "Ref" in value and isinstance(value["Ref"], str):
                found.add(value["Ref"])
            if "Fn::GetAtt" in value:
                found.add(str(value["Fn::GetAtt"][0]))
            if "Fn::Sub" in value:
                text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
                found.update(v.split(".")[0] for v in _SUB_VARIABLE.findall(text))
            for item in value.values():
                self._references(item, found)
        elif isinstance(value, list):
            for item in value:
                self._references(item, found)

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's properties with every intrinsic evaluated (``AWS::NoValue`` removed)."""
        resolved = self.resolve(self.resources[logical_id].get("Properties", {}))
        return resolved if isinstance(resolved, dict) else {}

    def globals_for(self, kind: str) -> dict[str, Any]:
        """SAM ``Globals`` for ``Function``, ``Api``… (resolved)."""
        resolved = self.resolve(self.data.get("Globals", {}).get(kind, {}))
        return resolved if isinstance(resolved, dict) else {}

    # ------------------------------------------------------------------ intrinsics

    def resolve(self, value: Any) -> Any:
        """Evaluate the intrinsic functions in ``value``."""
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition" and isinstance(arg, str) and "Fn::" not in arg:
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise TemplateError(f"Ref {name}: not a parameter, or a resource not created (yet) in local mode")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.physical.get(logical_id)
        if physical is None or attribute not in physical.attributes:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not available in local mode")
        return physical.attributes[attribute]

    def _function(self, name: str, arg: Any) -> Any:
        if name == "If":
            condition, then, otherwise = arg
            return self.resolve(then if self.condition(condition) else otherwise)
        if name == "Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg)[0]
        if name == "And":
            return all(self.resolve(arg))
        if name == "Or":
            return any(self.resolve(arg))
        if name == "GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self._get_att(str(logical_id), str(self.resolve(attribute)))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            separator, items = arg
            return str(separator).join(str(i) for i in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            separator, text = arg
            return str(self.resolve(text)).split(str(separator))
        if name == "ToJsonString":
            import json

            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise TemplateError(f"Fn::{name} is not supported by local mode")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")
