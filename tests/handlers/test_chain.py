"""The four states in a row, each fed the previous one's output, from the S3 notification to the inbox."""

from __future__ import annotations

import json
from typing import Any

from mail_factory import pdf_bytes, scanner_mail
from mailroom.handlers import archive, decrypt, inbox, parse, start
from moto_stack import ARCHIVE, DOMAIN, INCOMING, Configure, FakeLambdaContext, Stack, load_event, ses_received, sha256

PUT_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
ENCODED_ID = "r4vb7ts1m9c2hu0q3gp6kleo8n5ijd1a2f7c3s0t"
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


def test_an_email_goes_from_the_s3_notification_to_the_inbox_byte_for_byte(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7", tenant="corp")
    mime = ses_received(scanner_mail(ATTACHMENTS, to=f"inbox-7@{DOMAIN}"), envelope_to=f"inbox-7@{DOMAIN}")
    stack.put_ses_object(mime, PUT_ID)

    assert start.handler(load_event("sqs_s3_put.json"), context) == {"batchItemFailures": []}
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


def test_a_url_encoded_key_reaches_the_object_it_names(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(INCOMING_PREFIX="inbound/tenant:acme corp/")
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    mime = ses_received(scanner_mail(ATTACHMENTS[:1], to=f"inbox-7@{DOMAIN}"), envelope_to=None)
    stack.put_ses_object(mime, ENCODED_ID, key=f"inbound/tenant:acme corp/{ENCODED_ID}")

    start.handler(load_event("sqs_s3_encoded_key.json"), context)
    [execution] = stack.executions()
    outputs = run_states(execution["input"], context)

    assert execution["input"]["bucket"] == INCOMING
    assert outputs[0]["mime"]["sha256"] == sha256(mime)
    assert outputs[-1]["status"] == "delivered"
    [item] = stack.inbox("u-7")
    assert stack.read(ARCHIVE, item["attachments"][0]["key"]) == ATTACHMENTS[0][1]


def test_replaying_every_state_changes_nothing(stack: Stack, context: FakeLambdaContext) -> None:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    mime = ses_received(scanner_mail(ATTACHMENTS, to=f"inbox-7@{DOMAIN}"), envelope_to=f"inbox-7@{DOMAIN}")
    execution_input = stack.put_ses_object(mime, PUT_ID)
    first = run_states(execution_input, context)
    versions = stack.object_versions(ARCHIVE)
    items = stack.inbox("u-7")

    again = run_states(execution_input, context)

    assert again[:3] == first[:3]
    assert again[3] == {**first[3], "new_items": 0}
    assert stack.object_versions(ARCHIVE) == versions
    assert stack.inbox("u-7") == items
