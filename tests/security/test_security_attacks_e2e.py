"""Attacks through the real state machine on the local stack: each quarantined (or routed) and recorded.

The attacker's objects go where SES would write them (the incoming bucket, which notifies the queue),
or through the SMTP listener; the real ASL, template and handlers take it from there. Each test
checks the email's status record (status, error, reason, failed step: what `mailroom emails` shows),
the states the execution went through, and that no inbox and no archive received anything.
All mails are sent when the module starts and awaited one by one, so the attacks run concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from local_stack import LOOPBACK, announce, entered_states, final_status, history, running_stack, store_as_ses
from mail_factory import CRLF, b64_lines, pdf_bytes, scanner_mail
from mailroom.adapters.dynamodb import from_item
from moto_stack import ses_received
from security_helpers import Figures, assert_safe_name
from typer.testing import CliRunner

from mailroom_cli import operations as ops
from mailroom_cli.local.ses_producer import new_ses_message_id
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.main import app
from mailroom_cli.operator import email_row
from mailroom_cli.target import Target, from_local

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

FOREIGN_ACCOUNT = "210987654321"
SCAN = pdf_bytes(8_000, seed=21)
HOSTILE_NAMES = ["../../../../tmp/evil.sh", "..\\..\\boot.ini", "/etc/passwd", "nul", "a\x1b[31mred\x07.pdf", ".."]


@dataclass
class Sent:
    """The SES message ids of the module's attack mails."""

    tampered: str = ""
    swapped: str = ""
    foreign: str = ""
    moved: str = ""
    virus: str = ""
    tenant: str = ""
    names: str = ""


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports, retry waits compressed 1000x."""
    with running_stack(tmp_path_factory.mktemp("security-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def target(local: LocalStack) -> Target:
    return from_local(local.info())


def domain(target: Target) -> str:
    return target.name("RecipientDomain")


def ses_mail(target: Target, user: str, **kwargs: Any) -> bytes:
    address = f"{user}@{domain(target)}"
    return ses_received(scanner_mail([("scan.pdf", SCAN)], to=address), envelope_to=address, **kwargs)


@pytest.fixture(scope="module")
def sent(local: LocalStack, target: Target) -> Sent:
    """Register tenant A's and tenant B's mailboxes, then send every attack at once."""
    d = domain(target)
    ops.add_mailbox(target, f"alice@{d}", user="alice", tenant="tenant-a")
    ops.add_mailbox(target, f"bob@{d}", user="bob", tenant="tenant-b")
    ids = Sent(*(new_ses_message_id() for _ in range(5)))

    mime = ses_mail(target, "bob")
    store_as_ses(local, mime, ids.tampered, corrupt_at=len(mime) // 2)

    # A's ciphertext and wrapped key under B's object key, with B's material description.
    other = new_ses_message_id()
    body_a, meta_a = store_as_ses(local, ses_mail(target, "alice"), other, key_id=f"held-{other}")
    _, meta_b = store_as_ses(local, ses_mail(target, "bob"), ids.swapped, key_id=f"held-{ids.swapped}")
    info = local.info()
    local.client("s3").put_object(
        Bucket=info["incoming_bucket"],
        Key=info["incoming_prefix"] + ids.swapped,
        Body=body_a,
        Metadata={**meta_a, "x-amz-matdesc": meta_b["x-amz-matdesc"]},
    )

    store_as_ses(local, ses_mail(target, "bob"), ids.foreign, account=FOREIGN_ACCOUNT)
    store_as_ses(local, ses_mail(target, "bob"), new_ses_message_id(), key_id=ids.moved)  # a copied object
    # The MIME's own verdict header says PASS: SES's notification is what tells the FAIL.
    store_as_ses(local, ses_mail(target, "bob", virus="PASS", ses_id=ids.virus), ids.virus)
    # SES announces each stored object (the held- copies above are not SES objects: nothing announces them).
    for message_id in (ids.tampered, ids.swapped, ids.foreign, ids.moved):
        announce(target, message_id, [f"bob@{d}"])
    announce(target, ids.virus, [f"bob@{d}"], verdicts={"virus": "FAIL"})

    # Through SMTP, for B alone; A named in every header the sender controls, a forged Received too.
    headers = (
        f"From: scanner@office.example{CRLF}To: alice@{d}, bob@{d}{CRLF}Cc: alice@{d}{CRLF}"
        f"Delivered-To: alice@{d}{CRLF}X-Original-To: alice@{d}{CRLF}"
        f"Received: from forged.example by mx.forged.example for <alice@{d}>; Fri, 27 Nov 2026 08:00:00 +0000{CRLF}"
        f"Subject: for B only{CRLF}Content-Type: text/plain{CRLF}{CRLF}hello B{CRLF}"
    )
    ids.tenant = ops.send_raw(local.info()["smtp"], headers.encode(), to=[f"bob@{d}"], sender="s@office.example")
    ids.tenant = ids.tenant.split()[-1]

    parts = "".join(
        f"--h{CRLF}Content-Type: application/pdf{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: attachment; filename*=utf-8''{''.join(f'%{b:02X}' for b in name.encode())}{CRLF}{CRLF}"
        f"{b64_lines(pdf_bytes(500 + i, seed=i))}{CRLF}"
        for i, name in enumerate(HOSTILE_NAMES)
    )
    names = (
        f"From: scanner@office.example{CRLF}To: bob@{d}{CRLF}Subject: names{CRLF}"
        f'Content-Type: multipart/mixed; boundary="h"{CRLF}{CRLF}{parts}--h--{CRLF}'
    )
    ids.names = ops.send_raw(local.info()["smtp"], names.encode(), to=[f"bob@{d}"], sender="s@office.example")
    ids.names = ids.names.split()[-1]
    return ids


def status_row(target: Target, message_id: str) -> dict[str, Any]:
    item = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}, ConsistentRead=True
    )["Item"]
    return email_row(from_item(item))


def archived(target: Target, message_id: str) -> list[str]:
    listing = target.client("s3").list_objects_v2(
        Bucket=target.name("ArchiveBucketName"), Prefix=f"messages/{message_id}/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


def assert_quarantined(
    target: Target, message_id: str, error: str, reason: str, step: str, figures: Figures, attack: str
) -> None:
    assert final_status(target, message_id) == "quarantined"
    row = status_row(target, message_id)
    assert (row["status"], row["error"], row["reason"], row["step"]) == ("quarantined", error, reason, step)
    states = entered_states(history(target, message_id))
    assert states[-2:] == ["RecordQuarantine", "Quarantined"]
    assert "Archive" not in states
    assert "Inbox" not in states
    assert archived(target, message_id) == []
    for user in ("alice", "bob"):
        assert message_id not in [i["message_id"] for i in ops.inbox(target, user)]
    figures.record(
        "attacks (local stack, real state machine)",
        attack,
        status=row["status"],
        error=row["error"],
        reason=row["reason"],
        step=row["step"],
        states=" > ".join(states),
    )


def test_tampered_ciphertext_is_quarantined_with_its_reason(target: Target, sent: Sent, figures: Figures) -> None:
    assert_quarantined(
        target, sent.tampered, "TamperedCiphertextError", "tampered_ciphertext", "Decrypt", figures,
        "tampered ciphertext",
    )  # fmt: skip


def test_a_swapped_encryption_context_is_quarantined_with_its_reason(
    target: Target, sent: Sent, figures: Figures
) -> None:
    assert_quarantined(
        target, sent.swapped, "EncryptionContextMismatchError", "encryption_context_mismatch", "Decrypt", figures,
        "encryption context swapped from another object",
    )  # fmt: skip


def test_a_foreign_source_account_is_quarantined_with_its_reason(target: Target, sent: Sent, figures: Figures) -> None:
    assert_quarantined(
        target, sent.foreign, "ForeignAccountError", "foreign_account", "Decrypt", figures, "foreign source account"
    )


def test_an_object_under_another_messages_key_is_quarantined_with_its_reason(
    target: Target, sent: Sent, figures: Figures
) -> None:
    assert_quarantined(
        target, sent.moved, "EncryptionContextMismatchError", "encryption_context_mismatch", "Decrypt", figures,
        "object key / message id mismatch",
    )  # fmt: skip


def test_a_virus_verdict_of_fail_is_quarantined_with_its_reason(target: Target, sent: Sent, figures: Figures) -> None:
    assert_quarantined(target, sent.virus, "VirusDetectedError", "virus", "Parse", figures, "virus verdict FAIL")


def test_tenant_a_named_in_a_mail_for_tenant_b_reaches_only_b(target: Target, sent: Sent, figures: Figures) -> None:
    assert final_status(target, sent.tenant) == "delivered"
    assert [i["message_id"] for i in ops.inbox(target, "bob")].count(sent.tenant) == 1
    assert sent.tenant not in [i["message_id"] for i in ops.inbox(target, "alice")]
    row = status_row(target, sent.tenant)
    figures.record(
        "attacks (local stack, real state machine)",
        "tenant A's address listed in a mail for tenant B",
        status=row["status"],
        inbox_alice=0,
        inbox_bob=1,
    )


def test_hostile_file_names_are_saved_only_inside_the_directory(
    local: LocalStack, target: Target, sent: Sent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    assert final_status(target, sent.names) == "delivered"
    [item] = [i for i in ops.inbox(target, "bob") if i["message_id"] == sent.names]
    for attachment in item["attachments"]:
        assert_safe_name(attachment["safe_filename"])
    assert local.options.state_file is not None
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(local.options.state_file.parent))
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["inbox", "get", item["id"], "--save", str(out), "--json"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    saved = [Path(p) for p in json.loads(result.stdout)]
    assert len(saved) == len(HOSTILE_NAMES)
    assert all(p.resolve().parent == out.resolve() for p in saved)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(saved)
    figures.record(
        "attacks (local stack, real state machine)",
        "path traversal / control characters in file names",
        status="delivered",
        saved_names=[p.name for p in saved],
    )
