"""An email's lifecycle (names, ARNs, the redrive window) and the replay policy, without AWS."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from mailroom import lifecycle
from mailroom.replay import Execution, Plan, apply, plan

MID = "0123456789abcdefghijklmnopqrstuv01234567"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:mailroom-prod-inbound-email"
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
FAILED = {"message_id": MID, "status": "failed", "step": "Archive"}


def test_execution_names_and_arns_round_trip() -> None:
    assert lifecycle.execution_name(MID) == MID
    assert lifecycle.execution_name(MID, 3) == f"{MID}-r3"
    assert lifecycle.message_id_of(f"{MID}-r3") == MID
    assert lifecycle.message_id_of(MID) == MID
    assert lifecycle.message_id_of(f"{MID}-r0") == f"{MID}-r0"  # no restart 0: not a restart name
    assert lifecycle.execution_arn(MACHINE, MID) == (
        f"arn:aws:states:eu-west-1:123456789012:execution:mailroom-prod-inbound-email:{MID}"
    )
    with pytest.raises(ValueError, match="restart"):
        lifecycle.execution_name(MID, lifecycle.MAX_RESTARTS + 1)


def test_outcomes_are_final_and_received_and_failed_are_not() -> None:
    assert [s for s in lifecycle.STATUSES if lifecycle.is_outcome(s)] == list(lifecycle.OUTCOMES)
    assert not lifecycle.is_outcome("received")
    assert not lifecycle.is_outcome("failed")


def test_the_redrive_window_is_fourteen_days() -> None:
    assert lifecycle.within_redrive_window(NOW - dt.timedelta(days=14), NOW)
    assert not lifecycle.within_redrive_window(NOW - dt.timedelta(days=14, seconds=1), NOW)


def failed_execution(**changes: object) -> Execution:
    values: dict[str, object] = {"arn": lifecycle.execution_arn(MACHINE, MID), "status": "FAILED", "stopped": NOW}
    return Execution(**{**values, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "execution", "restart", "to", "action", "why"),
    [
        (None, None, False, (), "skipped", "no such email"),
        ({**FAILED, "status": "delivered"}, failed_execution(), False, (), "skipped", "already delivered"),
        (FAILED, failed_execution(status="RUNNING"), False, (), "skipped", "running"),
        (FAILED, failed_execution(status="SUCCEEDED"), False, (), "skipped", "succeeded"),
        (FAILED, failed_execution(), False, (), "redrive", "failed at Archive"),
        (FAILED, failed_execution(), True, (), "restart", "new execution"),
        (
            FAILED,
            failed_execution(redrivable=False, not_redrivable_because="x"),
            False,
            (),
            "restart",
            "not redrivable",
        ),
        (FAILED, failed_execution(stopped=NOW - dt.timedelta(days=15)), False, (), "restart", "redrive window"),
        (FAILED, None, False, (), "restart", "no execution found"),
        ({**FAILED, "status": "unroutable"}, failed_execution(), False, ("a@x",), "restart", "routed by the operator"),
        (FAILED, failed_execution(), False, ("a@x",), "skipped", "unroutable emails only"),
    ],
)
def test_the_replay_policy(
    record: dict[str, str] | None,
    execution: Execution | None,
    restart: bool,
    to: tuple[str, ...],
    action: str,
    why: str,
) -> None:
    chosen = plan(MID, record, execution, now=NOW, restart=restart, to=to)

    assert (chosen.action, why in chosen.reason) == (action, True), chosen


@dataclass
class FakeExecutions:
    taken: set[str] = field(default_factory=set)
    redrive_refusal: str | None = None
    redriven: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)

    def describe(self, execution_arn: str) -> Execution | None:
        return None

    def input_of(self, execution_arn: str) -> str | None:
        return self.inputs.get(execution_arn)

    def start_named(self, name: str, payload: str) -> str | None:
        if name in self.taken:
            return None
        self.taken.add(name)
        self.inputs[lifecycle.execution_arn(MACHINE, name)] = payload
        return lifecycle.execution_arn(MACHINE, name)

    def redrive(self, execution_arn: str) -> str | None:
        if self.redrive_refusal is None:
            self.redriven.append(execution_arn)
        return self.redrive_refusal


@dataclass
class FakeRecords:
    marked: list[tuple[str, str]] = field(default_factory=list)

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        self.marked.append((message_id, execution_arn))


def test_a_redrive_resumes_the_same_execution_and_marks_the_email_in_flight() -> None:
    arn = lifecycle.execution_arn(MACHINE, MID)
    executions, records = FakeExecutions(), FakeRecords()

    done = apply(Plan(MID, "redrive", "r", arn), executions=executions, records=records, now=NOW, original_input=str)

    assert (done.action, executions.redriven, records.marked) == ("redrive", [arn], [(MID, arn)])


def test_a_refused_redrive_restarts_under_the_next_free_name_with_the_original_input() -> None:
    first = lifecycle.execution_arn(MACHINE, MID)
    executions = FakeExecutions(taken={MID, f"{MID}-r1"}, redrive_refusal="too old", inputs={first: '{"a": 1}'})
    records = FakeRecords()

    done = apply(Plan(MID, "redrive", "r", first), executions=executions, records=records, now=NOW, original_input=str)

    restarted = lifecycle.execution_arn(MACHINE, f"{MID}-r2")
    assert (done.action, done.execution_arn) == ("restart", restarted)
    assert "too old" in done.reason
    assert executions.inputs[restarted] == '{"a": 1}'
    assert records.marked == [(MID, restarted)]


def test_a_restart_without_an_earlier_input_uses_the_original_one_built_from_names() -> None:
    executions, records = FakeExecutions(), FakeRecords()

    done = apply(
        Plan(MID, "restart", "r", None), executions=executions, records=records, now=NOW, original_input=lambda: "{}"
    )

    assert done.execution_arn == lifecycle.execution_arn(MACHINE, f"{MID}-r1")
    assert executions.inputs[done.execution_arn] == "{}"


def test_a_skipped_plan_does_nothing() -> None:
    executions, records = FakeExecutions(), FakeRecords()

    apply(
        Plan(MID, "skipped", "already delivered"), executions=executions, records=records, now=NOW, original_input=str
    )

    assert (executions.taken, records.marked) == (set(), [])
