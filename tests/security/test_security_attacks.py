"""Attacks on the handlers (moto, in process): each refused with its exact error class, nothing delivered.

Each test writes what an attacker controls (the object in the incoming bucket, its metadata, the
mail's headers and file names), runs the Starter and the four states as the state machine chains
them, and checks the error the state machine would catch (``errorType``) and that nothing reached
staging beyond the decrypted original, the archive or any inbox. ``test_security_attacks_e2e.py``
runs the same attacks through the real state machine and checks the recorded outcome.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from mail_factory import CRLF, b64_lines, pdf_bytes, scanner_mail
from mailroom.batch import BatchProcessingError
from mailroom.handlers import archive, decrypt, inbox, parse, start
from moto_stack import (
    ARCHIVE,
    DOMAIN,
    INBOX_TABLE,
    INCOMING,
    PREFIX,
    REGION,
    STAGING,
    FakeLambdaContext,
    Stack,
    lambda_error,
    load_event,
    ses_received,
)
from security_helpers import Figures, assert_safe_name

from mailroom_cli import operations as ops
from mailroom_cli.target import Target

MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
OTHER_ID = "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d"
FOREIGN_ACCOUNT = "210987654321"
SCAN = pdf_bytes(20_000, seed=5)
TENANT_A = f"alice@{DOMAIN}"
TENANT_B = f"bob@{DOMAIN}"


def sqs_event(key: str, recipients: tuple[str, ...], verdicts: dict[str, str] | None) -> dict[str, Any]:
    """The Starter's SQS batch for SES's notification of ``key`` (the real event file, key and envelope replaced)."""
    event = load_event("sqs_ses_one_recipient.json")
    body = json.loads(event["Records"][0]["body"])
    name = key[len(PREFIX) :] if key.startswith(PREFIX) else MESSAGE_ID
    body["mail"]["messageId"] = name
    body["receipt"]["action"]["objectKey"] = key
    body["receipt"]["recipients"] = list(recipients)
    for verdict, status in (verdicts or {}).items():
        body["receipt"][f"{verdict}Verdict"] = {"status": status}
    event["Records"][0]["body"] = json.dumps(body)
    return event


def run_pipeline(
    stack: Stack,
    context: FakeLambdaContext,
    key: str,
    recipients: tuple[str, ...] = (TENANT_B,),
    verdicts: dict[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Starter, then Decrypt → Parse → Archive → Inbox on each execution's input, as the state machine
    chains them; ``(errorType of the state that failed | "delivered" | "not started", outputs)``."""
    try:
        assert start.handler(sqs_event(key, recipients, verdicts), context) == {"batchItemFailures": []}
    except BatchProcessingError:
        return "not started", []  # a poison notification: SQS's redrive policy moves it to the DLQ
    executions = stack.executions()
    if not executions:
        return "not started", []
    [execution] = executions
    payload, outputs = execution["input"], []
    for handler in (decrypt.handler, parse.handler, archive.handler, inbox.handler):
        try:
            payload = json.loads(json.dumps(handler(payload, context)))
        except Exception as exc:  # what the Lambda runtime reports as errorType, and ASL matches
            return type(exc).__name__, outputs
        outputs.append(payload)
    return str(payload["status"]), outputs


def nothing_delivered(stack: Stack) -> None:
    """No plaintext beyond the decrypted original, nothing archived, no inbox item."""
    assert [k for k in stack.keys(STAGING) if not k.startswith("mime/")] == []
    assert stack.keys(ARCHIVE) == []
    assert stack.inbox_users() == []


def mail_for(address: str, **headers: str) -> bytes:
    """A scanner mail to ``address``, as SES stores it for that single recipient."""
    mime = scanner_mail([("scan.pdf", SCAN)], to=headers.pop("to", address))
    extra = "".join(f"{name.replace('_', '-')}: {value}{CRLF}" for name, value in headers.items())
    return ses_received(extra.encode() + mime, envelope_to=address)


@pytest.fixture
def registered(stack: Stack) -> Stack:
    stack.add_mailbox(TENANT_A, "alice", tenant="tenant-a")
    stack.add_mailbox(TENANT_B, "bob", tenant="tenant-b")
    return stack


def record(figures: Figures, attack: str, outcome: str, where: str) -> None:
    figures.record("attacks (handlers on moto)", attack, outcome=outcome, refused_at=where)


# --------------------------------------------------------------------------- the encrypted object


