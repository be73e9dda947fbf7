"""Inbox: one item per user (a conditional write: exactly once), then the email's status is delivered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from mail_factory import pdf_bytes, scanner_mail
from mailroom.handlers import archive, inbox, parse
from moto_stack import (
    ARCHIVE,
    DOMAIN,
    INBOX_TABLE,
    RECEIVED_AT,
    STATUS_TABLE,
    Configure,
    FakeLambdaContext,
    Stack,
    emitted_metrics,
    lambda_error,
    ses_received,
    sha256,
)

MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
RETRANSMITTED_ID = "k7e2c9u1t5pv3mg0ahq6ro8lb4nsdj2i1f9e7c5a"  # the sender sent the same email again
SCAN = pdf_bytes(30_000, seed=1)
INVOICE = pdf_bytes(12_345, seed=2)


def archived(
    stack: Stack,
    context: FakeLambdaContext,
    *,
    to: str,
    envelope_to: str | None,
    message_id: str = MESSAGE_ID,
    header_message_id: bool = True,
    scan: bytes = SCAN,
) -> dict[str, Any]:
    mail = scanner_mail([("scan-0001.pdf", scan), ("invoice.pdf", INVOICE)], to=to)
    if not header_message_id:
        mail = mail.replace(b"Message-ID: <scan-0001@corp.example>\r\n", b"")
    mime = ses_received(mail, envelope_to=envelope_to, ses_id=message_id)
    # The envelope SES's notification gives: the one recipient SES names, else every To address.
    recipients = [envelope_to] if envelope_to else [a.strip() for a in to.split(",")]
    return archive.handler(parse.handler(stack.stage_mime(mime, message_id, recipients=recipients), context), context)


@pytest.fixture
def two_users(stack: Stack) -> Stack:
    stack.add_mailbox(f"a@{DOMAIN}", "user-a", tenant="tenant-a")
    stack.add_mailbox(f"b@{DOMAIN}", "user-b", tenant="tenant-b")
    return stack


def test_each_user_gets_one_item_listing_the_archived_attachments(two_users: Stack, context: FakeLambdaContext) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}, b@{DOMAIN}", envelope_to=None)

    result = inbox.handler(event, context)

    assert result == {"message_id": MESSAGE_ID, "status": "delivered", "items": 2, "new_items": 2}
    assert two_users.inbox_users() == ["user-a", "user-b"]
    [item] = two_users.inbox("user-a")
    assert dt.datetime.fromisoformat(item.pop("delivered_at")).utcoffset() == dt.timedelta(0)
    files: list[dict[str, Any]] = [
        {
            "filename": name,
            "safe_filename": name,
            "content_type": "application/pdf",
            "size": len(data),
            "sha256": sha256(data),
            "inline": False,
            "key": f"messages/{MESSAGE_ID}/{sha256(data)}",
        }
        for name, data in (("scan-0001.pdf", SCAN), ("invoice.pdf", INVOICE))
    ]
    text = b"Please find the scanned document attached."
    assert item == {
        "user": "user-a",
        "message_id": MESSAGE_ID,
        "tenant": "tenant-a",
        "mailbox": f"a@{DOMAIN}",
        "subject": "Scan from MFP-4020",
        "from": "scanner@corp.example",
        "header_message_id": "scan-0001@corp.example",
        "received_at": RECEIVED_AT,
        "archive_bucket": ARCHIVE,
        "manifest_key": f"messages/{MESSAGE_ID}/manifest.json",
        "text_key": f"messages/{MESSAGE_ID}/{sha256(text)}",
        "attachment_count": 2,
        "attachments": files,
    }
    for listed in files:
        assert sha256(two_users.read(ARCHIVE, listed["key"])) == listed["sha256"]
    [other] = two_users.inbox("user-b")
    assert (other["tenant"], other["mailbox"]) == ("tenant-b", f"b@{DOMAIN}")


def test_running_twice_adds_no_item_and_keeps_the_first_delivery_time(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")
    inbox.handler(event, context)
    [first] = two_users.inbox("user-a")

    result = inbox.handler(event, context)

    assert result == {"message_id": MESSAGE_ID, "status": "delivered", "items": 1, "new_items": 0}
    assert two_users.inbox("user-a") == [first]
    assert two_users.inbox_users() == ["user-a"]


def test_the_status_becomes_delivered_and_an_earlier_failure_is_cleared(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")
    # What the state machine's RecordQuarantine state writes, before a restart delivered the email after all.
    two_users.dynamodb.put_item(
        TableName=STATUS_TABLE,
        Item={
            "message_id": {"S": MESSAGE_ID},
            "status": {"S": "quarantined"},
            "received_at": {"S": RECEIVED_AT},
            "updated_at": {"S": "2026-11-27T08:15:07.000Z"},
            "execution_arn": {"S": "arn:aws:states:eu-west-1:123456789012:execution:m:" + MESSAGE_ID},
            "step": {"S": "Parse"},
            "error": {"S": "MalformedMessageError"},
            "cause": {"S": '{"errorMessage":"no header field before the body"}'},
            "reason": {"S": "malformed"},
        },
    )

    inbox.handler(event, context)

    record = two_users.status(MESSAGE_ID)
    assert record is not None
    assert record["status"] == "delivered"
    assert record["items"] == 1
    assert record["delivered_at"] == record["updated_at"]
    assert record["received_at"] == RECEIVED_AT
    assert not {"step", "error", "cause", "reason"} & set(record)


def test_a_status_record_is_created_when_none_exists(two_users: Stack, context: FakeLambdaContext) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")

    inbox.handler(event, context)

    record = two_users.status(MESSAGE_ID)
    assert record is not None
    assert (record["status"], record["items"]) == ("delivered", 1)


@pytest.mark.parametrize("table", [INBOX_TABLE, STATUS_TABLE])
def test_a_missing_table_is_retryable_database_unavailable(
    two_users: Stack, context: FakeLambdaContext, table: str
) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")
    two_users.dynamodb.delete_table(TableName=table)

    assert lambda_error(inbox.handler, event, context)[0] == "DatabaseUnavailableError"


def test_a_missing_inbox_table_variable_is_a_configuration_error_naming_it(
    two_users: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    event = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")
    configure(INBOX_TABLE=None)

    error_type, message = lambda_error(inbox.handler, event, context)

    assert error_type == "ConfigurationError"
    assert "INBOX_TABLE" in message
    assert two_users.inbox_users() == []


def test_a_retransmission_with_the_same_message_id_header_is_a_duplicate(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    inbox.handler(archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}"), context)
    again = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}", message_id=RETRANSMITTED_ID)

    result = inbox.handler(again, context)

    assert result == {"message_id": RETRANSMITTED_ID, "status": "duplicate", "items": 0, "new_items": 0}
    assert [item["message_id"] for item in two_users.inbox("user-a")] == [MESSAGE_ID]
    record = two_users.status(RETRANSMITTED_ID)
    assert record is not None
    assert (record["status"], record["duplicate_of"]) == ("duplicate", MESSAGE_ID)


def test_an_earlier_email_reusing_the_message_id_with_other_content_does_not_suppress_the_real_one(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    # Message-IDs are chosen by the sender (scanners count them): a forged email sent first with the
    # next one's Message-ID must not make the real scan a "duplicate".
    forged = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}", scan=b"%PDF-1.4 forged")
    inbox.handler(forged, context)
    real = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}", message_id=RETRANSMITTED_ID)

    result = inbox.handler(real, context)

    assert result["status"] == "delivered"
    assert sorted(item["message_id"] for item in two_users.inbox("user-a")) == sorted([MESSAGE_ID, RETRANSMITTED_ID])


def test_the_first_message_stays_delivered_when_it_runs_again_after_its_retransmission(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    first = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}")
    inbox.handler(first, context)
    inbox.handler(
        archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}", message_id=RETRANSMITTED_ID),
        context,
    )

    result = inbox.handler(first, context)

    assert result == {"message_id": MESSAGE_ID, "status": "delivered", "items": 1, "new_items": 0}
    assert [item["message_id"] for item in two_users.inbox("user-a")] == [MESSAGE_ID]


def test_a_retransmission_reaches_only_the_users_who_did_not_have_it(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    inbox.handler(archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}"), context)
    wider = archived(two_users, context, to=f"a@{DOMAIN}, b@{DOMAIN}", envelope_to=None, message_id=RETRANSMITTED_ID)

    result = inbox.handler(wider, context)

    assert result == {"message_id": RETRANSMITTED_ID, "status": "delivered", "items": 1, "new_items": 1}
    assert [item["message_id"] for item in two_users.inbox("user-a")] == [MESSAGE_ID]
    assert [item["message_id"] for item in two_users.inbox("user-b")] == [RETRANSMITTED_ID]


def test_emails_without_a_message_id_header_are_never_deduplicated(
    two_users: Stack, context: FakeLambdaContext
) -> None:
    for message_id in (MESSAGE_ID, RETRANSMITTED_ID):
        event = archived(
            two_users,
            context,
            to=f"a@{DOMAIN}",
            envelope_to=f"a@{DOMAIN}",
            message_id=message_id,
            header_message_id=False,
        )
        assert inbox.handler(event, context)["new_items"] == 1

    assert sorted(item["message_id"] for item in two_users.inbox("user-a")) == sorted([MESSAGE_ID, RETRANSMITTED_ID])
    assert two_users.inbox("user-a", markers=True) == []


def test_metrics_count_a_delivery_and_a_duplicate_apart(
    two_users: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.handler(archived(two_users, context, to=f"a@{DOMAIN}, b@{DOMAIN}", envelope_to=None), context)
    delivered = emitted_metrics(capsys.readouterr().out)
    again = archived(two_users, context, to=f"a@{DOMAIN}", envelope_to=f"a@{DOMAIN}", message_id=RETRANSMITTED_ID)
    capsys.readouterr()

    inbox.handler(again, context)

    duplicate = emitted_metrics(capsys.readouterr().out)
    assert (delivered.get("Delivered"), delivered.get("InboxItems"), delivered.get("Duplicates")) == (1, 2, None)
    assert (duplicate.get("Delivered"), duplicate.get("InboxItems"), duplicate.get("Duplicates")) == (None, 0, 1)
    assert "EndToEndLatency" in delivered
