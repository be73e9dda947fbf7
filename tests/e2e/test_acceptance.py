"""The seed's acceptance test, literally, on the local stack: SMTP in, the user's inbox out."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from local_stack import LOOPBACK, entered_states, final_status, history, wait_until

from mailroom_cli import operations as ops
from mailroom_cli.local.samples import pdf
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)


def _smtp_send(stack: LocalStack, message: EmailMessage, to: str) -> str:
    host, port = stack.info()["smtp"].rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=30) as client:
        client.ehlo("scanner.office.example")
        # The rule requires TLS, as the deployed one does: STARTTLS, checked against the stack's certificate.
        client.starttls(context=ssl.create_default_context(cafile=stack.info()["smtp_certificate"]))
        client.ehlo("scanner.office.example")
        client.mail("scanner@office.example")
        assert client.rcpt(to)[0] == 250
        code, reply = client.data(message.as_bytes(policy=SMTP))
    assert code == 250
    return reply.decode().split()[-1]  # "Ok <SES message id>"


def test_an_email_with_an_attachment_sent_to_a_users_address_shows_in_that_users_inbox(
    stack: LocalStack, target: Target, tmp_path: Path
) -> None:
    # Given an address associated with a user's account
    domain = target.name("RecipientDomain")
    ops.add_mailbox(target, f"scans@{domain}", user="alice")
    # when I send an email with an attachment to it (plain SMTP, as any scanner would)
    document = pdf(3, seed=42)
    message = EmailMessage()
    message["From"] = "Office Scanner <scanner@office.example>"
    message["To"] = f"scans@{domain}"
    message["Subject"] = "Scan from the 3rd floor"
    message.set_content("Scanned document attached.")
    message.add_attachment(document, maintype="application", subtype="pdf", filename="scan_0042.pdf")
    message_id = _smtp_send(stack, message, f"scans@{domain}")

    # then I see the email in that user's inbox with the attachment
    items = wait_until(lambda: ops.inbox(target, "alice"), what="alice's inbox item")
    assert [i["message_id"] for i in items] == [message_id]
    item = items[0]
    assert item["subject"] == "Scan from the 3rd floor"
    assert item["from"] == "scanner@office.example"
    assert [(a["filename"], a["content_type"], a["size"]) for a in item["attachments"]] == [
        ("scan_0042.pdf", "application/pdf", len(document))
    ]
    saved = ops.save_attachments(target, ops.inbox_item(target, item["id"], user="alice"), tmp_path)
    assert [p.read_bytes() for p in saved] == [document]  # byte-identical, from the archive
    assert ops.email_status(target, message_id) == "delivered"


def test_the_execution_history_shows_each_step_once_in_four_state_transitions(
    stack: LocalStack, target: Target
) -> None:
    domain = target.name("RecipientDomain")
    ops.add_mailbox(target, f"history@{domain}", user="hal")
    message = EmailMessage()
    message["From"] = "someone@example.org"
    message["To"] = f"history@{domain}"
    message["Subject"] = "audit trail"
    message.set_content("x")
    message.add_attachment(b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="a.pdf")
    message_id = _smtp_send(stack, message, f"history@{domain}")

    assert final_status(target, message_id) == "delivered"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "Archive", "Inbox"]
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    functions = [e["taskScheduledEventDetails"]["parameters"] for e in scheduled]
    for step, parameters in zip(["decrypt", "parse", "archive", "inbox"], functions, strict=True):
        assert f"function:mailroom-local-{step}" in parameters
    assert events[-1]["type"] == "ExecutionSucceeded"
    # Payloads between steps are pointers: no subject, no address in the history.
    text = str(events)
    assert "audit trail" not in text
    assert f"history@{domain}" not in text


def test_mail_for_an_address_nobody_registered_ends_unroutable_not_failed(stack: LocalStack, target: Target) -> None:
    domain = target.name("RecipientDomain")
    message = EmailMessage()
    message["From"] = "someone@example.org"
    message["To"] = f"nobody-here@{domain}"
    message["Subject"] = "hello?"
    message.set_content("x")
    message_id = _smtp_send(stack, message, f"nobody-here@{domain}")

    assert final_status(target, message_id) == "unroutable"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "RecordUnroutable", "Unroutable"]
    assert events[-1]["type"] == "ExecutionSucceeded"
