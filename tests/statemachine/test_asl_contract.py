"""The ASL file against the error taxonomy and the Step Functions schema (no AWS, no engine).

The taxonomy's class names are the contract: the Lambda runtime reports ``type(exc).__name__`` and
``ErrorEquals`` matches it exactly, so a renamed class would silently stop being retried or caught.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest
from mailroom.errors import PermanentError, RetryableError, leaf_errors

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "inbound_email.asl.json"
PACKAGE = ROOT / "lambdas" / "mailroom"
STEPS = ["Decrypt", "Parse", "Archive", "Inbox"]
ROUTING_STEP = "Parse"  # the only step that resolves recipients, so the only one that can find none
CRASH = {"Lambda.Unknown", "Sandbox.Timedout"}  # out of memory / killed, and a function timeout


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads(ASL_PATH.read_text())


def _tasks(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Lambda Task states: the four steps (every loop over them checks all four)."""
    tasks = {
        name: state
        for name, state in asl["States"].items()
        if state["Type"] == "Task" and state["Resource"] == "arn:aws:states:::lambda:invoke"
    }
    assert list(tasks) == STEPS
    return tasks


def _names(clauses: list[dict[str, Any]]) -> set[str]:
    return {name for clause in clauses for name in clause["ErrorEquals"]}


def test_every_error_name_is_a_taxonomy_leaf_or_a_service_error(asl: dict[str, Any]) -> None:
    leaves = set(leaf_errors())
    for name, state in asl["States"].items():
        for name_in_asl in _names(state.get("Retry", []) + state.get("Catch", [])):
            assert name_in_asl in leaves or re.fullmatch(r"(States|Lambda|Sandbox)\.[A-Za-z]+", name_in_asl), (
                f"{name}: {name_in_asl!r} is neither a raisable taxonomy class nor a States.*/Lambda.* error"
            )


def test_the_happy_path_is_the_four_steps_in_order_and_ends_at_inbox(asl: dict[str, Any]) -> None:
    assert asl["StartAt"] == "Decrypt"
    path, state = [], "Decrypt"
    while True:
        path.append(state)
        current = asl["States"][state]
        if current.get("End"):
            break
        state = current["Next"]
    assert path == STEPS  # 4 state transitions per delivered email
    assert list(_tasks(asl)) == STEPS


def test_every_task_retries_every_retryable_leaf_and_the_lambda_service_errors(asl: dict[str, Any]) -> None:
    retryable = {n for n, c in leaf_errors().items() if issubclass(c, RetryableError)}
    lambda_errors = {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.ClientExecutionTimeoutException",
    }
    for name, task in _tasks(asl).items():
        retried = _names(task["Retry"])
        assert retryable - retried == set(), f"{name} does not retry {sorted(retryable - retried)}"
        assert lambda_errors <= retried, f"{name} does not retry {sorted(lambda_errors - retried)}"
        for retrier in task["Retry"]:
            assert retrier["JitterStrategy"] == "FULL"
            assert retrier["BackoffRate"] >= 1
            assert 1 <= retrier["MaxDelaySeconds"] <= 300
            assert retrier["MaxAttempts"] >= 1


