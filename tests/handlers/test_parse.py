"""Parse: plaintext MIME in staging → staged bodies and attachments, resolved mailboxes, one manifest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mail_factory import pdf_bytes, scanner_mail
from mailroom.handlers import parse
from moto_stack import (
    DOMAIN,
    MAILBOX_TABLE,
    RECEIVED_AT,
    STAGING,
    Configure,
    FakeLambdaContext,
    Stack,
    lambda_error,
    ses_received,
    sha256,
)

MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
SCAN = pdf_bytes(30_000, seed=1)
INVOICE = pdf_bytes(12_345, seed=2)


def run(
    stack: Stack,
    context: FakeLambdaContext,
    mime: bytes,
    recipients: list[str] | None = None,
    verdicts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Parse ``mime`` whose SES notification named ``recipients`` (default: inbox-7, as most tests send)."""
    envelope = recipients if recipients is not None else [f"inbox-7@{DOMAIN}"]
    return parse.handler(stack.stage_mime(mime, MESSAGE_ID, recipients=envelope, verdicts=verdicts), context)


def raised_name(
    stack: Stack,
    context: FakeLambdaContext,
    mime: bytes,
    recipients: list[str] | None = None,
    verdicts: dict[str, str] | None = None,
) -> str:
    envelope = recipients if recipients is not None else [f"inbox-7@{DOMAIN}"]
    event = stack.stage_mime(mime, MESSAGE_ID, recipients=envelope, verdicts=verdicts)
    return lambda_error(parse.handler, event, context)[0]


def manifest(stack: Stack, result: dict[str, Any]) -> dict[str, Any]:
    ref = result["manifest"]
    data = stack.read(ref["bucket"], ref["key"])
    assert (len(data), sha256(data)) == (ref["size"], ref["sha256"])
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def users(stack: Stack, result: dict[str, Any]) -> list[str]:
    return [m["user"] for m in manifest(stack, result)["mailboxes"]]


def mail(*, to: str, envelope_to: str | None, attachments: list[tuple[str, bytes]] | None = None) -> bytes:
    return ses_received(scanner_mail(attachments or [("scan.pdf", SCAN)], to=to), envelope_to=envelope_to)


