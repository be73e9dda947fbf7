"""Issue acceptance (envelope recipients) on the local stack: SMTP RCPT TO decides, never the headers.

Each email goes through the SMTP listener, which stores it as SES does and publishes SES's receipt
notification (``receipt.recipients`` = RCPT TO) to the template's topic; the queue gets it from SNS.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from local_stack import LOOPBACK, final_status, store_as_ses, wait_until

from mailroom_cli import operations as ops
from mailroom_cli import operator
from mailroom_cli.local.notification import publish, ses_notification
from mailroom_cli.local.samples import pdf
from mailroom_cli.local.ses_producer import new_ses_message_id
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

SENDER = "scanner@office.example"


def _address(target: Target, local: str) -> str:
    return f"{local}@{target.name('RecipientDomain')}"


def _mail(headers: str, subject: str) -> bytes:
    encoded = base64.encodebytes(pdf(1, seed=len(subject))).decode()
    return (
        f"From: {SENDER}\r\n{headers}Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@office.example>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nscan\r\n"
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="s.pdf"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    ).encode()


def _send(stack: LocalStack, rcpt_to: list[str], data: bytes) -> str:
    return ops.send_raw(stack.info()["smtp"], data, to=rcpt_to, sender=SENDER).split()[-1]


def _items_by_user(target: Target, users: list[str], message_id: str) -> dict[str, int]:
    return {u: sum(1 for i in ops.inbox(target, u) if i["message_id"] == message_id) for u in users}


def _record(target: Target, message_id: str) -> dict[str, Any]:
    found = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}, ConsistentRead=True
    )
    return dict(found.get("Item", {}))


@pytest.fixture(scope="module")
def people(target: Target) -> dict[str, str]:
    """alice and bob of tenant one, carol of tenant two; each with one mailbox."""
    addresses = {name: _address(target, name) for name in ("alice", "bob", "carol")}
    ops.add_mailbox(target, addresses["alice"], user="alice", tenant="one")
    ops.add_mailbox(target, addresses["bob"], user="bob", tenant="one")
    ops.add_mailbox(target, addresses["carol"], user="carol", tenant="two")
    return addresses


USERS = ["alice", "bob", "carol"]


def test_a_bcc_recipient_gets_the_email_beside_the_to_recipient(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    message_id = _send(stack, [people["alice"], people["bob"]], _mail(f"To: {people['alice']}\r\n", "bcc bob"))

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 1, "bob": 1, "carol": 0}


def test_undisclosed_recipients_reach_every_envelope_recipient(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    message_id = _send(
        stack, [people["alice"], people["bob"]], _mail("To: undisclosed-recipients:;\r\n", "undisclosed")
    )

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 1, "bob": 1, "carol": 0}


def test_a_header_naming_another_tenant_does_not_leak_the_email_to_it(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    unknown = _address(target, "nobody-here")
    message_id = _send(stack, [people["carol"], unknown], _mail(f"To: {people['alice']}\r\n", "header leak"))

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 0, "bob": 0, "carol": 1}
    assert _record(target, message_id)["unroutable_recipients"] == {"N": "1"}


def test_forged_delivery_headers_add_no_recipient(stack: LocalStack, target: Target, people: dict[str, str]) -> None:
    headers = (
        f"To: {people['carol']}\r\nDelivered-To: {people['alice']}\r\nX-Original-To: {people['bob']}\r\n"
        f"Received: from evil by mx for <{people['alice']}>; Mon, 1 Dec 2025 10:00:00 +0000\r\n"
    )
    message_id = _send(stack, [people["carol"], _address(target, "another")], _mail(headers, "forged"))

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 0, "bob": 0, "carol": 1}


def test_two_addresses_of_one_user_make_one_item(stack: LocalStack, target: Target, people: dict[str, str]) -> None:
    tagged = _address(target, "alice+invoices")  # subaddressing: reaches alice's mailbox
    message_id = _send(stack, [people["alice"], tagged], _mail(f"To: {tagged}\r\n", "twice alice"))

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 1, "bob": 0, "carol": 0}


def test_fifty_envelope_recipients_twenty_registered_make_twenty_items(stack: LocalStack, target: Target) -> None:
    registered = [_address(target, f"team{n:02d}") for n in range(20)]
    for n, address in enumerate(registered):
        ops.add_mailbox(target, address, user=f"member{n:02d}", tenant="team")
    strangers = [_address(target, f"stranger{n:02d}") for n in range(30)]

    message_id = _send(stack, registered + strangers, _mail("To: undisclosed-recipients:;\r\n", "fifty"))

    assert final_status(target, message_id) == "delivered"
    counts = _items_by_user(target, [f"member{n:02d}" for n in range(20)], message_id)
    assert len(counts) == 20
    assert set(counts.values()) == {1}
    assert _record(target, message_id)["unroutable_recipients"] == {"N": "30"}


def test_no_registered_envelope_recipient_is_unroutable_even_with_a_registered_to_header(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    message_id = _send(stack, [_address(target, "ghost")], _mail(f"To: {people['alice']}\r\n", "ghost only"))

    assert final_status(target, message_id) == "unroutable"
    assert _items_by_user(target, USERS, message_id) == {"alice": 0, "bob": 0, "carol": 0}
    assert _record(target, message_id)["unroutable_recipients"] == {"N": "1"}


def test_the_same_notification_delivered_twice_starts_one_execution_and_one_item_per_user(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    """An SNS redelivery: the same notification published again for an email already stored."""
    local = stack.info()
    message_id = new_ses_message_id()
    data = _mail(f"To: {people['alice']}\r\n", "notified twice")
    store_as_ses(stack, data, message_id)
    now = dt.datetime.now(dt.UTC)
    notification = ses_notification(
        message_id=message_id,
        message=data,
        mail_from=SENDER,
        recipients=[people["alice"], people["bob"]],
        topic_arn=target.name("IncomingTopicArn"),
        bucket=local["incoming_bucket"],
        prefix=local["incoming_prefix"],
        received_at=now,
    )
    sns = target.client("sns")
    publish(sns, target.name("IncomingTopicArn"), notification)
    publish(sns, target.name("IncomingTopicArn"), notification)

    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 1, "bob": 1, "carol": 0}
    names = [
        e["name"]
        for e in target.client("stepfunctions").list_executions(stateMachineArn=target.name("StateMachineArn"))[
            "executions"
        ]
    ]
    assert names.count(message_id) == 1


def test_a_stored_email_without_notification_is_swept_unroutable_then_routed_by_the_operator(
    stack: LocalStack, target: Target, people: dict[str, str]
) -> None:
    message_id = new_ses_message_id()
    store_as_ses(stack, _mail(f"To: {people['alice']}\r\n", "never announced"), message_id)

    swept = operator.sweep(target, older_than=dt.timedelta(0))
    assert message_id in swept
    assert ops.email_status(target, message_id) == "unroutable"
    row = next(r for r in operator.list_emails(target, status="unroutable") if r["message_id"] == message_id)
    assert row["reason"] == "no-envelope"
    assert message_id not in operator.sweep(target, older_than=dt.timedelta(0))  # recorded once

    results = operator.replay(target, [message_id], to=[people["bob"]], rate=0)
    assert [r["action"] for r in results] == ["restart"]
    assert final_status(target, message_id) == "delivered"
    assert _items_by_user(target, USERS, message_id) == {"alice": 0, "bob": 1, "carol": 0}
    record = _record(target, message_id)
    assert record["envelope_source"] == {"S": "operator"}
    again = operator.replay(target, [message_id], to=[people["bob"]], rate=0)
    assert [r["action"] for r in again] == ["skipped"]  # delivered: the operator cannot route it twice
    wait_until(lambda: _items_by_user(target, USERS, message_id)["bob"] == 1, what="still one item")


def test_no_execution_of_this_run_carries_an_address(target: Target, people: dict[str, str]) -> None:
    sfn = target.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=target.name("StateMachineArn"))["executions"]
    assert len(executions) >= 8
    domain = target.name("RecipientDomain")
    for execution in executions:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        text = json.dumps([described.get("input"), described.get("output"), events], default=str)
        assert "@" + domain not in text
        assert SENDER not in text
