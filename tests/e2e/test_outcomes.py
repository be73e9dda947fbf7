"""Issue acceptance on the local stack: duplicates, tampered objects, several mailboxes."""

from __future__ import annotations

import base64

import pytest
from local_stack import LOOPBACK, announce, final_status, history, store_as_ses

from mailroom_cli import operations as ops
from mailroom_cli.local.samples import pdf
from mailroom_cli.local.ses_producer import new_ses_message_id
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)


def _mail(to: str, subject: str, message_id: str = "<same-0001@office.example>") -> bytes:
    attachment = pdf(1, seed=len(subject))
    boundary = "b0undary"
    encoded = base64.encodebytes(attachment).decode()
    return (
        f"From: scanner@office.example\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nscan\r\n"
        f'--{boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="s.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--{boundary}--\r\n"
    ).encode()


def _send(stack: LocalStack, to: list[str], data: bytes) -> str:
    return ops.send_raw(stack.info()["smtp"], data, to=to, sender="scanner@office.example").split()[-1]


def test_the_same_message_sent_twice_is_two_executions_but_one_inbox_item(stack: LocalStack, target: Target) -> None:
    address = f"twice@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, address, user="tess")
    data = _mail(address, "sent twice")

    first = _send(stack, [address], data)
    assert final_status(target, first) == "delivered"
    second = _send(stack, [address], data)
    assert first != second  # SES gives every reception its own id
    assert final_status(target, second) == "duplicate"

    assert [i["message_id"] for i in ops.inbox(target, "tess")] == [first]
    assert history(target, second)[-1]["type"] == "ExecutionSucceeded"  # two executions, both ended well


def test_a_tampered_object_in_the_incoming_bucket_is_quarantined_with_its_reason(
    stack: LocalStack, target: Target
) -> None:
    address = f"tamper@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, address, user="tom")
    # Written as SES would, then one ciphertext bit flipped before it is stored.
    message_id = new_ses_message_id()
    mime = _mail(address, "tampered", "<t-1@office.example>")
    store_as_ses(stack, mime, message_id, corrupt_at=len(mime) // 2)
    announce(target, message_id, [address])

    assert final_status(target, message_id) == "quarantined"
    record = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}
    )["Item"]
    assert (record["step"]["S"], record["error"]["S"]) == ("Decrypt", "TamperedCiphertextError")
    assert ops.inbox(target, "tom") == []


def test_a_message_for_two_of_our_mailboxes_is_one_item_in_each(stack: LocalStack, target: Target) -> None:
    domain = target.name("RecipientDomain")
    ops.add_mailbox(target, f"una@{domain}", user="una")
    ops.add_mailbox(target, f"otto@{domain}", user="otto")
    message_id = _send(stack, [f"una@{domain}", f"otto@{domain}"], _mail(f"una@{domain}, otto@{domain}", "both"))

    assert final_status(target, message_id) == "delivered"
    assert [i["message_id"] for i in ops.inbox(target, "una")] == [message_id]
    assert [i["message_id"] for i in ops.inbox(target, "otto")] == [message_id]
