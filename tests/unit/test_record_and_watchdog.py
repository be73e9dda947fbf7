"""Recorder (failed executions become status records) and watchdog (restarts before the window closes).

The fake status store answers with every record it holds and notes the cutoff it was asked for:
which records are before the cutoff is the real query's job (tests/handlers/test_watchdog.py, on moto).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mailroom.lifecycle import execution_name
from mailroom.ports import Failure
from mailroom.steps.record import message_id_of, record_failure
from mailroom.steps.watchdog import watch

MID = "0" * 20 + "abcdefghijklmnopqrst"


class Status:
    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.failed: list[tuple[str, Failure]] = []
        self.records = records or []
        self.restarted: list[tuple[str, str]] = []
        self.cutoffs: list[str] = []

    def mark_failed(self, message_id: str, *, failure: Failure, now: str) -> bool:
        self.failed.append((message_id, failure))
        return True

    def failed_since_before(self, cutoff: str) -> Sequence[Mapping[str, Any]]:
        self.cutoffs.append(cutoff)
        return self.records

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        self.restarted.append((message_id, execution_arn))


class History:
    def failed_step(self, execution_arn: str) -> str | None:
        return "Archive"


class Executions:
    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.started: list[tuple[str, str]] = []

    def input_of(self, execution_arn: str) -> str | None:
        return json.dumps({"message_id": MID}) if execution_arn else None

    def start_named(self, name: str, payload: str) -> str | None:
        if name in self.taken:
            return None
        self.taken.add(name)
        self.started.append((name, payload))
        return f"arn:aws:states:eu-west-1:123456789012:execution:m:{name}"


def _detail(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": f"arn:aws:states:eu-west-1:123456789012:execution:m:{MID}",
        "name": MID,
        "status": status,
        "input": json.dumps({"message_id": MID}),
        **extra,
    }


def test_a_failed_execution_is_recorded_with_its_step_and_error() -> None:
    status = Status()
    failure = record_failure(
        _detail("FAILED", error="StorageUnavailableError", cause="c"), history=History(), status=status, now="t"
    )
    assert failure is not None
    assert status.failed == [(MID, failure)]
    assert (failure.step, failure.error, failure.status) == ("Archive", "StorageUnavailableError", "FAILED")


def test_a_timeout_without_an_error_name_is_recorded_under_its_status() -> None:
    status = Status()
    failure = record_failure(_detail("TIMED_OUT"), history=History(), status=status, now="t")
    assert failure is not None
    assert failure.error == "TIMED_OUT"


def test_success_and_running_events_record_nothing() -> None:
    status = Status()
    for state in ("SUCCEEDED", "RUNNING"):
        assert record_failure(_detail(state), history=History(), status=status, now="t") is None
    assert status.failed == []


def test_a_restarts_message_id_comes_from_its_input_not_its_name() -> None:
    assert message_id_of({"name": f"{MID}-r2", "input": json.dumps({"message_id": MID})}) == MID
    assert message_id_of({"name": f"{MID}-r2", "input": "not json"}) == MID
    assert message_id_of({"name": "something-else", "input": "{}"}) is None


def test_the_watchdog_asks_for_emails_failed_before_the_threshold_and_restarts_them_under_the_next_free_name() -> None:
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    status = Status([{"message_id": MID, "updated_at": "2026-11-14T00:00:00.000+00:00", "execution_arn": "arn:old"}])
    executions = Executions(taken={execution_name(MID, 1)})
    restarted = watch(status=status, executions=executions, now=now, restart_after=dt.timedelta(days=12))
    assert status.cutoffs == ["2026-11-15T00:00:00.000+00:00"]  # the format updated_at is written in
    assert [r.message_id for r in restarted] == [MID]
    assert executions.started == [(f"{MID}-r2", json.dumps({"message_id": MID}))]
    assert status.restarted == [(MID, f"arn:aws:states:eu-west-1:123456789012:execution:m:{MID}-r2")]


def test_the_watchdog_leaves_an_email_without_a_stored_input_failed() -> None:
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    status = Status([{"message_id": MID, "updated_at": "2000-01-01", "execution_arn": ""}])
    assert watch(status=status, executions=Executions(set()), now=now, restart_after=dt.timedelta(days=12)) == []
    assert status.restarted == []
