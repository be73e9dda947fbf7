"""Watchdog: the real handler on the scheduled event from tests/events, the real ``by-status`` query and real
executions, on moto.

Status records are written by the same store methods the Recorder and Inbox use, with their
``updated_at`` on both sides of the cutoff (now − ``RESTART_AFTER_DAYS``); the handler's own clock
decides which side each is on, so each record is a minute or a day clear of it. Executions run on
moto's executing backend, on a machine whose one state fails, so a failed email's execution (and
each restart) has really ended FAILED: its name cannot be started again, as on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from local_stack import wait_until
from mailroom import composition, lifecycle
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.adapters.s3 import S3BlobStore
from mailroom.envelope import Envelope
from mailroom.handlers import watchdog
from mailroom.ports import Failure
from mailroom.steps.watchdog import sweep
from moto.core.config import default_user_config
from moto_stack import (
    ACCOUNT,
    INCOMING,
    PREFIX,
    STATUS_TABLE,
    Configure,
    FakeLambdaContext,
    Stack,
    emitted_metrics,
    load_event,
)

RESTART_AFTER_DAYS = 12  # template.yaml: WatchdogFunction's RESTART_AFTER_DAYS
OLD = "a" * 40  # failed 13 days ago: restarted
JUST_PAST = "b" * 40  # failed 12 days and a minute ago: restarted
JUST_SHORT = "c" * 40  # failed 12 days less a minute ago: left alone
RECENT = "d" * 40  # failed yesterday: left alone
DELIVERED = "e" * 40  # delivered 20 days ago: never restarted, however old
QUARANTINED = "f" * 40  # quarantined 20 days ago: an outcome, never restarted


ENVELOPE = Envelope(("scans@in.mailroom.localhost",))
SCHEDULED = load_event("eventbridge_scheduled.json")  # what the rule sends every 15 minutes
FAILING = {"StartAt": "Archive", "States": {"Archive": {"Type": "Fail", "Error": "StorageUnavailableError"}}}


@pytest.fixture
def machine(stack: Stack, configure: Configure, monkeypatch: pytest.MonkeyPatch) -> str:
    """A state machine on moto's executing backend whose every execution ends FAILED; the Watchdog's."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    arn: str = stack.sfn.create_state_machine(
        name="mailroom-dev-watched",
        definition=json.dumps(FAILING),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/mailroom-dev-state-machine",
    )["stateMachineArn"]
    configure(STATE_MACHINE_ARN=arn, RESTART_AFTER_DAYS=str(RESTART_AFTER_DAYS))
    return arn


@pytest.fixture
def status(stack: Stack, machine: str) -> Iterator[DynamoStatusStore]:
    composition.reset()
    yield DynamoStatusStore(STATUS_TABLE, stack.dynamodb)
    composition.reset()


def executions(stack: Stack, machine: str) -> dict[str, dict[str, Any]]:
    """Every execution of ``machine`` by name, once each has ended, with its parsed input."""
    listed = stack.sfn.list_executions(stateMachineArn=machine)["executions"]
    for execution in listed:
        ended(stack, execution["executionArn"])
    return {
        e["name"]: {**e, "input": json.loads(stack.sfn.describe_execution(executionArn=e["executionArn"])["input"])}
        for e in listed
    }


def ended(stack: Stack, arn: str) -> str:
    """Wait (with a deadline) for an execution to end; its status."""
    status = wait_until(
        lambda: (s := stack.sfn.describe_execution(executionArn=arn)["status"]) != "RUNNING" and s,
        what=f"{arn} to end",
        timeout=10,
    )
    return str(status)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _started(stack: Stack, machine: str, message_id: str) -> tuple[str, str]:
    """The email's first execution, as the Starter names it, once it has failed; (its ARN, its input)."""
    payload = json.dumps({"message_id": message_id, "key": f"inbound/{message_id}"})
    arn: str = stack.sfn.start_execution(stateMachineArn=machine, name=message_id, input=payload)["executionArn"]
    assert ended(stack, arn) == "FAILED"
    return arn, payload


def _failed(stack: Stack, machine: str, status: DynamoStatusStore, message_id: str, at: dt.datetime) -> str:
    arn, payload = _started(stack, machine, message_id)
    status.mark_received(message_id, received_at=_iso(at), execution_arn=arn, envelope=ENVELOPE, now=_iso(at))
    failure = Failure(
        execution_arn=arn, status="FAILED", step="Archive", error="StorageUnavailableError", cause="c", stopped_at=""
    )
    assert status.mark_failed(message_id, failure=failure, now=_iso(at))
    return payload


