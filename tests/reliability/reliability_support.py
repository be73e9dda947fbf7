"""What the reliability suites share: sending, waiting, counting archive objects, queues and executions.

Every figure a suite measures is kept in ``FIGURES`` and printed at the end of the run (and written
to ``$MAILROOM_RELIABILITY_JSON`` when set): ``docs/reliability.md`` quotes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from local_stack import wait_until
from mailroom import lifecycle
from mailroom.layout import archive_blob_key, archive_manifest_key

from mailroom_cli import operations as ops
from mailroom_cli.local.poller import SqsPoller
from mailroom_cli.local.runtime import Invocation
from mailroom_cli.local.stack import REGION, LocalStack
from mailroom_cli.target import Target

OUTCOMES = lifecycle.OUTCOMES
MUTANT_VARIABLE = "MAILROOM_MUTANT"  # conftest.py puts the mutant it names in place (test_mutation_check.py)
UNCONDITIONAL_INBOX_WRITE = "unconditional-inbox-write"
FIGURES: list[dict[str, Any]] = []


def record_figure(table: str, **row: Any) -> None:
    """Keep one measured row of ``table`` for the end-of-run summary."""
    FIGURES.append({"table": table, **row})


# ---------------------------------------------------------------------------- sending


def email_bytes(*, to: list[str], subject: str, body: str, files: list[tuple[str, bytes]]) -> bytes:
    """A plain email with ``files`` attached, as the bytes SMTP sends."""
    message = EmailMessage()
    message["From"] = "scanner@office.example"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = f"<{hashlib.sha256(subject.encode()).hexdigest()[:24]}@office.example>"
    message.set_content(body)
    for name, data in files:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes(policy=SMTP)


def send(stack: LocalStack, data: bytes, to: list[str]) -> str:
    """Send over SMTP to the stack's SES listener; the SES message id."""
    reply = ops.send_raw(stack.info()["smtp"], data, to=to, sender="scanner@office.example")
    return reply.split()[-1]


def send_many(stack: LocalStack, emails: list[tuple[bytes, list[str]]], *, threads: int = 4) -> list[str]:
    """Send every email (a few SMTP connections at a time); their SES message ids, in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda email: send(stack, *email), emails))


# ---------------------------------------------------------------------------- executions


def execution_arn(target: Target, name: str) -> str:
    """The ARN of the execution named ``name`` (an SES message id)."""
    return lifecycle.execution_arn(target.name("StateMachineArn"), name)


def settled(target: Target, message_id: str, *, timeout: float = 60.0) -> str:
    """Wait until the email's execution has stopped and its status record says so; the execution's status.

    The status record alone is not enough: Inbox marks an email delivered *before* its invocation
    returns, so a crash after that write leaves the execution running (retrying) with the status
    already delivered.
    """
    sfn = target.client("stepfunctions")
    arn = execution_arn(target, message_id)

    def done() -> str | None:
        try:
            status = str(sfn.describe_execution(executionArn=arn)["status"])
        except sfn.exceptions.ExecutionDoesNotExist:
            return None
        recorded = ops.email_status(target, message_id)
        if status == "SUCCEEDED" and recorded in OUTCOMES:
            return status
        if status in ("FAILED", "TIMED_OUT", "ABORTED") and recorded == "failed":  # the Recorder has run
            return status
        return None

    return str(wait_until(done, what=f"{message_id} to settle", timeout=timeout))


def execution_names(target: Target) -> Counter[str]:
    """How many executions carry each name."""
    sfn = target.client("stepfunctions")
    names: Counter[str] = Counter()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=target.name("StateMachineArn")):
        names.update(e["name"] for e in page["executions"])
    return names


def event_ids_contiguous(target: Target, message_id: str) -> bool:
    """History event ids run 1..n without gaps or repeats (redrives included)."""
    sfn = target.client("stepfunctions")
    ids: list[int] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn(target, message_id)):
        ids.extend(int(e["id"]) for e in page["events"])
    return ids == list(range(1, len(ids) + 1))


@dataclass
class Invocations:
    """Every Lambda call of the stack, as the runtime saw it: event, error, result."""

    calls: list[Invocation] = field(default_factory=list)

    def __call__(self, call: Invocation) -> None:
        self.calls.append(call)  # list.append is atomic: observers run on many threads

    def of(self, step: str, message_id: str | None = None) -> list[Invocation]:
        """Calls of a step's function (``Archive`` → ``ArchiveFunction``), for one email when given."""
        names = {step, f"{step}Function"}
        return [
            c
            for c in list(self.calls)
            if c.function.logical_id in names
            and (message_id is None or (isinstance(c.event, dict) and c.event.get("message_id") == message_id))
        ]