def test_a_mail_for_a_registered_mailbox_is_routed_and_described_by_pointer(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7", tenant="corp")
    mime = mail(to=f"inbox-7@{DOMAIN}", envelope_to=f"inbox-7@{DOMAIN}")

    result = run(stack, context, mime)

    key = f"manifests/{MESSAGE_ID}.json"
    assert result == {
        "message_id": MESSAGE_ID,
        "received_at": RECEIVED_AT,
        "manifest": {
            "bucket": STAGING,
            "key": key,
            "size": result["manifest"]["size"],
            "sha256": sha256(stack.read(STAGING, key)),
        },
        "mailboxes": 1,
        "attachments": 1,
    }
    doc = manifest(stack, result)
    assert doc["mailboxes"] == [{"address": f"inbox-7@{DOMAIN}", "user": "u-7", "tenant": "corp"}]
    assert doc["message_id"] == MESSAGE_ID
    assert doc["header_message_id"] == "scan-0001@corp.example"
    assert doc["subject"] == "Scan from MFP-4020"
    assert doc["senders"] == ["scanner@corp.example"]
    assert doc["to"] == [f"inbox-7@{DOMAIN}"]
    assert doc["verdicts"] == {"spam": "PASS", "virus": "PASS", "spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert doc["original"] == {
        "bucket": STAGING,
        "key": f"mime/{MESSAGE_ID}.eml",
        "size": len(mime),
        "sha256": sha256(mime),
    }
    # The subject and addresses live in the manifest (under the CMK), never in the state's output.
    assert "Scan from" not in json.dumps(result)
    assert DOMAIN not in json.dumps(result)


def test_attachments_and_bodies_are_staged_and_listed_with_their_digests(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    attachments = [("scan-0001.pdf", SCAN), ("invoice 2026-11.pdf", INVOICE)]

    result = run(stack, context, mail(to=f"inbox-7@{DOMAIN}", envelope_to=None, attachments=attachments))

    assert result["attachments"] == 2
    doc = manifest(stack, result)
    listed = [
        (f["index"], f["filename"], f["content_type"], f["size"], f["sha256"], f["location"])
        for f in doc["attachments"]
    ]
    assert listed == [
        (
            i,
            name,
            "application/pdf",
            len(data),
            sha256(data),
            {"bucket": STAGING, "key": f"parts/{MESSAGE_ID}/{i}", "size": len(data), "sha256": sha256(data)},
        )
        for i, (name, data) in enumerate(attachments)
    ]
    for (_, data), listed_file in zip(attachments, doc["attachments"], strict=True):
        assert stack.read(STAGING, listed_file["location"]["key"]) == data
    text = b"Please find the scanned document attached."
    assert doc["text"] == {
        "bucket": STAGING,
        "key": f"parts/{MESSAGE_ID}/text",
        "size": len(text),
        "sha256": sha256(text),
    }
    assert stack.read(STAGING, doc["text"]["key"]) == text
    assert doc["html"] is None
    assert stack.keys(STAGING) == sorted(
        [
            f"manifests/{MESSAGE_ID}.json",
            f"mime/{MESSAGE_ID}.eml",
            f"parts/{MESSAGE_ID}/0",
            f"parts/{MESSAGE_ID}/1",
            f"parts/{MESSAGE_ID}/text",
        ]
    )


def test_the_envelope_wins_over_the_to_header(stack: Stack, context: FakeLambdaContext) -> None:
    # Tenant isolation: SES received this for b; the To header listing a must not reach a's inbox.
    stack.add_mailbox(f"a@{DOMAIN}", "user-a", tenant="tenant-a")
    stack.add_mailbox(f"b@{DOMAIN}", "user-b", tenant="tenant-b")

    result = run(stack, context, mail(to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}"), [f"b@{DOMAIN}"])

    assert result["mailboxes"] == 1
    assert users(stack, result) == ["user-b"]


def test_a_received_for_header_adds_no_recipient(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"a@{DOMAIN}", "user-a")
    stack.add_mailbox(f"b@{DOMAIN}", "user-b")
    relayed = (
        f"Received: from scanner.corp.example by mail.corp.example with ESMTP id 4QxZ\r\n for <a@{DOMAIN}>;"
        " Fri, 27 Nov 2026 08:15:02 +0000\r\n"
    ).encode() + scanner_mail([("scan.pdf", SCAN)], to=f"a@{DOMAIN}")

    result = run(stack, context, ses_received(relayed, envelope_to=f"a@{DOMAIN}"), [f"b@{DOMAIN}"])

    assert users(stack, result) == ["user-b"]


def test_a_bcc_recipient_absent_from_every_header_gets_the_mail(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"a@{DOMAIN}", "user-a")
    stack.add_mailbox(f"b@{DOMAIN}", "user-b")

    result = run(stack, context, mail(to=f"a@{DOMAIN}", envelope_to=None), [f"a@{DOMAIN}", f"b@{DOMAIN}"])

    assert result["mailboxes"] == 2
    assert users(stack, result) == ["user-a", "user-b"]


def test_header_recipients_not_in_the_envelope_get_nothing(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"a@{DOMAIN}", "user-a")
    stack.add_mailbox(f"b@{DOMAIN}", "user-b")
    forged = f"Delivered-To: a@{DOMAIN}\r\nX-Original-To: a@{DOMAIN}\r\n".encode() + scanner_mail(
        [("scan.pdf", SCAN)], to=f"a@{DOMAIN}, Bee <b@{DOMAIN}>"
    )

    result = run(stack, context, ses_received(forged, envelope_to=None), [f"b@{DOMAIN}"])

    assert users(stack, result) == ["user-b"]


def test_a_subaddress_reaches_the_untagged_mailbox(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"scan@{DOMAIN}", "u-scan")

    result = run(stack, context, mail(to="x@elsewhere.example", envelope_to=None), [f"scan+invoices@{DOMAIN}"])

    assert manifest(stack, result)["mailboxes"] == [{"address": f"scan@{DOMAIN}", "user": "u-scan", "tenant": "acme"}]


def test_the_envelope_address_is_matched_without_regard_to_case(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"scan@{DOMAIN}", "u-scan")

    result = run(stack, context, mail(to="x@elsewhere.example", envelope_to=None), ["Scan@IN.Mailroom.Localhost"])

    assert users(stack, result) == ["u-scan"]


def test_two_addresses_of_one_user_are_one_mailbox(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"scan@{DOMAIN}", "u-1")
    stack.add_mailbox(f"invoices@{DOMAIN}", "u-1")

    result = run(
        stack, context, mail(to="x@elsewhere.example", envelope_to=None), [f"scan@{DOMAIN}", f"invoices@{DOMAIN}"]
    )

    assert result["mailboxes"] == 1
    assert users(stack, result) == ["u-1"]
    assert "unroutable_recipients" not in (stack.status(MESSAGE_ID) or {})


def test_envelope_addresses_outside_the_domain_are_ignored_even_when_registered(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"a@{DOMAIN}", "user-a")
    stack.add_mailbox("a@elsewhere.example", "user-x")
    stack.add_mailbox(f"a@sub.{DOMAIN}", "user-y")

    result = run(
        stack,
        context,
        mail(to="x@elsewhere.example", envelope_to=None),
        ["a@elsewhere.example", f"a@sub.{DOMAIN}", f"a@{DOMAIN}"],
    )

    assert users(stack, result) == ["user-a"]
    assert (stack.status(MESSAGE_ID) or {})["unroutable_recipients"] == 2


def test_an_envelope_only_for_other_domains_is_unroutable(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox("a@elsewhere.example", "user-x")

    assert raised_name(stack, context, mail(to="a@elsewhere.example", envelope_to=None), ["a@elsewhere.example"]) == (
        "NoKnownRecipientError"
    )


def test_unknown_recipients_are_unroutable_counted_and_nothing_is_staged(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"someone-else@{DOMAIN}", "u-2")

    # The To header names a registered mailbox; the envelope does not.
    mime = mail(to=f"someone-else@{DOMAIN}", envelope_to=None)
    assert raised_name(stack, context, mime, [f"nobody@{DOMAIN}", f"noone@{DOMAIN}"]) == "NoKnownRecipientError"
    assert stack.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]
    assert (stack.status(MESSAGE_ID) or {})["unroutable_recipients"] == 2


def test_an_email_without_a_recorded_envelope_is_unroutable_before_anything_is_read(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    event = stack.stage_mime(mail(to=f"inbox-7@{DOMAIN}", envelope_to=f"inbox-7@{DOMAIN}"), MESSAGE_ID)

    error_type, message = lambda_error(parse.handler, event, context)

    assert error_type == "NoKnownRecipientError"
    assert "no envelope" in message
    assert stack.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]


def test_an_unroutable_mail_is_counted_by_step_and_error(
    stack: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    raised_name(stack, context, mail(to=f"nobody@{DOMAIN}", envelope_to=None), [f"nobody@{DOMAIN}"])

    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if '"Unroutable"' in line]
    by_step = [(d["Unroutable"], d["step"], d["error"]) for d in lines if "step" in d]
    assert by_step == [([1.0], "Parse", "NoKnownRecipientError")]
    # and once more without step/error dimensions, for rates and alarms
    assert [d["Unroutable"] for d in lines if "step" not in d] == [[1.0]]
    assert f"nobody@{DOMAIN}" not in out  # recipients are counted, never logged


def test_a_disabled_mailbox_receives_nothing(stack: Stack, context: FakeLambdaContext) -> None:
    stack.dynamodb.put_item(
        TableName=MAILBOX_TABLE,
        Item={"address": {"S": f"old@{DOMAIN}"}, "user": {"S": "u-old"}, "enabled": {"BOOL": False}},
    )

    assert raised_name(stack, context, mail(to=f"old@{DOMAIN}", envelope_to=None), [f"old@{DOMAIN}"]) == (
        "NoKnownRecipientError"
    )


def test_a_virus_verdict_of_fail_is_quarantined_before_anything_is_staged(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    infected = ses_received(
        scanner_mail([("scan.pdf", SCAN)], to=f"inbox-7@{DOMAIN}"), envelope_to=f"inbox-7@{DOMAIN}", virus="FAIL"
    )

    assert raised_name(stack, context, infected) == "VirusDetectedError"  # no notification verdicts: headers
    assert stack.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]


def test_the_notifications_verdicts_win_over_the_headers(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    clean_headers = mail(to=f"inbox-7@{DOMAIN}", envelope_to=None)
    failed = {"spam": "PASS", "virus": "FAIL", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"}

    assert raised_name(stack, context, clean_headers, verdicts=failed) == "VirusDetectedError"


def test_the_manifest_records_the_notifications_verdicts(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    given = {"spam": "GRAY", "virus": "PASS", "spf": "FAIL", "dkim": "GRAY", "dmarc": "FAIL"}

    result = run(stack, context, mail(to=f"inbox-7@{DOMAIN}", envelope_to=None), verdicts=given)

    assert manifest(stack, result)["verdicts"] == given


def test_an_empty_message_is_malformed(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")

    assert raised_name(stack, context, b"") == "MalformedMessageError"
    assert stack.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]


def test_a_missing_mailbox_table_is_retryable_database_unavailable(stack: Stack, context: FakeLambdaContext) -> None:
    stack.dynamodb.delete_table(TableName=MAILBOX_TABLE)

    assert raised_name(stack, context, mail(to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")) == (
        "DatabaseUnavailableError"
    )


def test_a_missing_recipient_domain_is_a_configuration_error_naming_it(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(RECIPIENT_DOMAIN=None)
    event = stack.stage_mime(mail(to=f"a@{DOMAIN}", envelope_to=None), MESSAGE_ID, recipients=[f"a@{DOMAIN}"])

    error_type, message = lambda_error(parse.handler, event, context)

    assert error_type == "ConfigurationError"
    assert "RECIPIENT_DOMAIN" in message
