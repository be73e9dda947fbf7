"""The Starter's and Parse's steps on fakes (no AWS): the envelope's order of writes, and routing by it."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pytest
from mailroom.envelope import Envelope, Received, Verdicts
from mailroom.errors import NoKnownRecipientError, VirusDetectedError
from mailroom.models import Decrypted, Mailbox, ObjectRef
from mailroom.ports import StoredObject
from mailroom.steps.parse import parse
from mailroom.steps.start import announce, start

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
DOMAIN = "in.example.com"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:m"


@dataclass
class Journal:
    """What the fakes were asked, in order."""

    calls: list[str] = field(default_factory=list)


@dataclass
class FakeWorkflow:
    journal: Journal
    started: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def execution_arn(self, name: str) -> str:
        return f"{MACHINE}:{name}".replace(":stateMachine:", ":execution:")

    def start(self, name: str, payload: Mapping[str, Any]) -> tuple[str, bool]:
        self.journal.calls.append("start")
        new = name not in self.started
        self.started.setdefault(name, payload)
        return self.execution_arn(name), new


@dataclass
class FakeStatus:
    journal: Journal
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    unroutable: dict[str, int] = field(default_factory=dict)

    def mark_received(
        self, message_id: str, *, received_at: str, execution_arn: str, envelope: Envelope, now: str
    ) -> bool:
        self.journal.calls.append("mark_received")
        if message_id in self.records:
            return False
        self.records[message_id] = {"execution_arn": execution_arn, "envelope": envelope}
        return True

    def envelope(self, message_id: str) -> Envelope | None:
        record = self.records.get(message_id)
        return record["envelope"] if record else None

    def note_unroutable_recipients(self, message_id: str, count: int) -> None:
        self.unroutable[message_id] = count


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


@dataclass
class MemoryStore:
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def open_object(self, bucket: str, key: str) -> StoredObject:
        data = self.objects[(bucket, key)]
        return StoredObject(body=io.BytesIO(data), metadata={}, size=len(data))

    def put_object(
        self,
        bucket: str,
        key: str,
        body: IO[bytes],
        *,
        size: int,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.objects[(bucket, key)] = body.read()


@dataclass
class Registry:
    mailboxes: dict[str, Mailbox]

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        return [self.mailboxes[a] for a in addresses if a in self.mailboxes]


MIME = (
    f"From: scanner@office.example\r\nTo: alice@{DOMAIN}\r\nSubject: s\r\nX-SES-Virus-Verdict: PASS\r\n\r\nbody\r\n"
).encode()
ALICE = Mailbox(address=f"alice@{DOMAIN}", user="alice", tenant="a")
BOB = Mailbox(address=f"bob@{DOMAIN}", user="bob", tenant="b")


def staged(store: MemoryStore) -> Decrypted:
    store.objects[("staging", f"mime/{MID}.eml")] = MIME
    ref = ObjectRef(bucket="staging", key=f"mime/{MID}.eml", size=len(MIME), sha256="0" * 64)
    return Decrypted(message_id=MID, received_at="2026-12-02T09:00:00.000Z", mime=ref)


def run_parse(envelope: Envelope | None) -> tuple[Any, MemoryStore, FakeStatus]:
    store, status = MemoryStore(), FakeStatus(Journal())
    if envelope is not None:
        status.records[MID] = {"envelope": envelope}
    registry = Registry({m.address: m for m in (ALICE, BOB)})
    result = parse(
        staged(store), store=store, registry=registry, envelopes=status, staging_bucket="staging", domain=DOMAIN
    )
    return result, store, status


def test_parse_routes_by_the_envelope_not_the_to_header() -> None:
    result, store, status = run_parse(Envelope((f"bob@{DOMAIN}", f"ghost@{DOMAIN}")))

    manifest = json.loads(store.objects[("staging", f"manifests/{MID}.json")])
    assert [m["user"] for m in manifest["mailboxes"]] == ["bob"]
    assert result.mailboxes == 1
    assert status.unroutable == {MID: 1}


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (None, NoKnownRecipientError),  # no notification ever came
        (Envelope((f"ghost@{DOMAIN}",)), NoKnownRecipientError),
        (Envelope((f"alice@{DOMAIN}",), Verdicts(virus="FAIL")), VirusDetectedError),
    ],
)
def test_parse_refuses_what_must_not_be_delivered(envelope: Envelope | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        run_parse(envelope)


def test_without_notification_verdicts_the_headers_decide() -> None:
    _, store, _ = run_parse(Envelope((f"alice@{DOMAIN}",), verdicts=None))

    manifest = json.loads(store.objects[("staging", f"manifests/{MID}.json")])
    assert manifest["verdicts"]["virus"] == "PASS"


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
