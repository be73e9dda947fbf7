"""What a cold start imports: each function's handler module, in a fresh interpreter, loads no module it
does not need. Import *times* are measured by bench/bench_coldstart.py, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailroom_cli.local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
# aws_xray_sdk: maintenance mode, end of support 2027-02-25 (Tracing: Active needs no SDK). pydantic and
# Powertools' batch utility (asyncio and every event class): their import cost more than the code they ran.
NEVER_IMPORTED = ("aws_xray_sdk", "pydantic", "pydantic_core", "aws_lambda_powertools.utilities.batch")


def _handler_modules() -> list[str]:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    defaults = load_yaml(ROOT / "template.yaml").get("Globals", {}).get("Function", {})
    modules = []
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::Function":
            handler = resource.get("Properties", {}).get("Handler") or defaults["Handler"]
            modules.append(handler.rpartition(".")[0])
    return sorted(modules)


def _loaded_after_import(module: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    env.update(PYTHONPATH=str(ROOT / "lambdas"), AWS_DEFAULT_REGION="eu-west-1")
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-s", "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", _handler_modules())
def test_a_handler_module_imports_no_tracing_sdk_no_pydantic_and_no_batch_utility(module: str) -> None:
    loaded = _loaded_after_import(module)

    assert not [name for name in loaded if name.startswith(NEVER_IMPORTED)]
