"""Translate template.yaml to plain CloudFormation JSON offline (aws-sam-translator, no AWS calls).

Runs in the SAM CLI tools venv (``.venv-tools/sam``), which carries aws-sam-translator. Local code paths
become placeholder S3 URIs, as ``sam validate`` does; a state machine's local ``DefinitionUri`` is inlined
instead, so the plain ``AWS::StepFunctions::StateMachine`` carries the real ASL as one JSON string, which
cfn-lint validates (rule E3601). Managed policy names resolve from the translator's bundled map, not IAM.

Usage: python tools/sam_translate.py template.yaml .aws-sam/translated.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform

PLACEHOLDER_CODE = "s3://offline-translation-placeholder/code.zip"


class BundledManagedPolicies:
    """The ManagedPolicyLoader interface, answered from the map the translator ships (no iam:ListPolicies)."""

    def load(self) -> dict[str, str]:
        return get_bundled_managed_policy_map("aws") or {}


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def offline_ready(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """Replace local CodeUri with a placeholder and inline local state machine definitions."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if _is_local(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = PLACEHOLDER_CODE
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and _is_local(properties.get("CodeUri")):
            properties["CodeUri"] = PLACEHOLDER_CODE
        if resource.get("Type") == "AWS::Serverless::StateMachine" and _is_local(properties.get("DefinitionUri")):
            asl = root / properties.pop("DefinitionUri")
            properties["Definition"] = json.loads(asl.read_text())
    return template


def literal_definitions(translated: dict[str, Any]) -> dict[str, Any]:
    """Join the translator's line-by-line ``Fn::Join`` back into the string it is: cfn-lint checks it (E3601)."""
    for resource in translated.get("Resources", {}).values():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        properties = resource.get("Properties", {})
        joined = properties.get("DefinitionString")
        if isinstance(joined, dict) and list(joined) == ["Fn::Join"]:
            separator, parts = joined["Fn::Join"]
            if all(isinstance(part, str) for part in parts):
                properties["DefinitionString"] = separator.join(parts)
    return translated


def main(argv: list[str]) -> int:
    source, target = Path(argv[1]), Path(argv[2])
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")  # the translator derives the partition from it
    template = offline_ready(yaml_parse(source.read_text()), source.parent)
    translated = literal_definitions(transform(template, {}, BundledManagedPolicies()))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(translated, indent=2, sort_keys=False) + "\n")
    print(f"translated {source} -> {target} ({len(translated.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
