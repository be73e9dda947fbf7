"""The fault matrix: each step × {retried, beyond the retry budget then replayed, crashed after its writes}.

Every cell sends one email to two users with three attachments (two of them the same bytes) and
checks the invariants an operator relies on: delivered, nothing lost, one inbox item per user, one
archive object per distinct file plus the manifest (never a second version), and a history that
says exactly what happened (attempts = injected failures + 1; a redrive re-runs no earlier state).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from local_stack import LOOPBACK
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.errors import DatabaseUnavailableError, KeyServiceUnavailableError, StorageUnavailableError
from mailroom.ports import Failure
from reliability_support import (
    Invocations,
    archive_versions,
    archived_files,
    blob_key,
    email_bytes,
    event_ids_contiguous,
    execution_names,
    inbox_counts,
    inbox_new_items,
    record_figure,
    send,
    settled,
)
from typer.testing import CliRunner

from mailroom_cli import operations as ops
from mailroom_cli import operator
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.main import app
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

ASL = json.loads(open("statemachine/inbound_email.asl.json").read())  # noqa: SIM115
STEPS = ["Decrypt", "Parse", "Archive", "Inbox"]
# The error each step's adapters raise when their dependency is down (all retryable leaves).
ERRORS: dict[str, type[Exception]] = {
    "Decrypt": KeyServiceUnavailableError,
    "Parse": StorageUnavailableError,
    "Archive": StorageUnavailableError,
    "Inbox": DatabaseUnavailableError,
}
KINDS = ["retried", "beyond_budget", "crash_after"]
FAILURES = 2  # injected failures in the retried and crash_after cells
USERS = ("alice", "bob")
PAGE_A = b"%PDF-1.4 page A " + bytes(range(256))
PAGE_B = b"%PDF-1.4 page B " + bytes(range(255, -1, -1))


def retry_budget(step: str, error: str) -> int:
    """``MaxAttempts`` of the step's retrier for ``error``: the retries after the first attempt."""
    return int(next(r["MaxAttempts"] for r in ASL["States"][step]["Retry"] if error in r["ErrorEquals"]))


@pytest.fixture(scope="module")
def recipients(target: Target) -> list[str]:
    domain = target.name("RecipientDomain")
    addresses = [f"{user}@{domain}" for user in USERS]
    for address, user in zip(addresses, USERS, strict=True):
        ops.add_mailbox(target, address, user=user)
    return addresses