def _record(stack: Stack, message_id: str) -> dict[str, Any]:
    record = stack.status(message_id)
    assert record is not None
    return record


def test_only_emails_failed_longer_than_the_threshold_are_restarted_under_their_next_name(
    stack: Stack,
    machine: str,
    status: DynamoStatusStore,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=RESTART_AFTER_DAYS)
    inputs = {
        OLD: _failed(stack, machine, status, OLD, now - dt.timedelta(days=13)),
        JUST_PAST: _failed(stack, machine, status, JUST_PAST, cutoff - dt.timedelta(minutes=1)),
        JUST_SHORT: _failed(stack, machine, status, JUST_SHORT, cutoff + dt.timedelta(minutes=1)),
        RECENT: _failed(stack, machine, status, RECENT, now - dt.timedelta(days=1)),
    }
    long_ago = _iso(now - dt.timedelta(days=20))
    arn, _ = _started(stack, machine, DELIVERED)
    status.mark_received(DELIVERED, received_at=long_ago, execution_arn=arn, envelope=ENVELOPE, now=long_ago)
    status.mark_delivered(DELIVERED, items=1, now=long_ago)
    arn, _ = _started(stack, machine, QUARANTINED)
    status.mark_received(QUARANTINED, received_at=long_ago, execution_arn=arn, envelope=ENVELOPE, now=long_ago)
    stack.dynamodb.update_item(  # what the state machine's RecordQuarantine writes
        TableName=STATUS_TABLE,
        Key={"message_id": {"S": QUARANTINED}},
        UpdateExpression="SET #s = :s, updated_at = :now",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "quarantined"}, ":now": {"S": long_ago}},
    )
    assert len(executions(stack, machine)) == 6
    capsys.readouterr()

    result = watchdog.handler(SCHEDULED, context)

    assert sorted(result["restarted"]) == sorted([OLD, JUST_PAST])
    restarts = {name: e for name, e in executions(stack, machine).items() if "-r" in name}
    assert sorted(restarts) == sorted([f"{OLD}-r1", f"{JUST_PAST}-r1"])
    for message_id in (OLD, JUST_PAST):
        restart = restarts[f"{message_id}-r1"]
        assert restart["input"] == json.loads(inputs[message_id])  # the original input, unchanged
        record = _record(stack, message_id)
        assert (record["status"], record["execution_arn"], record["replays"]) == (
            "received",
            restart["executionArn"],
            1,
        )
    for message_id in (JUST_SHORT, RECENT):
        assert _record(stack, message_id)["status"] == "failed"
    assert _record(stack, DELIVERED)["status"] == "delivered"
    assert _record(stack, QUARANTINED)["status"] == "quarantined"
    assert emitted_metrics(capsys.readouterr().out)["WatchdogRestarts"] == 2


def test_an_email_that_fails_again_is_restarted_under_the_next_free_name(
    stack: Stack, machine: str, status: DynamoStatusStore, context: FakeLambdaContext
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=13)
    payload = _failed(stack, machine, status, OLD, old)
    assert watchdog.handler(SCHEDULED, context) == {"restarted": [OLD], "no_envelope": []}
    assert watchdog.handler(SCHEDULED, context) == {
        "restarted": [],
        "no_envelope": [],
    }  # in flight again: nothing to do

    # The restart failed too (the machine fails every execution), and has been failed for 13 days.
    first_restart = _record(stack, OLD)["execution_arn"]
    assert ended(stack, first_restart) == "FAILED"
    failure = Failure(execution_arn=first_restart, status="FAILED", step="Inbox", error="X", cause=None, stopped_at="")
    assert status.mark_failed(OLD, failure=failure, now=_iso(old))
    assert watchdog.handler(SCHEDULED, context) == {"restarted": [OLD], "no_envelope": []}

    found = executions(stack, machine)
    assert sorted(found) == [OLD, f"{OLD}-r1", f"{OLD}-r2"]
    second = found[f"{OLD}-r2"]
    assert second["input"] == json.loads(payload)
    assert (_record(stack, OLD)["execution_arn"], _record(stack, OLD)["replays"]) == (second["executionArn"], 2)


def test_an_old_failed_email_whose_execution_is_gone_stays_failed(
    stack: Stack, machine: str, status: DynamoStatusStore, context: FakeLambdaContext
) -> None:
    old = _iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=13))
    gone = lifecycle.execution_arn(machine, OLD)  # never started
    failure = Failure(execution_arn=gone, status="FAILED", step="Parse", error="X", cause=None, stopped_at="")
    assert status.mark_failed(OLD, failure=failure, now=old)

    assert watchdog.handler(SCHEDULED, context) == {"restarted": [], "no_envelope": []}
    assert executions(stack, machine) == {}
    assert _record(stack, OLD)["status"] == "failed"


