"""Each function runs under its own role from template.yaml: a statement missing there fails locally as on AWS.

For every pipeline function, a copy of the template without one statement that function needs: the
email then fails at that function with ``DependencyAccessDeniedError`` (the ASL's operator retrier
runs, then the execution fails at the step; for the Starter, the SQS message is not consumed). The
shipped template delivers. One stack per template (about 5 s each): one email per case.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_stack import (
    LOOPBACK,
    announce,
    entered_states,
    final_status,
    history,
    running_stack,
    send_scan,
    template_without,
    wait_until,
)

from mailroom_cli import operations as ops
from mailroom_cli.local.runtime import Invocation
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target, from_local

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

ACCESS_DENIED = "DependencyAccessDeniedError"
OPERATOR_RETRIES = 2  # the ASL's ["ConfigurationError", "DependencyAccessDeniedError"] retrier


@contextlib.contextmanager
def _stack(directory: Path, template: Path | None = None) -> Iterator[tuple[LocalStack, Target, str]]:
    with running_stack(directory, template=template) as stack:
        target = from_local(stack.info())
        mailbox = f"iam@{target.name('RecipientDomain')}"
        ops.add_mailbox(target, mailbox, user="ida")
        yield stack, target, mailbox


def _send(stack: LocalStack, to: str) -> str:
    return send_scan(stack, to, "least privilege")


def _task_errors(events: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def _fails_at(target: Target, message_id: str, step: str, states: list[str]) -> None:
    assert final_status(target, message_id) == "failed"
    events = history(target, message_id)
    assert entered_states(events) == states
    assert states[-1] == step
    assert _task_errors(events) == [ACCESS_DENIED] * (1 + OPERATOR_RETRIES)
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["error"] == ACCESS_DENIED


def test_the_shipped_template_delivers_and_a_missing_incoming_object_reads_as_404(tmp_path: Path) -> None:
    with _stack(tmp_path) as (stack, target, mailbox):
        message_id = _send(stack, mailbox)
        assert final_status(target, message_id) == "delivered"
        assert [i["message_id"] for i in ops.inbox(target, "ida")] == [message_id]

        # Decrypt may list the incoming bucket: a missing object is NoSuchKey → SourceObjectMissingError.
        missing = "0" * 40
        announce(target, missing, [mailbox])
        assert final_status(target, missing) == "quarantined"
        record = target.client("dynamodb").get_item(
            TableName=target.name("StatusTableName"), Key={"message_id": {"S": missing}}
        )["Item"]
        assert (record["step"]["S"], record["error"]["S"]) == ("Decrypt", "SourceObjectMissingError")


PIPELINE_STEPS = [
    ("DecryptFunction", "ReadSesObjects", "Decrypt", ["Decrypt"]),
    ("ParseFunction", "LookUpMailboxes", "Parse", ["Decrypt", "Parse"]),
    ("ArchiveFunction", "ReadAndWriteArchive", "Archive", ["Decrypt", "Parse", "Archive"]),
    ("InboxFunction", "WriteInboxItemsAndDuplicateMarkers", "Inbox", ["Decrypt", "Parse", "Archive", "Inbox"]),
]


@pytest.mark.parametrize(
    ("function", "statement", "step", "states"), PIPELINE_STEPS, ids=[f"{f}-{s}" for f, s, _, _ in PIPELINE_STEPS]
)
def test_a_statement_missing_from_the_template_fails_its_step_with_access_denied(
    tmp_path: Path, function: str, statement: str, step: str, states: list[str]
) -> None:
    with _stack(tmp_path, template_without(tmp_path, function, statement)) as (stack, target, mailbox):
        message_id = _send(stack, mailbox)
        _fails_at(target, message_id, step, states)
        assert ops.inbox(target, "ida") == []


def test_without_list_bucket_a_missing_incoming_object_is_403_so_access_denied_not_missing(tmp_path: Path) -> None:
    template = template_without(tmp_path, "DecryptFunction", "ListIncomingSoAMissingKeyIs404")
    with _stack(tmp_path, template) as (_, target, mailbox):
        missing = "1" * 40
        announce(target, missing, [mailbox])
        _fails_at(target, missing, "Decrypt", ["Decrypt"])


def test_a_starter_without_its_sam_step_functions_policy_leaves_the_message_on_the_queue(tmp_path: Path) -> None:
    template = template_without(tmp_path, "StarterFunction", "StepFunctionsExecutionPolicy")
    with _stack(tmp_path, template) as (stack, target, mailbox):
        starter = stack.runtime.by_step("Starter").name
        failed: list[Invocation] = []
        stack.observe(lambda call: failed.append(call) if call.function.name == starter and call.error_type else None)
        message_id = _send(stack, mailbox)

        wait_until(lambda: failed, what="the Starter to fail its batch")
        assert ACCESS_DENIED in str(failed[0].error_message)  # the batch's one record failed with it
        assert stack.identities is not None
        assert any("states:StartExecution" in denial for denial in stack.identities.denials)
        # The whole batch failed: the message was not deleted and comes back after the visibility timeout.
        attributes = target.client("sqs").get_queue_attributes(
            QueueUrl=target.name("IncomingQueueUrl"),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert (
            int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
            == 1
        )
        sfn = target.client("stepfunctions")
        assert sfn.list_executions(stateMachineArn=target.name("StateMachineArn"))["executions"] == []
        assert ops.email_status(target, message_id) == "received"  # StatusRecords is still granted


def test_a_state_machine_without_its_status_statement_cannot_record_an_unroutable_email(tmp_path: Path) -> None:
    template = template_without(tmp_path, "InboundEmailStateMachine", "RecordOutcomes")
    with _stack(tmp_path, template) as (stack, target, _):
        nobody = f"nobody@{target.name('RecipientDomain')}"
        message_id = _send(stack, nobody)
        assert final_status(target, message_id) == "failed"
        events = history(target, message_id)
        assert entered_states(events)[-1] == "RecordUnroutable"
        assert stack.identities is not None
        assert any(
            "dynamodb:UpdateItem" in d for d in stack.identities.denials if d.startswith("mailroom-local-inbound")
        )