def _attempts(timeline: dict[str, Any]) -> list[tuple[str, int, list[str]]]:
    """``(state, attempts, errors)`` per state entered, ``(redriven)`` included, from the operator's history."""
    return [(s["state"], s["attempts"], [e["error"] for e in s["errors"]]) for s in timeline["states"]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", STEPS)
def test_a_fault_at_a_step_loses_nothing_and_writes_nothing_twice(
    stack: LocalStack, target: Target, recipients: list[str], invocations: Invocations, step: str, kind: str
) -> None:
    error = ERRORS[step]
    budget = retry_budget(step, error.__name__)
    if kind == "retried":
        stack.runtime.fail(step, error, times=FAILURES)
    elif kind == "crash_after":
        stack.runtime.fail(step, error, times=FAILURES, after=True)
    else:
        stack.runtime.fail(step, error, times=None)
    started = time.monotonic()
    files = [("a.pdf", PAGE_A), ("b.pdf", PAGE_B), ("a again.pdf", PAGE_A)]
    message_id = send(
        stack, email_bytes(to=recipients, subject=f"{step} {kind}", body=f"{step} {kind}", files=files), recipients
    )

    if kind == "beyond_budget":
        assert settled(target, message_id) == "FAILED"
        [row] = [r for r in operator.list_emails(target, status="failed") if r["message_id"] == message_id]
        assert (row["step"], row["error"]) == (step, error.__name__)  # the Recorder says where and why
        assert all(inbox_counts(target, user)[message_id] == 0 for user in USERS)
        stack.runtime.heal(step)
        [replayed] = operator.replay(target, [message_id])
        assert replayed["action"] == "redrive"
    assert settled(target, message_id) == "SUCCEEDED"
    seconds = time.monotonic() - started

    # Delivered once per user, with its three attachments.
    assert ops.email_status(target, message_id) == "delivered"
    for user in USERS:
        assert inbox_counts(target, user)[message_id] == 1
        item = ops.inbox_item(target, message_id, user=user)
        assert [a["filename"] for a in item["attachments"]] == ["a.pdf", "b.pdf", "a again.pdf"]
    # Written once per user, in Inbox's own words (the table's key would hide a second write): the
    # first call that ran wrote both items; a retry after a crash found them and wrote none.
    new_items = inbox_new_items(invocations, message_id)
    assert sum(new_items) == len(USERS), new_items
    if (step, kind) == ("Inbox", "crash_after"):
        assert new_items == [len(USERS)] + [0] * FAILURES, new_items
    else:
        assert new_items == [len(USERS)], new_items
    # One object per distinct file (the original, the text body, two distinct attachments) + the manifest.
    assert target.client("s3").get_bucket_versioning(Bucket=target.name("ArchiveBucketName"))["Status"] == "Enabled"
    keys, delete_markers = archive_versions(target, message_id)
    expected = archived_files(target, message_id)
    assert {blob_key(message_id, PAGE_A), blob_key(message_id, PAGE_B)} <= expected
    assert len(expected) == 5
    assert sorted(keys) == sorted(expected)  # each exactly once: no second version of any key
    assert delete_markers == 0
    # One execution, its history consistent with the faults injected.
    assert execution_names(target)[message_id] == 1
    assert event_ids_contiguous(target, message_id)
    timeline = operator.history(target, message_id)
    at = STEPS.index(step)
    if kind == "beyond_budget":
        assert timeline["redrive_count"] == 1
        failed_at = next(s for s in timeline["states"] if s["state"] == step)
        assert failed_at["execution_error"]["error"] == error.__name__  # the execution's end, kept apart
        assert (
            _attempts(timeline)
            == [
                *[(s, 1, []) for s in STEPS[:at]],
                (step, 1 + budget, [error.__name__] * (1 + budget)),  # one error per attempt
                ("(redriven)", 0, []),
                (step, 1, []),
                *[(s, 1, []) for s in STEPS[at + 1 :]],
            ]
        )
    else:
        assert timeline["redrive_count"] == 0
        assert _attempts(timeline) == [
            *[(s, 1, []) for s in STEPS[:at]],
            (step, 1 + FAILURES, [error.__name__] * FAILURES),
            *[(s, 1, []) for s in STEPS[at + 1 :]],
        ]
    # What the functions saw: states before the faulty one ran once; after a crash, the handler *had* run.
    for earlier in STEPS[:at]:
        assert len(invocations.of(earlier, message_id)) == 1
    calls = invocations.of(step, message_id)
    failed = [c for c in calls if c.error_type == error.__name__]
    assert len(calls) == len(failed) + 1
    assert all((c.result is not None) == (kind == "crash_after") for c in failed)
    record_figure(
        "fault matrix",
        step=step,
        kind=kind,
        error=error.__name__,
        injected=len(failed),
        attempts=len(calls),
        redrives=timeline["redrive_count"],
        items_per_user=1,
        new_items=sum(new_items),
        archive_objects=len(keys),
        status="delivered",
        seconds=round(seconds, 2),
    )


def test_local_fail_after_reaches_the_running_stack(
    stack: LocalStack, target: Target, recipients: list[str], invocations: Invocations, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.options.state_file is not None
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(stack.options.state_file.parent))
    result = CliRunner().invoke(app, ["local", "fail", "Archive", "--times", "1", "--after"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "after running" in result.stderr

    message_id = send(stack, email_bytes(to=recipients[:1], subject="cli --after", body="x", files=[]), recipients[:1])

    assert settled(target, message_id) == "SUCCEEDED"
    [crashed, retried] = invocations.of("Archive", message_id)
    assert (crashed.error_type, crashed.result is not None) == ("StorageUnavailableError", True)
    assert (retried.error_type, retried.result) == (None, crashed.result)  # the retry found its work done


def test_a_replays_late_status_write_never_undoes_a_delivery(target: Target) -> None:
    # replay marks the email in flight *after* the redrive began, which may have delivered it already.
    status = DynamoStatusStore(target.name("StatusTableName"), target.client("dynamodb"))
    delivered, failed = "0" * 39 + "d", "0" * 39 + "f"
    status.mark_delivered(delivered, items=1, now="2026-01-01T00:00:01.000+00:00")
    status.mark_restarted(delivered, execution_arn="arn:redriven", now="2026-01-01T00:00:00.000+00:00")
    status.mark_failed(
        failed,
        failure=Failure(
            execution_arn="arn:first", status="FAILED", step="Archive", error="X", cause=None, stopped_at=""
        ),
        now="2026-01-01T00:00:00.000+00:00",
    )
    status.mark_restarted(failed, execution_arn="arn:redriven", now="2026-01-01T00:00:01.000+00:00")

    assert ops.email_status(target, delivered) == "delivered"
    assert ops.email_status(target, failed) == "received"