# ------------------------------------------------------------------ the sweep: stored emails without envelope

ANNOUNCED = "g" * 40  # its notification came: it has a status record
UNANNOUNCED = "h" * 40  # stored, never announced


def _store(stack: Stack, message_id: str) -> None:
    stack.put_ses_object(b"Subject: s\r\n\r\nbody\r\n", message_id)


def test_the_sweep_records_only_old_stored_emails_without_a_status_record(stack: Stack) -> None:
    store = DynamoStatusStore(STATUS_TABLE, stack.dynamodb)
    for message_id in (ANNOUNCED, UNANNOUNCED):
        _store(stack, message_id)
    stack.s3.put_object(Bucket=INCOMING, Key=PREFIX + "AMAZON_SES_SETUP_NOTIFICATION", Body=b"setup")
    stack.s3.put_object(Bucket=INCOMING, Key=PREFIX + "not-an-ses-id", Body=b"x")
    store.mark_received(ANNOUNCED, received_at="2026-11-27T08:00:00Z", execution_arn="", envelope=ENVELOPE, now="x")
    objects = S3BlobStore(stack.s3)
    stored_at = dt.datetime.now(dt.UTC)

    def run(at: dt.datetime) -> list[str]:
        return sweep(
            objects=objects,
            status=store,
            bucket=INCOMING,
            prefix=PREFIX,
            now=at,
            older_than=dt.timedelta(minutes=15),
            lookback=dt.timedelta(hours=48),
        )

    assert run(stored_at + dt.timedelta(minutes=5)) == []  # its notification may still be on the way
    assert run(stored_at + dt.timedelta(minutes=20)) == [UNANNOUNCED]
    record = _record(stack, UNANNOUNCED)
    assert (record["status"], record["reason"]) == ("unroutable", "no-envelope")
    assert "recipients" not in record
    assert run(stored_at + dt.timedelta(minutes=40)) == []  # recorded once
    assert run(stored_at + dt.timedelta(hours=49)) == []  # past the lookback: not looked up again
    assert _record(stack, ANNOUNCED)["status"] == "received"  # the announced one is left alone


def test_the_sweep_never_overwrites_a_record_a_late_notification_created(stack: Stack) -> None:
    store = DynamoStatusStore(STATUS_TABLE, stack.dynamodb)
    _store(stack, UNANNOUNCED)
    # The Starter wins the race: its record exists when the sweep's conditional write arrives.
    store.mark_received(UNANNOUNCED, received_at="2026-11-27T08:00:00Z", execution_arn="", envelope=ENVELOPE, now="x")

    assert store.mark_unenveloped(UNANNOUNCED, received_at="2026-11-27T08:00:00Z", now="y") is False
    assert _record(stack, UNANNOUNCED)["status"] == "received"


def test_the_handler_sweeps_and_reports_what_it_recorded(
    stack: Stack,
    machine: str,
    status: DynamoStatusStore,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store(stack, UNANNOUNCED)  # stored just now: younger than the 15 minutes the handler waits

    result = watchdog.handler(SCHEDULED, context)

    assert result == {"restarted": [], "no_envelope": []}
    assert stack.status(UNANNOUNCED) is None
    assert emitted_metrics(capsys.readouterr().out)["NoEnvelope"] == 0


class _TwentyMinutesOn:
    """The ``dt`` module as the handler sees it, its clock 20 minutes on (moto stamps objects with the real one)."""

    UTC = dt.UTC
    timedelta = dt.timedelta

    class datetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
            return dt.datetime.now(tz) + dt.timedelta(minutes=20)


def test_the_handler_records_a_stored_email_no_notification_announced_once_and_counts_it(
    stack: Stack,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store(stack, UNANNOUNCED)
    monkeypatch.setattr(watchdog, "dt", _TwentyMinutesOn)  # past the 15 minutes a notification may take
    capsys.readouterr()

    assert watchdog.handler(SCHEDULED, context) == {"restarted": [], "no_envelope": [UNANNOUNCED]}
    assert watchdog.handler(SCHEDULED, context) == {"restarted": [], "no_envelope": []}  # recorded once

    record = _record(stack, UNANNOUNCED)
    assert (record["status"], record["reason"]) == ("unroutable", "no-envelope")
    assert emitted_metrics(capsys.readouterr().out)["NoEnvelope"] == 1