def test_a_flipped_ciphertext_bit_is_tampered_and_nothing_is_delivered(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    mime = mail_for(TENANT_B)
    registered.put_ses_object(mime, MESSAGE_ID, corrupt_at=len(mime) // 2)

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert (outcome, outputs) == ("TamperedCiphertextError", [])
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "tampered ciphertext (one bit)", outcome, "Decrypt")


def test_a_flipped_tag_bit_is_tampered_and_nothing_is_delivered(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    mime = mail_for(TENANT_B)
    registered.put_ses_object(mime, MESSAGE_ID, corrupt_at=len(mime) + 7)  # the tag follows the ciphertext

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert (outcome, outputs) == ("TamperedCiphertextError", [])
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "tampered GCM tag (one bit)", outcome, "Decrypt")


def test_another_objects_encryption_context_swapped_in_is_refused_by_kms(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    registered.put_ses_object(mail_for(TENANT_A), OTHER_ID)
    registered.put_ses_object(mail_for(TENANT_B), MESSAGE_ID)
    a = registered.s3.get_object(Bucket=INCOMING, Key=PREFIX + OTHER_ID)
    b = registered.s3.head_object(Bucket=INCOMING, Key=PREFIX + MESSAGE_ID)
    # A's ciphertext and wrapped key under B's key, with B's (self-consistent) material description: every
    # local check passes; only KMS can tell that A's data key was wrapped under another context.
    swapped = {**a["Metadata"], "x-amz-matdesc": b["Metadata"]["x-amz-matdesc"]}
    registered.s3.put_object(Bucket=INCOMING, Key=PREFIX + MESSAGE_ID, Body=a["Body"].read(), Metadata=swapped)

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert (outcome, outputs) == ("EncryptionContextMismatchError", [])
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "encryption context swapped from another object", outcome, "Decrypt (KMS Decrypt refused)")


def test_an_object_written_for_a_foreign_source_account_is_refused(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    registered.put_ses_object(mail_for(TENANT_B), MESSAGE_ID, account_id=FOREIGN_ACCOUNT)

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert (outcome, outputs) == ("ForeignAccountError", [])
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "foreign source account in the material description", outcome, "Decrypt")


def test_an_object_whose_material_description_names_another_message_than_its_key_is_refused(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    # A genuine SES object for message OTHER_ID, copied under MESSAGE_ID's key (a replayed or moved object).
    registered.put_ses_object(mail_for(TENANT_B), OTHER_ID, key=PREFIX + MESSAGE_ID)

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert (outcome, outputs) == ("EncryptionContextMismatchError", [])
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "object key / material-description message id mismatch", outcome, "Decrypt")


def test_an_execution_input_naming_another_message_than_its_key_is_refused(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    event = registered.put_ses_object(mail_for(TENANT_B), MESSAGE_ID)

    error_type, _ = lambda_error(decrypt.handler, {**event, "message_id": OTHER_ID}, context)

    assert error_type == "EncryptionContextMismatchError"
    assert registered.keys(STAGING) == []
    nothing_delivered(registered)
    record(figures, "execution input message id / object key mismatch", "EncryptionContextMismatchError", "Decrypt")


NOT_SES_KEYS = [
    f"{PREFIX}../{MESSAGE_ID}",
    f"{PREFIX}{MESSAGE_ID}/../../x",
    f"{PREFIX}{MESSAGE_ID.upper()}",
    f"{PREFIX}{MESSAGE_ID}%0a",
    f"{PREFIX}{MESSAGE_ID}%00",
    f"other/{MESSAGE_ID}",
]


def test_notifications_for_keys_that_are_not_ses_message_ids_start_nothing(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    for key in NOT_SES_KEYS:
        assert run_pipeline(registered, context, key)[0] == "not started", key
    nothing_delivered(registered)
    record(
        figures, f"{len(NOT_SES_KEYS)} object keys that are no SES message id (../, NUL, LF)", "not started", "Starter"
    )


# --------------------------------------------------------------------------- the mail itself


def test_a_mail_with_a_virus_verdict_of_fail_is_quarantined_before_any_file_is_staged(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    # SES's verdict comes with its notification; the headers of the stored MIME say PASS and change nothing.
    infected = ses_received(
        b"X-SES-Virus-Verdict: PASS\r\n" + scanner_mail([("invoice.pdf", SCAN)], to=TENANT_B),
        envelope_to=TENANT_B,
        virus="PASS",
    )
    registered.put_ses_object(infected, MESSAGE_ID)

    outcome, outputs = run_pipeline(registered, context, PREFIX + MESSAGE_ID, verdicts={"virus": "FAIL"})

    assert outcome == "VirusDetectedError"
    assert len(outputs) == 1  # Decrypt only
    assert registered.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]
    nothing_delivered(registered)
    record(figures, "virus verdict FAIL", outcome, "Parse")


def test_a_mail_for_tenant_b_naming_tenant_a_in_every_header_reaches_only_b(
    registered: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    # SES received it for B alone (its notification's recipients); the sender names A in every header it
    # controls, including a forged Received header.
    mime = mail_for(
        TENANT_B,
        to=f"{TENANT_A}, {TENANT_B}",
        Cc=TENANT_A,
        Delivered_To=TENANT_A,
        X_Original_To=TENANT_A,
        Received=f"from forged.example by mx.forged.example for <{TENANT_A}>; Fri, 27 Nov 2026 08:00:00 +0000",
    )
    registered.put_ses_object(mime, MESSAGE_ID)

    outcome, _ = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert outcome == "delivered"
    assert registered.inbox_users() == ["bob"]
    assert registered.inbox("alice") == []
    [item] = registered.inbox("bob")
    assert (item["tenant"], item["mailbox"]) == ("tenant-b", TENANT_B)
    record(figures, "tenant A's address listed in a mail for tenant B", "delivered to B only", "Parse (routing)")


HOSTILE_NAMES = [
    "../../../../etc/cron.d/evil",
    "..\\..\\Windows\\System32\\evil.dll",
    "/etc/passwd",
    "con.pdf",
    "a\x00b\x1b[2Jc.pdf",
    "line\r\nX-Injected: yes.pdf",
    "\u202efdp.exe",
    "..",
    " . ",
]


def test_path_traversal_and_control_character_file_names_are_stored_and_saved_safely(
    registered: Stack, context: FakeLambdaContext, tmp_path: Path, figures: Figures
) -> None:
    files = [(name, pdf_bytes(1000 + i, seed=i)) for i, name in enumerate(HOSTILE_NAMES)]
    parts = "".join(
        f"--h{CRLF}Content-Type: application/pdf{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: attachment; filename*=utf-8''{''.join(f'%{b:02X}' for b in name.encode())}{CRLF}{CRLF}"
        f"{b64_lines(data)}{CRLF}"
        for name, data in files
    )
    mime = (
        f"From: a@example.com{CRLF}To: {TENANT_B}{CRLF}Subject: names{CRLF}"
        f'Content-Type: multipart/mixed; boundary="h"{CRLF}{CRLF}{parts}--h--{CRLF}'
    ).encode()
    registered.put_ses_object(ses_received(mime, envelope_to=TENANT_B), MESSAGE_ID)

    outcome, _ = run_pipeline(registered, context, PREFIX + MESSAGE_ID)

    assert outcome == "delivered"
    [item] = registered.inbox("bob")
    listed = item["attachments"]
    assert len(listed) == len(files)
    for attachment in listed:
        assert_safe_name(attachment["safe_filename"])
        assert attachment["key"].startswith(f"messages/{MESSAGE_ID}/")  # content-addressed: no sender name
    saved_in = tmp_path / "out"
    target = Target(region=REGION, names={"ArchiveBucketName": ARCHIVE, "InboxTableName": INBOX_TABLE})
    saved = ops.save_attachments(target, item, saved_in)
    assert sorted(p.read_bytes() for p in saved) == sorted(data for _, data in files)
    assert all(p.resolve().parent == saved_in.resolve() for p in saved)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(p.name for p in saved)
    record(figures, "path traversal / control characters in file names", "delivered, names made safe", "Parse")


def test_a_forged_inbox_item_cannot_make_save_write_outside_the_directory(registered: Stack, tmp_path: Path) -> None:
    registered.s3.put_object(Bucket=ARCHIVE, Key="messages/x/f", Body=b"data")
    digest = hashlib.sha256(b"data").hexdigest()
    item = {
        "attachments": [
            {"safe_filename": name, "key": "messages/x/f", "sha256": digest, "content_type": "application/pdf"}
            for name in ("../escaped.pdf", "/tmp/absolute.pdf", "..", "a/../../b.pdf", "NUL")
        ]
    }
    saved_in = tmp_path / "inside" / "out"
    target = Target(region=REGION, names={"ArchiveBucketName": ARCHIVE})

    saved = ops.save_attachments(target, item, saved_in)

    assert len(saved) == 5
    assert all(p.resolve().parent == saved_in.resolve() for p in saved)
    assert (
        sorted(p.relative_to(tmp_path).parts[:2] for p in tmp_path.rglob("*") if p.is_file()) == [("inside", "out")] * 5
    )
