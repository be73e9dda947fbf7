"""Start (the Starter's step) on fakes: the envelope is recorded before the execution starts, and never enters it."""

from __future__ import annotations

import json
from typing import Any

from fakes import FakeStatus, FakeWorkflow, Journal
from mailroom.envelope import Envelope, Received, Verdicts
from mailroom.steps.start import announce, start

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
DOMAIN = "in.example.com"


def received(*recipients: str, virus: str = "PASS") -> Received:
    return Received(
        message_id=MID,
        bucket="incoming",
        key=f"inbound/{MID}",
        received_at="2026-12-02T09:00:00.000Z",
        envelope=Envelope(recipients, Verdicts(spam="PASS", virus=virus)),
    )


def test_the_envelope_is_recorded_before_the_execution_starts_and_never_enters_its_input() -> None:
    journal = Journal()
    workflow, status = FakeWorkflow(journal), FakeStatus(journal)

    assert start(received(f"a@{DOMAIN}"), workflow=workflow, status=status, now="t") is True

    assert journal.calls == ["mark_received", "start"]  # Parse must always find the envelope
    assert workflow.started[MID] == {
        "message_id": MID,
        "bucket": "incoming",
        "key": f"inbound/{MID}",
        "received_at": "2026-12-02T09:00:00.000Z",
    }
    assert "@" not in json.dumps(workflow.started[MID])
    assert status.records[MID]["execution_arn"] == workflow.execution_arn(MID)


def test_a_repeated_notification_is_not_new_and_keeps_the_first_envelope() -> None:
    journal = Journal()
    workflow, status = FakeWorkflow(journal), FakeStatus(journal)
    start(received(f"a@{DOMAIN}"), workflow=workflow, status=status, now="t")

    assert start(received(f"intruder@{DOMAIN}"), workflow=workflow, status=status, now="t") is False
    envelope = status.envelope(MID)
    assert envelope is not None
    assert envelope.recipients == (f"a@{DOMAIN}",)


def notification(**receipt_changes: Any) -> str:
    receipt = {
        "recipients": [f"a@{DOMAIN}"],
        "action": {"type": "S3", "bucketName": "incoming", "objectKey": f"inbound/{MID}"},
        **receipt_changes,
    }
    return json.dumps(
        {"notificationType": "Received", "mail": {"messageId": MID, "timestamp": "t"}, "receipt": receipt}
    )


def test_announce_starts_the_email_a_notification_names_and_skips_what_is_none_of_ours() -> None:
    journal = Journal()
    workflow, status = FakeWorkflow(journal), FakeStatus(journal)

    first = announce(notification(), bucket="incoming", prefix="inbound/", workflow=workflow, status=status, now="t")
    again = announce(notification(), bucket="incoming", prefix="inbound/", workflow=workflow, status=status, now="t")
    other = notification(action={"type": "S3", "bucketName": "elsewhere", "objectKey": f"inbound/{MID}"})
    skipped = announce(other, bucket="incoming", prefix="inbound/", workflow=workflow, status=status, now="t")

    assert (first.kind, first.message_id, first.recipients) == ("started", MID, 1)
    assert again.kind == "existed"
    assert (skipped.kind, skipped.reason) == ("skipped", "an S3 action writing to another bucket")
    assert "@" not in json.dumps([o.log_fields() for o in (first, again, skipped)])
