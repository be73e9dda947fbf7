"""Replaying an email: decide (redrive, restart or leave it), then do it — for the operator and the Watchdog.

A failed email is **redriven** while Step Functions allows it (stopped FAILED, TIMED_OUT or ABORTED,
redrivable, within the 14-day window): the same execution resumes at the failed state. Otherwise it
is **restarted**: a new execution ``<id>-r<N>`` with the original input. An email with an outcome is
never replayed. The Watchdog always restarts (a restart opens a fresh 14-day window); the operator
may ask for a restart too. Every step is idempotent, so either way nothing is delivered twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from mailroom import lifecycle

Action = Literal["redrive", "restart", "skipped"]


@dataclass(frozen=True)
class Execution:
    """What replay needs to know of an email's latest execution."""

    arn: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    stopped: dt.datetime | None = None
    redrivable: bool = True
    not_redrivable_because: str | None = None


@dataclass(frozen=True)
class Plan:
    """What replay does for one email, and why."""

    message_id: str
    action: Action
    reason: str
    execution_arn: str | None = None


class Starts(Protocol):
    """Starts named executions."""

    def start_named(self, name: str, payload: str) -> str | None:
        """Start execution ``name``; its ARN, or None when that name is taken."""
        ...


class Executions(Starts, Protocol):
    """The state machine, as replay uses it."""

    def describe(self, execution_arn: str) -> Execution | None:
        """The execution, or None when it does not exist."""
        ...

    def input_of(self, execution_arn: str) -> str | None:
        """The execution's input (None when it no longer exists)."""
        ...

    def redrive(self, execution_arn: str) -> str | None:
        """Redrive; None when done, else why Step Functions refused (ExecutionNotRedrivable)."""
        ...


class Restarts(Protocol):
    """The status records, as replay updates them."""

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        """In flight again under ``execution_arn`` (never over an outcome)."""
        ...


def plan(
    message_id: str,
    record: Mapping[str, Any] | None,
    execution: Execution | None,
    *,
    now: dt.datetime,
    restart: bool = False,
    to: Sequence[str] = (),
) -> Plan:
    """Decide for one email from its status record and latest execution.

    ``to`` (an operator routing an unroutable email) always means a new execution; any other status
    is skipped, as SES's envelope stands.
    """
    if record is None:
        return Plan(message_id, "skipped", "no such email: no status record under this id")
    status = record.get("status")
    arn = execution.arn if execution else None
    if to:
        if status != lifecycle.UNROUTABLE:
            return Plan(message_id, "skipped", f"--to routes unroutable emails only; this one is {status}")
        return Plan(message_id, "restart", f"routed by the operator to {len(to)} address(es)", arn)
    if lifecycle.is_outcome(status):
        return Plan(message_id, "skipped", f"already {status}", arn)
    if execution is None:
        return Plan(message_id, "restart", "no execution found: start one from the stored email")
    if execution.status in ("RUNNING", "PENDING_REDRIVE"):
        return Plan(message_id, "skipped", f"execution is {execution.status.lower()}", arn)
    if execution.status == "SUCCEEDED":
        return Plan(message_id, "skipped", "execution succeeded", arn)
    if restart:
        return Plan(message_id, "restart", "a new execution was asked for", arn)
    if not execution.redrivable:
        return Plan(message_id, "restart", f"not redrivable ({execution.not_redrivable_because})", arn)
    if execution.stopped is not None and not lifecycle.within_redrive_window(execution.stopped, now):
        return Plan(message_id, "restart", "stopped more than 14 days ago: past the redrive window", arn)
    return Plan(message_id, "redrive", f"{execution.status.lower()} at {record.get('step') or 'a step'}", arn)


def restart(message_id: str, payload: str, executions: Starts) -> str:
    """Start ``<id>-r<N>`` for the first free N; its ARN."""
    for n in range(1, lifecycle.MAX_RESTARTS + 1):
        arn = executions.start_named(lifecycle.execution_name(message_id, n), payload)
        if arn is not None:
            return arn
    raise RuntimeError(f"{message_id} was restarted {lifecycle.MAX_RESTARTS} times already")


def apply(
    chosen: Plan,
    *,
    executions: Executions,
    records: Restarts,
    now: dt.datetime,
    original_input: Callable[[], str],
) -> Plan:
    """Carry out a plan; a redrive Step Functions refuses becomes a restart. The email is marked in flight.

    ``original_input`` builds the execution input when no earlier execution holds it any more.
    """
    if chosen.action == "skipped":
        return chosen
    if chosen.action == "redrive" and chosen.execution_arn:
        refused = executions.redrive(chosen.execution_arn)
        if refused is None:
            _mark(records, chosen.message_id, chosen.execution_arn, now)
            return chosen
        chosen = replace(chosen, action="restart", reason=f"redrive refused: {refused}")
    payload = (executions.input_of(chosen.execution_arn) if chosen.execution_arn else None) or original_input()
    arn = restart(chosen.message_id, payload, executions)
    _mark(records, chosen.message_id, arn, now)
    return replace(chosen, execution_arn=arn)


def _mark(records: Restarts, message_id: str, arn: str, now: dt.datetime) -> None:
    records.mark_restarted(message_id, execution_arn=arn, now=now.isoformat(timespec="milliseconds"))
