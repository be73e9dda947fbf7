"""The operator's drill on the local stack: break Archive, see failures, heal, replay, all delivered once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from local_stack import LOOPBACK, wait_until
from mailroom.errors import DatabaseUnavailableError, StorageUnavailableError
from typer.testing import CliRunner

from mailroom_cli import operations as ops
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.main import app
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)
N = 4


@pytest.fixture(autouse=True)
def cli_finds_the_stack(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert stack.options.state_file is not None
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(stack.options.state_file.parent))
    yield
    stack.runtime.heal()


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _send_batch(stack: LocalStack, target: Target, tag: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        message = EmailMessage()
        message["From"] = "scanner@office.example"
        message["To"] = f"drill@{target.name('RecipientDomain')}"
        message["Subject"] = f"{tag} {n}"
        message.set_content("x")
        message.add_attachment(f"%PDF-1.4 {tag} {n}".encode(), maintype="application", subtype="pdf", filename="d.pdf")
        ids.append(
            ops.send(stack.info()["smtp"], message, to=[message["To"]], sender="scanner@office.example").split()[-1]
        )
    return ids


def _statuses(target: Target, ids: list[str]) -> dict[str, str | None]:
    return {m: ops.email_status(target, m) for m in ids}


def _archive_versions(target: Target, message_id: str) -> int:
    s3 = target.client("s3")
    listed = s3.list_object_versions(Bucket=target.name("ArchiveBucketName"), Prefix=f"messages/{message_id}/")
    return len(listed.get("Versions", []))


def test_break_archive_heal_and_replay_delivers_every_email_exactly_once(
    stack: LocalStack, target: Target, tmp_path: Path
) -> None:
    ops.add_mailbox(target, f"drill@{target.name('RecipientDomain')}", user="dora")
    stack.runtime.fail("Archive", StorageUnavailableError, times=None)
    ids = _send_batch(stack, target, "drill", N)

    wait_until(lambda: set(_statuses(target, ids).values()) == {"failed"}, what="every email to be recorded failed")
    failed = cli("emails", "--status", "failed")
    assert {r["message_id"] for r in failed} == set(ids)
    assert {(r["step"], r["error"], r["reason"]) for r in failed} == {
        ("Archive", "StorageUnavailableError", "storage_unavailable")
    }
    before = cli("stats")
    assert before["failed"] == {"Archive": {"StorageUnavailableError": N}}
    planned = cli("replay", "--failed", "--dry-run")
    assert sorted(r["message_id"] for r in planned) == sorted(ids)
    assert {(r["action"], r["reason"]) for r in planned} == {("redrive", "failed at Archive")}
    assert set(_statuses(target, ids).values()) == {"failed"}  # a dry run changes nothing

    stack.runtime.heal("Archive")
    replayed = cli("replay", "--failed")
    assert sorted(r["message_id"] for r in replayed) == sorted(ids)
    assert {r["action"] for r in replayed} == {"redrive"}
    wait_until(lambda: set(_statuses(target, ids).values()) == {"delivered"}, what="every email delivered")

    inbox = [i["message_id"] for i in cli("inbox", "dora")]
    assert sorted(inbox) == sorted(ids)  # each exactly once
    for message_id in ids:
        timeline = cli("history", message_id)
        assert timeline["redrive_count"] == 1
        states = [s["state"] for s in timeline["states"]]
        assert states == ["Decrypt", "Parse", "Archive", "(redriven)", "Archive", "Inbox"]
    after = cli("stats")
    assert after["delivered"] >= N
    assert after["failed"] == {}
    assert after["in_flight"] == 0


def test_a_restart_after_healing_still_delivers_exactly_once(stack: LocalStack, target: Target) -> None:
    ops.add_mailbox(target, f"drill@{target.name('RecipientDomain')}", user="dora")
    stack.runtime.fail("Inbox", DatabaseUnavailableError, times=None)
    ids = _send_batch(stack, target, "restart", 2)
    wait_until(lambda: set(_statuses(target, ids).values()) == {"failed"}, what="both failed at Inbox")
    versions = {m: _archive_versions(target, m) for m in ids}
    assert all(v > 0 for v in versions.values())  # Archive ran before Inbox failed

    stack.runtime.heal()
    replayed = cli("replay", *ids, "--restart")
    assert {r["action"] for r in replayed} == {"restart"}
    wait_until(lambda: set(_statuses(target, ids).values()) == {"delivered"}, what="both delivered after restart")

    inbox = [i["message_id"] for i in cli("inbox", "dora")]
    assert all(inbox.count(m) == 1 for m in ids)
    assert {m: _archive_versions(target, m) for m in ids} == versions  # the restart archived nothing twice
    assert {r["action"] for r in cli("replay", *ids)} == {"skipped"}  # delivered: nothing to do
