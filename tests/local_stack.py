"""Helpers for tests on a running local stack: waits with deadlines, histories, outcomes."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from mailroom import lifecycle

from mailroom_cli import operations as ops
from mailroom_cli.local.notification import publish, ses_notification
from mailroom_cli.local.provision import template_path
from mailroom_cli.local.ses_producer import KmsDataKeys, encrypt_for_ses
from mailroom_cli.local.stack import LocalOptions, LocalStack
from mailroom_cli.local.template import load_yaml
from mailroom_cli.target import Target, from_local

LOOPBACK = ["127.0.0.1", "::1", "localhost"]
DEADLINE_SECONDS = 60.0


@contextlib.contextmanager
def running_stack(directory: Path, *, template: Path | None = None) -> Iterator[LocalStack]:
    """A local stack on free ports, state and Lambda log in ``directory``, retry waits compressed 1000×.

    The waits the ASL asks for are still recorded (``stack.retry_clock.requested``). ``template``: a
    copy of template.yaml to run instead (``template_without``). With the shipped template, no request
    of any function may have been denied by its role (a denial a caller swallows still fails the suite).
    """
    options = LocalOptions(
        aws_port=0,
        smtp_port=0,
        retry_scale=0.001,
        template=template,
        state_file=directory / "local.json",
        lambda_log=directory / "lambda.log",
    )
    with LocalStack(options) as running:
        yield running
        denials = running.identities.denials if running.identities is not None else []
        assert template is not None or not denials, f"template.yaml does not grant: {denials}"


def template_without(directory: Path, resource: str, policy: str) -> Path:
    """A copy of template.yaml in ``directory`` whose ``resource`` lacks one policy: the statement with Sid
    ``policy``, or the SAM policy template named ``policy``. Code and definition paths point at the checkout.

    Intrinsics are kept in their long form (``{"Fn::Sub": ...}``), which CloudFormation reads alike.
    """
    shipped = template_path()
    data = load_yaml(shipped)
    policies = data["Resources"][resource]["Properties"]["Policies"]
    kept: list[Any] = []
    removed = 0
    for item in policies:
        if isinstance(item, dict) and policy in item:
            removed += 1
            continue
        if isinstance(item, dict) and "Statement" in item:
            statements = [s for s in item["Statement"] if s.get("Sid") != policy]
            removed += len(item["Statement"]) - len(statements)
            if not statements:
                continue
            item = {**item, "Statement": statements}
        kept.append(item)
    assert removed == 1, f"{resource} has {removed} policies named {policy}"
    data["Resources"][resource]["Properties"]["Policies"] = kept
    root = shipped.parent
    data["Globals"]["Function"]["CodeUri"] = str(root / data["Globals"]["Function"]["CodeUri"])
    for properties in (r.get("Properties", {}) for r in data["Resources"].values()):
        for name in ("CodeUri", "DefinitionUri"):
            if isinstance(properties.get(name), str):
                properties[name] = str(root / properties[name])
    copy = directory / f"template-without-{policy}.yaml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def store_as_ses(
    stack: LocalStack,
    mime: bytes,
    message_id: str,
    *,
    account: str | None = None,
    corrupt_at: int | None = None,
    key_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Write ``mime`` where SES writes it, encrypted as SES does (``corrupt_at``: one ciphertext bit
    flipped; ``key_id``: under another key than its own); ``announce`` then notifies, as SES would."""
    info = stack.info()
    encrypted = encrypt_for_ses(
        mime,
        key_service=KmsDataKeys(stack.client("kms")),
        kms_key_id=info["kms_key_arn"],
        message_id=message_id,
        rule_name=info["receipt_rule_name"],
        account_id=account or info["account_id"],
    )
    body = bytearray(encrypted.body.read())
    if corrupt_at is not None:
        body[corrupt_at] ^= 0x01
    key = info["incoming_prefix"] + (key_id or message_id)
    stack.client("s3").put_object(
        Bucket=info["incoming_bucket"], Key=key, Body=bytes(body), Metadata=encrypted.metadata
    )
    return bytes(body), encrypted.metadata


def announce(
    target: Target,
    message_id: str,
    recipients: list[str],
    *,
    message: bytes = b"",
    verdicts: dict[str, str] | None = None,
) -> None:
    """Publish SES's receipt notification for ``<prefix><message_id>`` to the stack's topic, as SES does once
    it has stored the object (for objects a test writes into the incoming bucket itself)."""
    notification = ses_notification(
        message_id=message_id,
        message=message,
        mail_from="scanner@office.example",
        recipients=recipients,
        topic_arn=target.name("IncomingTopicArn"),
        bucket=target.name("IncomingBucketName"),
        prefix=target.names.get("IncomingPrefix", "inbound/"),
        received_at=datetime.now(UTC),
        verdicts=verdicts,
    )
    publish(target.client("sns"), target.name("IncomingTopicArn"), notification)


def send_scan(stack: LocalStack, to: str, subject: str) -> str:
    """One short email with a small PDF (its bytes name the subject), over the stack's SMTP listener; its SES id."""
    message = EmailMessage()
    message["From"] = "scanner@office.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("x")
    message.add_attachment(b"%PDF-1.4 " + subject.encode(), maintype="application", subtype="pdf", filename="s.pdf")
    return ops.send(stack.info()["smtp"], message, to=[to], sender="scanner@office.example").split()[-1]


def wait_until(check: Callable[[], Any], *, what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def final_status(target: Target, message_id: str) -> str:
    """Wait for the email's status record to reach an outcome and its execution to end (a Record* state or
    Inbox writes the outcome a state before the execution ends: its history is whole only then), or for its
    execution to fail."""
    sfn = target.client("stepfunctions")
    arn = lifecycle.execution_arn(target.name("StateMachineArn"), message_id)

    def done() -> str | None:
        status = ops.email_status(target, message_id)
        try:
            execution = sfn.describe_execution(executionArn=arn)["status"]
        except sfn.exceptions.ExecutionDoesNotExist:
            execution = None
        if status in lifecycle.OUTCOMES:
            return status if execution != "RUNNING" else None
        return "failed" if execution in ("FAILED", "TIMED_OUT", "ABORTED") else None

    return str(wait_until(done, what=f"an outcome for {message_id}"))


def history(target: Target, message_id: str) -> list[dict[str, Any]]:
    """The execution's full history, oldest first."""
    sfn = target.client("stepfunctions")
    arn = lifecycle.execution_arn(target.name("StateMachineArn"), message_id)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def entered_states(events: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order (one per state transition)."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def attachment_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- fixtures (conftests import them)

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def addresses_in_executions(stack: LocalStack) -> dict[str, list[str]]:
    """Execution name → the addresses found in its input, output and history (none, if all is well)."""
    sfn = stack.client("stepfunctions")
    found: dict[str, list[str]] = {}
    machine = stack.info()["state_machine_arn"]
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            arn = execution["executionArn"]
            described = sfn.describe_execution(executionArn=arn)
            events = [
                e for p in sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in p["events"]
            ]
            text = json.dumps([described.get("input"), described.get("output"), events], default=str)
            hits = [m.group(0) for m in ADDRESS.finditer(text)]
            if hits:
                found[execution["name"]] = hits
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports, retry waits compressed 1000× (the requested ones are recorded)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
        leaked = addresses_in_executions(running)
        assert not leaked, f"addresses in Step Functions (input, output or history): {leaked}"


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return from_local(stack.info())
