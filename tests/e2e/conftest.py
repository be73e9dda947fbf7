"""One local stack per test module: moto over loopback, the real template, ASL and handlers.

When a module is done, every execution its stack ran is read back: no email address may appear in
any execution's input, output or history (recipients are personal data; they live on the status
record, never in Step Functions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from local_stack import running_stack

from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target, from_local

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def addresses_in_executions(stack: LocalStack) -> dict[str, list[str]]:
    """Execution name → the addresses found in its input, output and history (none, if all is well)."""
    sfn = stack.client("stepfunctions")
    found: dict[str, list[str]] = {}
    machine = stack.info()["state_machine_arn"]
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            arn = execution["executionArn"]
            described = sfn.describe_execution(executionArn=arn)
            events = [
                e for p in sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in p["events"]
            ]
            text = json.dumps([described.get("input"), described.get("output"), events], default=str)
            hits = [m.group(0) for m in ADDRESS.finditer(text)]
            if hits:
                found[execution["name"]] = hits
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports, retry waits compressed 1000× (the requested ones are recorded)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
        leaked = addresses_in_executions(running)
        assert not leaked, f"addresses in Step Functions (input, output or history): {leaked}"


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return from_local(stack.info())
