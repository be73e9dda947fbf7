"""Record (the Recorder's step) on fakes: executions that failed, timed out or were aborted become failed records."""

from __future__ import annotations

import json
from typing import Any

from fakes import FakeStatus
from mailroom.steps.record import message_id_of, record_failure

MID = "0" * 20 + "abcdefghijklmnopqrst"
ARN = f"arn:aws:states:eu-west-1:123456789012:execution:m:{MID}"


class History:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def failed_step(self, execution_arn: str) -> str | None:
        self.asked.append(execution_arn)
        return "Archive"


def _detail(status: str, **extra: Any) -> dict[str, Any]:
    return {"executionArn": ARN, "name": MID, "status": status, "input": json.dumps({"message_id": MID}), **extra}


def test_a_failed_execution_is_recorded_with_its_step_and_error() -> None:
    status, history = FakeStatus(), History()
    failure = record_failure(
        _detail("FAILED", error="StorageUnavailableError", cause="c", stopDate=1764232504112),
        history=history,
        status=status,
        now="t",
    )
    assert failure is not None
    assert status.records[MID]["failure"] == failure
    assert (failure.step, failure.error, failure.cause) == ("Archive", "StorageUnavailableError", "c")
    assert failure.status == "FAILED"
    assert (failure.execution_arn, failure.stopped_at) == (ARN, "1764232504112")
    assert history.asked == [ARN]


def test_a_timeout_without_an_error_name_is_recorded_under_its_status_and_stopped_now() -> None:
    status = FakeStatus()
    failure = record_failure(_detail("TIMED_OUT", error=None), history=History(), status=status, now="t")
    assert failure is not None
    assert (failure.error, failure.stopped_at) == ("TIMED_OUT", "t")
    assert status.records[MID]["status"] == "failed"


def test_success_and_running_events_record_nothing_and_read_no_history() -> None:
    status, history = FakeStatus(), History()
    for state in ("SUCCEEDED", "RUNNING"):
        assert record_failure(_detail(state), history=history, status=status, now="t") is None
    assert status.records == {}
    assert history.asked == []


def test_a_failure_of_an_execution_that_is_no_email_records_nothing() -> None:
    status = FakeStatus()
    detail = {**_detail("FAILED"), "name": "someone-elses-run", "input": "{}"}
    assert record_failure(detail, history=History(), status=status, now="t") is None
    assert status.records == {}


def test_a_restarts_message_id_comes_from_its_input_not_its_name() -> None:
    assert message_id_of({"name": f"{MID}-r2", "input": json.dumps({"message_id": MID})}) == MID
    assert message_id_of({"name": f"{MID}-r2", "input": "not json"}) == MID
    assert message_id_of({"name": "something-else", "input": "{}"}) is None
