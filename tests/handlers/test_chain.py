"""The four states in a row, each fed the previous one's output, from SES's notification to the inbox."""

from __future__ import annotations

import json
from typing import Any

from mail_factory import pdf_bytes, scanner_mail
from mailroom.handlers import archive, decrypt, inbox, parse, start
from moto_stack import ARCHIVE, DOMAIN, FakeLambdaContext, Stack, lambda_error, load_event, ses_received, sha256

PUT_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
SEVERAL_ID = "d6iitobk75ur44p8kdnnp7g2n800"
STATE_PAYLOAD_LIMIT = 256 * 1024
ATTACHMENTS = [("scan-0001.pdf", pdf_bytes(250_000, seed=11)), ("Rechnung 2026-11.pdf", pdf_bytes(9_999, seed=12))]


def run_states(execution_input: dict[str, Any], context: FakeLambdaContext) -> list[dict[str, Any]]:
    """Decrypt → Parse → Archive → Inbox, as the state machine passes payloads (``OutputPath: $.Payload``)."""
    outputs = []
    payload = execution_input
    for handler in (decrypt.handler, parse.handler, archive.handler, inbox.handler):
        # What Step Functions stores is JSON: a round trip catches anything that does not survive it.
        payload = json.loads(json.dumps(handler(payload, context)))
        outputs.append(payload)
    return outputs


def assert_history_holds_no_content(outputs: list[dict[str, Any]]) -> None:
    history = json.dumps(outputs)
    assert len(history) < STATE_PAYLOAD_LIMIT
    for secret in ("Scan from MFP-4020", "scanner@corp.example", f"inbox-7@{DOMAIN}", "scan-0001.pdf"):
        assert secret not in history


def test_an_email_goes_from_the_ses_notification_to_the_inbox_byte_for_byte(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"scans@{DOMAIN}", "u-7", tenant="corp")
    mime = ses_received(scanner_mail(ATTACHMENTS, to=f"inbox-7@{DOMAIN}"), envelope_to=f"scans@{DOMAIN}")
    stack.put_ses_object(mime, PUT_ID)

    assert start.handler(load_event("sqs_ses_one_recipient.json"), context) == {"batchItemFailures": []}
    [execution] = stack.executions()
    outputs = run_states(execution["input"], context)

    assert outputs[-1] == {"message_id": PUT_ID, "status": "delivered", "items": 1, "new_items": 1}
    assert_history_holds_no_content(outputs)
    [item] = stack.inbox("u-7")
    assert (item["message_id"], item["tenant"], item["subject"]) == (PUT_ID, "corp", "Scan from MFP-4020")
    assert [(f["filename"], f["size"], f["sha256"]) for f in item["attachments"]] == [
        (name, len(data), sha256(data)) for name, data in ATTACHMENTS
    ]
    for listed, (_, data) in zip(item["attachments"], ATTACHMENTS, strict=True):
        assert stack.read(item["archive_bucket"], listed["key"]) == data
    # The original is archived as SES delivered it, after decryption.
    manifest = json.loads(stack.read(ARCHIVE, item["manifest_key"]))
    assert stack.read(ARCHIVE, manifest["original"]["key"]) == mime
    record = stack.status(PUT_ID)
    assert record is not None
    assert (record["status"], record["items"]) == ("delivered", 1)
    assert record["execution_arn"] == execution["executionArn"]
    assert record["received_at"] == "2026-11-27T08:15:04.112Z"


def test_the_registered_envelope_recipients_get_it_and_the_header_recipient_does_not(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"scans@{DOMAIN}", "u-scans", tenant="corp")
    stack.add_mailbox(f"accounts@{DOMAIN}", "u-accounts", tenant="corp")
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7", tenant="other")  # only in the To header
    mime = ses_received(scanner_mail(ATTACHMENTS[:1], to=f"inbox-7@{DOMAIN}"), envelope_to=None, ses_id=SEVERAL_ID)
    stack.put_ses_object(mime, SEVERAL_ID)

    start.handler(load_event("sqs_ses_several_recipients.json"), context)
    [execution] = stack.executions()
    outputs = run_states(execution["input"], context)

    assert outputs[-1] == {"message_id": SEVERAL_ID, "status": "delivered", "items": 2, "new_items": 2}
    assert [len(stack.inbox(u)) for u in ("u-scans", "u-accounts", "u-7")] == [1, 1, 0]
    record = stack.status(SEVERAL_ID)
    assert record is not None
    assert record["unroutable_recipients"] == 1  # nobody@: counted, not listed anywhere new
    assert_history_holds_no_content(outputs)


def test_a_virus_verdict_of_fail_in_the_notification_quarantines_at_parse(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"scans@{DOMAIN}", "u-scans")
    virus_id = "k7e2c9u1t5pv3mg0ahq6ro8lb4nsdj2i1f9e7c5a"
    # The MIME's own X-SES header says PASS: the notification's verdict is what counts.
    stack.put_ses_object(ses_received(scanner_mail(ATTACHMENTS[:1], to="x@y"), envelope_to=None), virus_id)
    start.handler(load_event("sqs_ses_virus_fail.json"), context)
    [execution] = stack.executions()
    decrypted = decrypt.handler(execution["input"], context)

    error, _ = lambda_error(parse.handler, decrypted, context)

    assert error == "VirusDetectedError"
    assert stack.inbox("u-scans") == []


def test_replaying_every_state_changes_nothing(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    mime = ses_received(scanner_mail(ATTACHMENTS, to=f"inbox-7@{DOMAIN}"), envelope_to=f"inbox-7@{DOMAIN}")
    execution_input = stack.put_ses_object(mime, PUT_ID)
    stack.record_envelope(PUT_ID, [f"inbox-7@{DOMAIN}"])
    first = run_states(execution_input, context)
    versions = stack.object_versions(ARCHIVE)
    items = stack.inbox("u-7")

    again = run_states(execution_input, context)

    assert again[:3] == first[:3]
    assert again[3] == {**first[3], "new_items": 0}
    assert stack.object_versions(ARCHIVE) == versions
    assert stack.inbox("u-7") == items
