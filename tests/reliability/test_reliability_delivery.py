"""At-least-once inputs, a Starter outage and poison messages, on the local stack's real queue and poller.

SNS and SQS deliver SES's notifications at least once: every duplicate must start nothing new and put
nothing twice in an inbox. An outage of the Starter (its event source mapping disabled) must lose
nothing: the queue holds every email until it is back. A message that names no email goes to the
DLQ after ``maxReceiveCount`` receives, and the Starter's log says why.

The queue's ``VisibilityTimeout`` is 181 s in the template (6 × the Starter's timeout, as AWS
advises); tests that need a message to come back set it to 1 s on the local queue for their own
duration (``short_visibility``) and restore it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from local_stack import LOOPBACK, wait_until
from mailroom.errors import WorkflowUnavailableError
from reliability_support import (
    Invocations,
    email_bytes,
    execution_names,
    inbox_counts,
    inbox_new_items,
    lambda_log_lines,
    outage_emails,
    pause_pollers,
    poll,
    queue_depth,
    record_figure,
    resume_pollers,
    send_many,
    settled,
)

from mailroom_cli import operations as ops
from mailroom_cli import operator
from mailroom_cli.local.stack import REGION, LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

USER = "dana"
COPIES = 3
OUTAGE = outage_emails()


@pytest.fixture(scope="module")
def mailbox(target: Target) -> str:
    address = f"{USER}@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, address, user=USER)
    return address


@pytest.fixture
def short_visibility(stack: LocalStack, target: Target) -> Iterator[int]:
    """The incoming queue's VisibilityTimeout at 1 s for this test (181 s in the template), restored after.

    The pollers are paused around each change: a long poll already waiting would otherwise still
    receive with the old timeout.
    """
    sqs = target.client("sqs")
    url = target.name("IncomingQueueUrl")
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Policy"])["Attributes"]
    # moto drops a queue's Policy on any SetQueueAttributes that omits it: always pass it back.
    pause_pollers(stack)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={**before, "VisibilityTimeout": "1"})
    resume_pollers(stack)
    yield 1
    pause_pollers(stack)
    sqs.set_queue_attributes(QueueUrl=url, Attributes=before)
    resume_pollers(stack)


@pytest.fixture(autouse=True)
def pollers_running(stack: LocalStack) -> Iterator[None]:
    """Whatever a test paused, the next one starts with the Starter polling."""
    yield
    if not stack.pollers:
        resume_pollers(stack)


def _wait_drained(target: Target, *, timeout: float = 60.0) -> float:
    return poll(lambda: queue_depth(target) == 0, what="the incoming queue to drain", timeout=timeout)


def _emails(mailbox: str, tag: str, count: int) -> list[tuple[bytes, list[str]]]:
    """``count`` distinct one-attachment emails to ``mailbox``."""
    emails = []
    for n in range(count):
        files = [(f"{n}.pdf", f"%PDF-1.4 {tag} {n}".encode())]
        emails.append((email_bytes(to=[mailbox], subject=f"{tag} {n}", body=f"{tag} {n}", files=files), [mailbox]))
    return emails


def _starter_said(stack: LocalStack, message_ids: list[str]) -> dict[str, Counter[str]]:
    """Per email, how often the Starter logged "execution started" and "execution existed already"."""
    said: dict[str, Counter[str]] = {m: Counter() for m in message_ids}
    for message in ("execution started", "execution existed already"):
        for line in lambda_log_lines(stack, message):
            if line.get("message_id") in said:
                said[line["message_id"]][message] += 1
    return said


def _all_delivered(target: Target, message_ids: list[str]) -> bool:
    delivered = {r["message_id"] for r in operator.list_emails(target, status="delivered")}
    return delivered >= set(message_ids)


def _delivered_tracker(target: Target, message_ids: list[str]) -> Callable[[], bool]:
    """A check that every email is delivered, reading only the status records not yet seen delivered.

    The stack and this test share one process: listing every delivered record each round cost the
    emulator as much as the emails did (a quarter of its CPU while 300 drained).
    """
    pending = set(message_ids)
    ddb, table = target.client("dynamodb"), target.name("StatusTableName")

    def check() -> bool:
        for chunk in [sorted(pending)[i : i + 100] for i in range(0, len(pending), 100)]:
            keys = [{"message_id": {"S": m}} for m in chunk]
            response = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
            for item in response.get("Responses", {}).get(table, []):
                if item.get("status", {}).get("S") == "delivered":
                    pending.discard(item["message_id"]["S"])
        return not pending

    return check


def test_each_notification_queued_three_times_starts_one_execution_and_makes_one_item(
    stack: LocalStack, target: Target, mailbox: str, invocations: Invocations
) -> None:
    sqs = target.client("sqs")
    url = target.name("IncomingQueueUrl")
    pause_pollers(stack)
    message_ids = send_many(stack, _emails(mailbox, "thrice", 6))
    wait_until(lambda: queue_depth(target) == len(message_ids), what="one notification per email in the queue")
    originals: list[dict[str, Any]] = []
    while len(originals) < len(message_ids):
        originals += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for _ in range(COPIES):  # all first copies, then all second ones…: copies meet in different batches
        for message in originals:
            sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    for message in originals:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert queue_depth(target) == COPIES * len(message_ids)

    resume_pollers(stack)
    wait_until(lambda: _all_delivered(target, message_ids), what="every email delivered")
    _wait_drained(target)

    names = execution_names(target)
    inbox = inbox_counts(target, USER)
    new_items = {m: inbox_new_items(invocations, m) for m in message_ids}
    assert {m: (names[m], inbox[m], new_items[m]) for m in message_ids} == dict.fromkeys(message_ids, (1, 1, [1]))
    said = _starter_said(stack, message_ids)  # every copy did reach the Starter
    assert {m: (s["execution started"], s["execution existed already"]) for m, s in said.items()} == dict.fromkeys(
        message_ids, (1, COPIES - 1)
    )
    assert queue_depth(target, "DeadLetterQueueUrl") == 0
    record_figure(
        "at-least-once",
        scenario="each SES notification queued 3× (pollers racing)",
        emails=len(message_ids),
        deliveries=COPIES * len(message_ids),
        executions=sum(names[m] for m in message_ids),
        inbox_items=sum(inbox[m] for m in message_ids),
        new_items=sum(sum(n) for n in new_items.values()),
    )


def test_an_sqs_message_redelivered_three_times_starts_one_execution_and_makes_one_item(
    stack: LocalStack, target: Target, mailbox: str, invocations: Invocations, short_visibility: int
) -> None:
    # The Starter starts the execution, then its invocation fails (as if it timed out after the
    # call): SQS gives the same message again after the visibility timeout, twice.
    stack.runtime.fail("Starter", WorkflowUnavailableError, times=COPIES - 1, after=True)
    [message_id] = send_many(stack, _emails(mailbox, "redelivered", 1))

    assert settled(target, message_id) == "SUCCEEDED"
    _wait_drained(target)

    received = [
        (r["messageId"], r["attributes"].get("ApproximateReceiveCount"), call.error_type)
        for call in invocations.of("Starter")
        for r in call.event.get("Records", [])
        if message_id in r["body"]
    ]
    [sqs_id] = {r[0] for r in received}  # one SQS message…
    assert received == [  # …received three times: twice failed after starting, then done
        (sqs_id, "1", "WorkflowUnavailableError"),
        (sqs_id, "2", "WorkflowUnavailableError"),
        (sqs_id, "3", None),
    ]
    assert execution_names(target)[message_id] == 1
    assert inbox_counts(target, USER)[message_id] == 1
    assert inbox_new_items(invocations, message_id) == [1]
    said = _starter_said(stack, [message_id])[message_id]
    assert (said["execution started"], said["execution existed already"]) == (1, COPIES - 1)
    record_figure(
        "at-least-once",
        scenario="one SQS message received 3× (Starter failed after starting, twice)",
        emails=1,
        deliveries=len(received),
        executions=execution_names(target)[message_id],
        inbox_items=inbox_counts(target, USER)[message_id],
        new_items=sum(inbox_new_items(invocations, message_id)),
    )


def test_one_sqs_message_given_to_three_starters_at_once_starts_one_execution(
    stack: LocalStack, target: Target, mailbox: str, invocations: Invocations
) -> None:
    sqs = target.client("sqs")
    url = target.name("IncomingQueueUrl")
    pause_pollers(stack)
    [message_id] = send_many(stack, _emails(mailbox, "concurrent", 1))
    wait_until(lambda: queue_depth(target) == 1, what="the notification in the queue")
    [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": stack.provisioned.event_sources[0].queue_arn,
                "awsRegion": REGION,
            }
        ]
    }
    lambda_client = stack.client("lambda")
    starter = stack.provisioned.event_sources[0].function
    together = threading.Barrier(COPIES)
    replies: list[dict[str, Any]] = []

    def deliver() -> None:
        together.wait()
        response = lambda_client.invoke(FunctionName=starter, Payload=json.dumps(event).encode())
        replies.append({"error": response.get("FunctionError"), **json.loads(response["Payload"].read())})

    threads = [threading.Thread(target=deliver) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    assert replies == [{"error": None, "batchItemFailures": []}] * COPIES
    assert settled(target, message_id) == "SUCCEEDED"
    assert execution_names(target)[message_id] == 1
    assert inbox_counts(target, USER)[message_id] == 1
    assert inbox_new_items(invocations, message_id) == [1]
    said = _starter_said(stack, [message_id])[message_id]
    assert (said["execution started"], said["execution existed already"]) == (1, COPIES - 1)
    record_figure(
        "at-least-once",
        scenario="one SQS message to 3 Starters at once",
        emails=1,
        deliveries=COPIES,
        executions=execution_names(target)[message_id],
        inbox_items=inbox_counts(target, USER)[message_id],
        new_items=sum(inbox_new_items(invocations, message_id)),
    )


@pytest.mark.timeout(300 + 3 * OUTAGE)
def test_an_outage_of_the_starter_loses_nothing_and_the_queue_drains_after(
    stack: LocalStack, target: Target, mailbox: str, invocations: Invocations
) -> None:
    executions_before = sum(execution_names(target).values())
    pause_pollers(stack)
    started = time.monotonic()
    message_ids = send_many(stack, _emails(mailbox, "outage", OUTAGE))
    send_seconds = time.monotonic() - started
    wait_until(lambda: queue_depth(target) == OUTAGE, what=f"{OUTAGE} notifications waiting in the queue")
    assert sum(execution_names(target).values()) == executions_before  # nothing started while down
    assert len(set(message_ids)) == OUTAGE

    restarted = time.monotonic()
    resume_pollers(stack)
    deadline = 60 + 2 * OUTAGE  # generous: the emulator delivers about one email a second on two cores
    drained = poll(lambda: queue_depth(target) == 0, what="the queue to drain", timeout=deadline, every=1)
    poll(_delivered_tracker(target, message_ids), what="every email delivered", timeout=deadline, every=2)
    delivered = time.monotonic() - restarted

    names = execution_names(target)
    inbox = inbox_counts(target, USER)
    lost = [m for m in message_ids if inbox[m] == 0]
    # Exactly one execution under the email's own name (none would mean it was started otherwise, or
    # not at all), and Inbox's own answer: one new item, written once (the table cannot show a second).
    not_one_execution = [m for m in message_ids if names[m] != 1]
    duplicated = [m for m in message_ids if inbox_new_items(invocations, m) != [1]]
    assert lost == []
    assert not_one_execution == []
    assert duplicated == []
    assert queue_depth(target, "DeadLetterQueueUrl") == 0
    numbers = operator.stats(target)
    assert (numbers["failed"], numbers["in_flight"]) == ({}, 0)
    record_figure(
        "outage",
        emails=OUTAGE,
        queued_while_down=OUTAGE,
        executions_while_down=0,
        send_s=round(send_seconds, 1),
        queue_drained_s=round(drained, 1),
        all_delivered_s=round(delivered, 1),
        emails_per_s=round(OUTAGE / delivered, 1),
        delivered=OUTAGE - len(lost),
        lost=len(lost),
        duplicates=len(duplicated),
        dlq=0,
        p50_ms=numbers["latency_ms"]["p50"],
        p95_ms=numbers["latency_ms"]["p95"],
    )


POISON = {
    "not JSON": ("this is not an SES notification", "NotAnEmail: the message body is not JSON"),
    "a JSON array": ("[1, 2, 3]", "NotAnEmail: the message body is not a JSON object"),
    "another notification": ('{"notificationType": "Bounce"}', "NotAnEmail: notificationType 'Bounce' is not an SES"),
    "a notification without receipt": (
        '{"notificationType": "Received", "mail": {}}',
        "NotAnEmail: the notification has no receipt object",
    ),
}


def test_poison_messages_reach_the_dlq_after_max_receive_count_with_a_reason(
    stack: LocalStack, target: Target, short_visibility: int
) -> None:
    sqs = target.client("sqs")
    url, dlq = target.name("IncomingQueueUrl"), target.name("DeadLetterQueueUrl")
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    max_receives = int(policy["maxReceiveCount"])
    assert policy["deadLetterTargetArn"].endswith(":" + dlq.rsplit("/", 1)[1])
    sent = {kind: sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"] for kind, (body, _) in POISON.items()}
    started = time.monotonic()

    wait_until(lambda: queue_depth(target, "DeadLetterQueueUrl") == len(POISON), what="every poison message in the DLQ",
               timeout=30 + 5 * max_receives * short_visibility)  # fmt: skip
    seconds = time.monotonic() - started
    assert queue_depth(target) == 0
    dead: list[dict[str, Any]] = []
    while len(dead) < len(POISON):
        dead += sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    assert {m["MessageId"]: m["Body"] for m in dead} == {sent[kind]: body for kind, (body, _) in POISON.items()}
    rejected = lambda_log_lines(stack, "rejected an SQS message that names no email")
    for kind, (_, reason) in POISON.items():
        lines = [line for line in rejected if line.get("sqs_message_id") == sent[kind]]
        assert [line["receive_count"] for line in lines] == [str(n) for n in range(1, max_receives + 1)]
        assert all(line["reason"].startswith(reason) for line in lines), lines
    for message in dead:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    record_figure(
        "poison",
        messages=len(POISON),
        max_receive_count=max_receives,
        visibility_timeout_s=short_visibility,
        receives_each=max_receives,
        in_dlq=len(dead),
        seconds_to_dlq=round(seconds, 1),
        reasons="; ".join(reason for _, reason in POISON.values()),
    )