def test_a_crash_or_a_function_timeout_is_retried_once_at_every_step_and_no_task_can_time_out(
    asl: dict[str, Any],
) -> None:
    for name, task in _tasks(asl).items():
        [crash] = [r for r in task["Retry"] if set(r["ErrorEquals"]) & CRASH]
        assert (set(crash["ErrorEquals"]), crash["MaxAttempts"]) == (CRASH, 1), name  # docs/reliability.md
    for name, state in asl["States"].items():
        # Without TimeoutSeconds/HeartbeatSeconds no state can fail with States.Timeout: a clause for it
        # could never fire (a Lambda timeout arrives as the function's own error, Sandbox.Timedout).
        assert not {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"} & set(state)
        assert "States.Timeout" not in _names(state.get("Retry", []) + state.get("Catch", [])), name


def test_every_task_catches_every_permanent_leaf_and_nothing_retryable(asl: dict[str, Any]) -> None:
    leaves = leaf_errors()
    permanent = {n for n, c in leaves.items() if issubclass(c, PermanentError)}
    for name, task in _tasks(asl).items():
        caught = _names(task["Catch"])
        # NoKnownRecipientError is caught only where it can be raised (the next test says where that is).
        expected = permanent if name == ROUTING_STEP else permanent - {"NoKnownRecipientError"}
        assert caught == expected, f"{name}: missing {sorted(expected - caught)}, extra {sorted(caught - expected)}"
        # A caught retryable error (or States.ALL) would end in a recorded outcome instead of a
        # failed execution, and a redrive would then have nothing to resume.
        assert not caught & {n for n, c in leaves.items() if issubclass(c, RetryableError)}
        assert not any(n.startswith("States.") for n in caught), f"{name} catches a States.* error"


def _imports(path: Path) -> set[str]:
    """The ``mailroom`` modules a file imports (``from mailroom import x`` counts ``mailroom.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mailroom"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailroom"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _reachable(start: str, files: dict[str, Path]) -> set[str]:
    """Every mailroom module ``start`` imports, directly or not (and each package's ``__init__``)."""
    seen, pending = set(), [start]
    while pending:
        module = pending.pop()
        if module in seen or module not in files:
            continue
        seen.add(module)
        pending.extend(_imports(files[module]))
        pending.extend(".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1))
    return seen


def _raisers(error: str, files: dict[str, Path]) -> set[str]:
    """Modules with a ``raise <error>(...)``."""
    found = set()
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id == error:
                    found.add(module)
    return found


def test_no_known_recipient_can_be_raised_only_by_the_step_that_routes(asl: dict[str, Any]) -> None:
    # Why only Parse catches NoKnownRecipientError: only the Parse step raises it (from its envelope and
    # routing), and only Parse's handler imports it. If another step ever routes, this fails and its
    # Catch must come back.
    files = _module_files()
    raisers = _raisers("NoKnownRecipientError", files)
    assert raisers == {"mailroom.steps.parse"}  # routing decides, the Parse step raises
    for step in STEPS:
        reachable = _reachable(f"mailroom.handlers.{step.lower()}", files)
        assert len(reachable) > 3, step  # the handler and its own imports at least
        assert bool(raisers & reachable) == (step == ROUTING_STEP), step
    unroutable = [
        (n, c["Next"])
        for n, s in _tasks(asl).items()
        for c in s["Catch"]
        if "NoKnownRecipientError" in c["ErrorEquals"]
    ]
    assert unroutable == [(ROUTING_STEP, "RecordUnroutable")]


def test_permanent_errors_end_in_a_recorded_succeed_state_never_a_fail_state(asl: dict[str, Any]) -> None:
    states = asl["States"]
    assert not [n for n, s in states.items() if s["Type"] == "Fail"]
    for name, task in _tasks(asl).items():
        for catcher in task["Catch"]:
            assert catcher["ResultPath"] == "$.error", f"{name}: the catcher must keep the input (message_id)"
            state, seen = catcher["Next"], []
            while "Next" in states[state]:
                seen.append(state)
                state = states[state]["Next"]
            assert states[state]["Type"] == "Succeed"
            assert any(states[s].get("Resource") == "arn:aws:states:::dynamodb:updateItem" for s in seen), (
                f"{name}: {catcher['ErrorEquals']} reach {state} without a status record being written"
            )


def test_unroutable_mail_is_recorded_as_unroutable_and_other_refusals_as_quarantined(asl: dict[str, Any]) -> None:
    states = asl["States"]
    parse_catch = {tuple(c["ErrorEquals"]): c["Next"] for c in states["Parse"]["Catch"]}
    assert parse_catch[("NoKnownRecipientError",)] == "RecordUnroutable"
    record = states["RecordUnroutable"]["Parameters"]["ExpressionAttributeValues"][":status"]["S"]
    assert record == "unroutable"
    assert states["RecordQuarantine"]["Parameters"]["ExpressionAttributeValues"][":status"]["S"] == "quarantined"


def test_payloads_between_steps_are_the_previous_result_only(asl: dict[str, Any]) -> None:
    for name, task in _tasks(asl).items():
        assert task["Parameters"] == {"FunctionName": f"${{{name}FunctionArn}}", "Payload.$": "$"}
        assert task["OutputPath"] == "$.Payload"


def test_the_definition_is_valid_for_step_functions_per_cfn_lint(asl: dict[str, Any]) -> None:
    # cfn-lint does not look inside DefinitionUri files, so wrap the ASL in a plain state machine
    # resource (placeholders filled with well-formed ARNs) and let its Step Functions schema check it.
    text = ASL_PATH.read_text()
    for placeholder in set(re.findall(r"\$\{(\w+)\}", text)):
        value = (
            "StatusTable"
            if placeholder == "StatusTableName"
            else (f"arn:aws:lambda:eu-west-1:123456789012:function:{placeholder}")
        )
        text = text.replace(f"${{{placeholder}}}", value)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/machine",
                    "Definition": json.loads(text),
                },
            }
        },
    }
    matches = cfnlint.api.lint(json.dumps(template), regions=["eu-west-1"])
    assert [str(m) for m in matches] == []


def test_a_broken_definition_is_reported_by_the_same_check() -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/machine",
                    "Definition": {"StartAt": "A", "States": {"A": {"Type": "Task", "Retry": [{"MaxAttempts": 1}]}}},
                },
            }
        },
    }
    assert cfnlint.api.lint(json.dumps(template), regions=["eu-west-1"]) != []