# ---------------------------------------------------------------------------- archive and inbox


def inbox_new_items(invocations: Invocations, message_id: str) -> list[int]:
    """The ``new_items`` each Inbox call for the email answered, in order: its own count of items it wrote.

    The inbox table cannot show a duplicate (its key, user + SES message id, makes a second write
    overwrite the first), so the evidence is the code's answer: a conditional write that finds the
    item counts 0. Calls that crashed *after* running are included (their writes happened); calls
    refused before running wrote nothing and answered nothing.
    """
    return [int(c.result["new_items"]) for c in invocations.of("Inbox", message_id) if c.result is not None]


def archive_versions(target: Target, message_id: str) -> tuple[list[str], int]:
    """Keys of every object version under ``messages/<id>/`` (a key twice = written twice), and delete markers."""
    s3 = target.client("s3")
    keys: list[str] = []
    markers = 0
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=target.name("ArchiveBucketName"), Prefix=f"messages/{message_id}/"
    )
    for page in pages:
        keys.extend(v["Key"] for v in page.get("Versions", []))
        markers += len(page.get("DeleteMarkers", []))
    return keys, markers


def archived_files(target: Target, message_id: str) -> set[str]:
    """The archive keys the archived manifest names (original, bodies, attachments) plus the manifest's own."""
    body = target.client("s3").get_object(
        Bucket=target.name("ArchiveBucketName"), Key=archive_manifest_key(message_id)
    )["Body"]
    keys = set(_keys_in(json.loads(body.read())))
    return {k for k in keys if k.startswith(f"messages/{message_id}/")} | {archive_manifest_key(message_id)}


def _keys_in(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for name, value in document.items():
            if name == "key" and isinstance(value, str):
                yield value
            else:
                yield from _keys_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from _keys_in(value)


def blob_key(message_id: str, data: bytes) -> str:
    """Where the archive keeps ``data`` for this email."""
    return archive_blob_key(message_id, hashlib.sha256(data).hexdigest())


def inbox_counts(target: Target, user: str) -> Counter[str]:
    """How many inbox items ``user`` has for each SES message id."""
    return Counter(row["message_id"] for row in ops.inbox(target, user))


# ---------------------------------------------------------------------------- queues and pollers


def queue_depth(target: Target, queue: str = "IncomingQueueUrl") -> int:
    """Messages in the queue: visible, in flight and delayed."""
    attributes = target.client("sqs").get_queue_attributes(
        QueueUrl=target.name(queue),
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def pause_pollers(stack: LocalStack) -> None:
    """Stop the Starter's event source mapping (what disabling it on AWS does): messages wait in the queue."""
    for poller in stack.pollers:
        poller.stop()
    stack.pollers.clear()


def resume_pollers(stack: LocalStack) -> None:
    """Start fresh pollers for the template's event sources (the stack stops them when it stops)."""
    for source in stack.provisioned.event_sources:
        poller = SqsPoller(source, sqs=stack.client("sqs"), lambda_client=stack.client("lambda"), region=REGION)
        poller.start()
        stack.pollers.append(poller)


def lambda_log_lines(stack: LocalStack, message: str) -> list[dict[str, Any]]:
    """The handlers' JSON log lines (what CloudWatch Logs would hold) whose ``message`` is ``message``."""
    assert stack.options.lambda_log is not None
    found = []
    for line in Path(stack.options.lambda_log).read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("message") == message:
            found.append(entry)
    return found


def poll(check: Callable[[], Any], *, what: str, timeout: float, every: float = 0.1) -> float:
    """Wait for ``check`` like ``wait_until``, checking every ``every`` seconds; the seconds it took.

    Checks that scan a table cost the emulator (one process, one GIL) as much as a few emails do:
    with a thousand in flight, check every second or so.
    """
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def outage_emails() -> int:
    """How many emails the outage suite sends: ``$MAILROOM_OUTAGE_EMAILS`` (CI: 60; ``make reliability``: 1000)."""
    return int(os.environ.get("MAILROOM_OUTAGE_EMAILS", "60"))
