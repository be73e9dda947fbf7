"""Recorder: the real handler on EventBridge's "Step Functions Execution Status Change" events from tests/events.

Each event names an execution of the stack's state machine (``mailroom-dev-inbound-email``) that
really ran on moto's executing backend and ended as the event says, so the failed step comes from
its real history. The status record starts as the Starter writes it (``received``, with the envelope).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from local_stack import wait_until
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.handlers import record
from moto.core.config import default_user_config
from moto_stack import (
    ACCOUNT,
    DOMAIN,
    STATE_MACHINE,
    STATUS_TABLE,
    FakeLambdaContext,
    Stack,
    emitted_metrics,
    load_event,
)

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"  # the execution every event file names

FAILS_IN_ARCHIVE = {
    "StartAt": "Decrypt",
    "States": {
        "Decrypt": {"Type": "Pass", "Next": "Parse"},
        "Parse": {"Type": "Pass", "Next": "Archive"},
        "Archive": {"Type": "Fail", "Error": "StorageUnavailableError", "Cause": "SlowDown"},
    },
}
TIMES_OUT_IN_PARSE = {
    "TimeoutSeconds": 1,
    "StartAt": "Decrypt",
    "States": {"Decrypt": {"Type": "Pass", "Next": "Parse"}, "Parse": {"Type": "Wait", "Seconds": 60, "End": True}},
}
WAITS_IN_INBOX = {"StartAt": "Inbox", "States": {"Inbox": {"Type": "Wait", "Seconds": 60, "End": True}}}


@pytest.fixture
def run(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run the execution an event names until it ends, on the stack's machine as ``definition``; its status.

    moto's executing backend is another backend: the machine is made there under the same name (so the
    same ARN as the event's), unless an earlier suite left that backend on and it is the stack's own;
    either way it is then given ``definition``.
    """
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})

    def execute(event: dict[str, Any], definition: dict[str, Any], *, abort: bool = False) -> str:
        detail = event["detail"]
        machine = stack.sfn.create_state_machine(
            name=STATE_MACHINE,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/mailroom-dev-state-machine",
        )["stateMachineArn"]
        assert machine == detail["stateMachineArn"]
        stack.sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(definition))
        arn = stack.sfn.start_execution(stateMachineArn=machine, name=detail["name"], input=detail["input"])[
            "executionArn"
        ]
        assert arn == detail["executionArn"]
        if abort:
            wait_until(lambda: _entered(stack, arn), what=f"{arn} to enter its state", timeout=10)
            stack.sfn.stop_execution(executionArn=arn)
        return str(
            wait_until(
                lambda: (s := stack.sfn.describe_execution(executionArn=arn)["status"]) != "RUNNING" and s,
                what=f"{arn} to end",
                timeout=10,
            )
        )

    return execute


def _entered(stack: Stack, arn: str) -> bool:
    events = stack.sfn.get_execution_history(executionArn=arn)["events"]
    return any("stateEnteredEventDetails" in e for e in events)


def _received(stack: Stack) -> None:
    stack.record_envelope(MID, [f"scans@{DOMAIN}"])


def _status(stack: Stack) -> dict[str, Any]:
    found = stack.status(MID)
    assert found is not None
    return found


def test_a_failed_execution_is_recorded_with_the_step_from_its_history_and_the_error_from_the_event(
    stack: Stack, run: Callable[..., str], context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("eventbridge_sfn_failed.json")
    assert run(event, FAILS_IN_ARCHIVE) == "FAILED"
    _received(stack)
    capsys.readouterr()

    result = record.handler(event, context)

    assert result == {"recorded": True, "step": "Archive", "error": "StorageUnavailableError"}
    status = _status(stack)
    assert (status["status"], status["step"], status["error"]) == ("failed", "Archive", "StorageUnavailableError")
    assert status["cause"] == event["detail"]["cause"]
    assert status["execution_arn"] == event["detail"]["executionArn"]
    assert status["recipients"] == [f"scans@{DOMAIN}"]  # the envelope stays for a replay
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["StatusEvents"], metrics["ExecutionsFailed"]) == (1, 1)


@pytest.mark.parametrize(
    ("name", "definition", "abort", "step"),
    [
        ("eventbridge_sfn_timed_out.json", TIMES_OUT_IN_PARSE, False, "Parse"),
        ("eventbridge_sfn_aborted.json", WAITS_IN_INBOX, True, "Inbox"),
    ],
)
def test_a_timed_out_or_aborted_execution_has_no_error_name_and_is_recorded_under_its_status(
    stack: Stack,
    run: Callable[..., str],
    context: FakeLambdaContext,
    name: str,
    definition: dict[str, Any],
    abort: bool,
    step: str,
) -> None:
    event = load_event(name)
    assert (event["detail"].get("error"), event["detail"].get("cause")) == (None, None)
    assert run(event, definition, abort=abort) == event["detail"]["status"]
    _received(stack)

    result = record.handler(event, context)

    assert result == {"recorded": True, "step": step, "error": event["detail"]["status"]}
    status = _status(stack)
    assert (status["status"], status["step"], status["error"]) == ("failed", step, event["detail"]["status"])


def test_a_success_records_nothing_and_reads_no_history(
    stack: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    _received(stack)  # no execution exists: reading its history would raise
    capsys.readouterr()

    assert record.handler(load_event("eventbridge_sfn_succeeded.json"), context) == {"recorded": False}

    assert _status(stack)["status"] == "received"
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["StatusEvents"] == 1
    assert "ExecutionsFailed" not in metrics


def test_a_late_failure_event_never_undoes_an_outcome(
    stack: Stack, run: Callable[..., str], context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("eventbridge_sfn_failed.json")
    run(event, FAILS_IN_ARCHIVE)
    _received(stack)
    DynamoStatusStore(STATUS_TABLE, stack.dynamodb).mark_delivered(MID, items=1, now="2026-11-27T09:00:00.000Z")

    assert record.handler(event, context) == {"recorded": False}

    status = _status(stack)
    assert (status["status"], status["items"]) == ("delivered", 1)
    assert "error" not in status
    assert "ExecutionsFailed" not in emitted_metrics(capsys.readouterr().out)  # no alarm for a delivered email


def test_a_restarts_failure_is_recorded_under_the_email_it_restarted(
    stack: Stack, run: Callable[..., str], context: FakeLambdaContext
) -> None:
    event = load_event("eventbridge_sfn_failed.json")
    restart = f"{MID}-r1"
    arn = event["detail"]["executionArn"] + "-r1"
    event["detail"].update(name=restart, executionArn=arn)
    event["resources"] = [arn]
    run(event, FAILS_IN_ARCHIVE)
    _received(stack)

    assert record.handler(event, context)["recorded"] is True

    status = _status(stack)
    assert (status["status"], status["execution_arn"]) == ("failed", arn)
    assert stack.status(restart) is None


def test_a_failure_of_an_execution_that_carries_no_email_records_nothing(
    stack: Stack, context: FakeLambdaContext
) -> None:
    event = load_event("eventbridge_sfn_failed.json")
    event["detail"].update(name="nightly-report", input="{}")

    assert record.handler(event, context) == {"recorded": False}
    assert stack.dynamodb.scan(TableName=STATUS_TABLE)["Items"] == []
