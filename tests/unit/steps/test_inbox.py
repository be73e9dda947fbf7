"""Inbox on fakes: one item per user, written once however often the step runs; retransmissions dedup."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fakes import FakeInbox, FakeStatus, Journal, MemoryStore
from mailroom.errors import SourceObjectMissingError
from mailroom.manifests import put_manifest
from mailroom.models import Archived, Delivered, Mailbox, Manifest, ManifestFile, ObjectRef
from mailroom.steps.inbox import SUBJECT_LIMIT, deliver

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
RESENT = "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d"  # the same email, sent again: a new SES message
RECEIVED_AT = "2026-11-27T08:15:04.112Z"
NOW = "2026-11-27T08:15:09.000Z"
ALICE = Mailbox(address="alice@in.example.com", user="alice", tenant="acme")
BOB = Mailbox(address="bob@in.example.com", user="bob", tenant="acme")
PDF_SHA = hashlib.sha256(b"pdf").hexdigest()


def ref(message_id: str, name: str, sha256: str = PDF_SHA, size: int = 3) -> ObjectRef:
    return ObjectRef(bucket="archive", key=f"messages/{message_id}/{name}", size=size, sha256=sha256)


def attachment(message_id: str, index: int, sha256: str = PDF_SHA) -> ManifestFile:
    return ManifestFile(
        index=index,
        filename=f"scan-{index}.pdf",
        safe_filename=f"scan-{index}.pdf",
        content_type="application/pdf",
        size=3,
        sha256=sha256,
        location=ref(message_id, sha256, sha256),
    )


def archived(
    store: MemoryStore,
    message_id: str = MID,
    *,
    mailboxes: tuple[Mailbox, ...] = (ALICE,),
    **changes: Any,
) -> Archived:
    """An archived manifest in ``store``, as Archive leaves it; Archive's output for it."""
    values: dict[str, Any] = {
        "message_id": message_id,
        "received_at": RECEIVED_AT,
        "header_message_id": "<scan-1@corp.example>",
        "subject": "Scan from MFP-4020",
        "date": None,
        "senders": ["scanner@corp.example"],
        "to": ["alice@in.example.com"],
        "cc": [],
        "verdicts": {"spam": "PASS", "virus": "PASS"},
        "defects": [],
        "original": ref(message_id, "o" * 64, "0" * 64),
        "text": ref(message_id, "t" * 64, "1" * 64),
        "html": None,
        "attachments": [attachment(message_id, 0)],
        "mailboxes": list(mailboxes),
        **changes,
    }
    manifest_ref = put_manifest(store, "archive", f"messages/{message_id}/manifest.json", Manifest(**values))
    return Archived(message_id=message_id, received_at=RECEIVED_AT, manifest=manifest_ref)


class Fixture:
    def __init__(self) -> None:
        self.journal = Journal()
        self.store, self.inbox, self.status = MemoryStore(), FakeInbox(self.journal), FakeStatus(self.journal)

    def deliver(self, email: Archived) -> Delivered:
        return deliver(email, store=self.store, inbox=self.inbox, status=self.status, now=NOW)


def test_each_user_gets_one_item_with_what_a_list_view_shows_then_the_email_is_delivered() -> None:
    f = Fixture()
    email = archived(f.store, mailboxes=(ALICE, BOB))

    result = f.deliver(email)

    assert result == Delivered(message_id=MID, status="delivered", items=2, new_items=2)
    [item] = f.inbox.of("alice")
    assert item == {
        "user": "alice",
        "message_id": MID,
        "tenant": "acme",
        "mailbox": "alice@in.example.com",
        "subject": "Scan from MFP-4020",
        "from": "scanner@corp.example",
        "header_message_id": "<scan-1@corp.example>",
        "received_at": RECEIVED_AT,
        "delivered_at": NOW,
        "archive_bucket": "archive",
        "manifest_key": f"messages/{MID}/manifest.json",
        "text_key": f"messages/{MID}/{'t' * 64}",
        "html_key": None,
        "attachment_count": 1,
        "attachments": [
            {
                "filename": "scan-0.pdf",
                "safe_filename": "scan-0.pdf",
                "content_type": "application/pdf",
                "size": 3,
                "sha256": PDF_SHA,
                "inline": False,
                "key": f"messages/{MID}/{PDF_SHA}",
            }
        ],
    }
    assert [i["mailbox"] for i in f.inbox.of("bob")] == ["bob@in.example.com"]
    assert f.status.records[MID] == {"status": "delivered", "items": 2, "updated_at": NOW}
    assert f.journal.calls[-1] == "mark_delivered"  # delivered only once every item is written
    assert f.journal.calls.count("mark_delivered") == 1


def test_running_again_writes_no_second_item_and_reports_none_new() -> None:
    f = Fixture()
    email = archived(f.store, mailboxes=(ALICE, BOB))
    f.deliver(email)
    items = dict(f.inbox.items)

    again = f.deliver(email)

    assert again == Delivered(message_id=MID, items=2, new_items=0)
    assert f.inbox.items == items
    assert f.status.records[MID]["status"] == "delivered"


def test_a_retransmission_reaches_nobody_twice_and_is_recorded_as_a_duplicate_of_the_first() -> None:
    f = Fixture()
    f.deliver(archived(f.store, MID))

    result = f.deliver(archived(f.store, RESENT))

    assert result == Delivered(message_id=RESENT, status="duplicate", items=0, new_items=0)
    assert [i["message_id"] for i in f.inbox.of("alice")] == [MID]
    assert f.status.records[RESENT] == {"status": "duplicate", "duplicate_of": MID, "updated_at": NOW}
    assert (f.journal.calls.count("mark_delivered"), f.journal.calls[-1]) == (1, "mark_duplicate")


def test_a_retransmission_to_one_more_user_reaches_only_the_new_one() -> None:
    f = Fixture()
    f.deliver(archived(f.store, MID, mailboxes=(ALICE,)))

    result = f.deliver(archived(f.store, RESENT, mailboxes=(ALICE, BOB)))

    assert result == Delivered(message_id=RESENT, items=1, new_items=1)
    assert [i["message_id"] for i in f.inbox.of("alice")] == [MID]
    assert [i["message_id"] for i in f.inbox.of("bob")] == [RESENT]
    assert f.status.records[RESENT]["status"] == "delivered"


@pytest.mark.parametrize(
    "changes",
    [
        {"senders": ["mallory@evil.example"]},  # a forger who sent the Message-ID first
        {"attachments": [attachment(RESENT, 0, sha256="9" * 64)]},  # other content under the same Message-ID
    ],
)
def test_the_same_message_id_from_another_sender_or_with_other_content_is_no_duplicate(
    changes: dict[str, Any],
) -> None:
    f = Fixture()
    f.deliver(archived(f.store, MID))

    result = f.deliver(archived(f.store, RESENT, **changes))

    assert result.status == "delivered"
    assert sorted(i["message_id"] for i in f.inbox.of("alice")) == sorted([MID, RESENT])


@pytest.mark.parametrize("header", [None, "", "<>", "  "])
def test_without_a_message_id_header_nothing_is_claimed_and_every_email_is_delivered(header: str | None) -> None:
    f = Fixture()
    f.deliver(archived(f.store, MID, header_message_id=header))

    result = f.deliver(archived(f.store, RESENT, header_message_id=header))

    assert result.status == "delivered"
    assert f.inbox.claims == {}
    assert len(f.inbox.of("alice")) == 2


def test_an_overlong_subject_is_cut_and_a_huge_attachment_list_is_left_to_the_manifest() -> None:
    f = Fixture()
    many = [attachment(MID, i, sha256=f"{i:064x}") for i in range(2000)]
    email = archived(f.store, subject="x" * (SUBJECT_LIMIT + 50), attachments=many)

    f.deliver(email)

    [item] = f.inbox.of("alice")
    assert item["subject"] == "x" * SUBJECT_LIMIT
    assert (item["attachment_count"], item["attachments"]) == (2000, None)


def test_a_missing_archived_manifest_is_missing_and_nothing_is_written() -> None:
    f = Fixture()
    email = archived(f.store)
    del f.store.objects[("archive", email.manifest.key)]

    with pytest.raises(SourceObjectMissingError) as raised:
        f.deliver(email)

    assert type(raised.value) is SourceObjectMissingError
    assert (f.inbox.items, f.status.records, f.journal.calls) == ({}, {}, [])
