"""Retry and Catch on the local stack: the real ASL, faults injected into the real handlers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from local_stack import LOOPBACK, entered_states, final_status, history, send_scan, wait_until
from mailroom import lifecycle
from mailroom.errors import StorageUnavailableError, TamperedCiphertextError

from mailroom_cli import operations as ops
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)
ASL = json.loads(open("statemachine/inbound_email.asl.json").read())  # noqa: SIM115


@pytest.fixture(autouse=True)
def healed(stack: LocalStack) -> Iterator[None]:
    stack.runtime.heal()
    yield
    stack.runtime.heal()


@pytest.fixture(scope="module")
def mailbox(target: Target) -> str:
    address = f"retry@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, address, user="rita")
    return address


def _send(stack: LocalStack, to: str, subject: str) -> str:
    return send_scan(stack, to, subject)


def _attempts(events: list[dict[str, Any]], function: str) -> list[dict[str, Any]]:
    needle = f'function:{function}"'  # the FunctionName parameter, not a bucket named alike in the payload
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    return [e for e in scheduled if needle in e["taskScheduledEventDetails"]["parameters"]]


def _failures(events: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def _storage_retrier() -> dict[str, Any]:
    return next(r for r in ASL["States"]["Archive"]["Retry"] if "StorageUnavailableError" in r["ErrorEquals"])


def test_a_transient_archive_failure_is_retried_and_the_email_is_delivered_once(
    stack: LocalStack, target: Target, mailbox: str
) -> None:
    stack.runtime.fail("Archive", StorageUnavailableError, times=2)
    waits_before = len(stack.retry_clock.requested)
    message_id = _send(stack, mailbox, "transient")

    assert final_status(target, message_id) == "delivered"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "Archive", "Inbox"]  # a retry is not a transition
    assert len(_attempts(events, "mailroom-local-archive")) == 3
    assert _failures(events) == ["StorageUnavailableError", "StorageUnavailableError"]
    # The waits moto was asked for follow the ASL: FULL jitter below IntervalSeconds × BackoffRate^n.
    retrier = _storage_retrier()
    waits = stack.retry_clock.requested[waits_before:]
    assert len(waits) == 2
    for n, wait in enumerate(waits):
        ceiling = min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"])
        assert 0 <= wait <= ceiling
    assert [i["message_id"] for i in ops.inbox(target, "rita")].count(message_id) == 1


def test_when_retries_are_exhausted_the_execution_fails_at_that_step(
    stack: LocalStack, target: Target, mailbox: str
) -> None:
    stack.runtime.fail("Archive", StorageUnavailableError, times=None)
    message_id = _send(stack, mailbox, "exhausted")

    assert final_status(target, message_id) == "failed"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "Archive"]
    assert len(_attempts(events, "mailroom-local-archive")) == 1 + _storage_retrier()["MaxAttempts"]
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["error"] == "StorageUnavailableError"
    assert message_id not in [i["message_id"] for i in ops.inbox(target, "rita")]


def test_a_permanent_error_is_caught_and_recorded_as_quarantined_with_step_and_error(
    stack: LocalStack, target: Target, mailbox: str
) -> None:
    stack.runtime.fail("Decrypt", TamperedCiphertextError, times=1)
    message_id = _send(stack, mailbox, "tampered")

    assert final_status(target, message_id) == "quarantined"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "QuarantinedAtDecrypt", "RecordQuarantine", "Quarantined"]
    assert len(_attempts(events, "mailroom-local-decrypt")) == 1  # permanent: never retried
    record = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}
    )["Item"]
    assert record["status"]["S"] == "quarantined"
    assert record["step"]["S"] == "Decrypt"
    assert record["error"]["S"] == "TamperedCiphertextError"
    assert record["execution_arn"]["S"].endswith(f":{message_id}")


def test_a_duplicated_s3_event_starts_nothing_new(stack: LocalStack, target: Target, mailbox: str) -> None:
    message_id = _send(stack, mailbox, "delivered twice by SQS")
    assert final_status(target, message_id) == "delivered"
    key = target.names["IncomingPrefix"] + message_id
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-1",
                "eventTime": "2026-11-27T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": target.name("IncomingBucketName")}, "object": {"key": key, "size": 1}},
            }
        ]
    }
    sqs = target.client("sqs")
    for _ in range(3):
        sqs.send_message(QueueUrl=target.name("IncomingQueueUrl"), MessageBody=json.dumps(event))

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=target.name("IncomingQueueUrl"),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(v == "0" for v in attributes.values())

    wait_until(drained, what="the queue to drain")
    executions = target.client("stepfunctions").list_executions(stateMachineArn=target.name("StateMachineArn"))
    assert [e["name"] for e in executions["executions"]].count(message_id) == 1
    assert [i["message_id"] for i in ops.inbox(target, "rita")].count(message_id) == 1
    assert ops.email_status(target, message_id) == "delivered"


def test_a_failed_execution_redriven_after_healing_resumes_at_the_failed_step_only(
    stack: LocalStack, target: Target, mailbox: str
) -> None:
    stack.runtime.fail("Archive", StorageUnavailableError, times=None)
    message_id = _send(stack, mailbox, "redrive me")
    assert final_status(target, message_id) == "failed"
    stack.runtime.heal("Archive")

    sfn = target.client("stepfunctions")
    arn = lifecycle.execution_arn(target.name("StateMachineArn"), message_id)
    sfn.redrive_execution(executionArn=arn)

    assert final_status(target, message_id) == "delivered"
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert described["redriveCount"] == 1
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "Archive", "Archive", "Inbox"]
    assert [e["type"] for e in events].count("ExecutionRedriven") == 1
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert len(_attempts(events, "mailroom-local-decrypt")) == 1  # not re-run
    assert [i["message_id"] for i in ops.inbox(target, "rita")].count(message_id) == 1
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=arn)


def _timeout_retrier(state: str) -> dict[str, Any]:
    return next(r for r in ASL["States"][state]["Retry"] if "Sandbox.Timedout" in r["ErrorEquals"])


ARCHIVE_TIMEOUT = 2.0


@pytest.fixture
def short_archive_timeout(stack: LocalStack) -> Iterator[float]:
    """Archive's template Timeout (120 s) replaced by 2 s, so a test can run past it quickly."""
    spec = stack.runtime.by_step("Archive")
    stack.runtime.functions[spec.name] = dataclasses.replace(spec, timeout=int(ARCHIVE_TIMEOUT))
    yield ARCHIVE_TIMEOUT
    stack.runtime.functions[spec.name] = spec


def test_a_handler_past_its_timeout_is_stopped_as_sandbox_timedout_and_retried_once_then_fails_there(
    stack: LocalStack, target: Target, mailbox: str, short_archive_timeout: float
) -> None:
    stack.runtime.fail("Archive", None, times=None, hang_seconds=short_archive_timeout + 3)
    message_id = _send(stack, mailbox, "timed out")

    assert final_status(target, message_id) == "failed"
    events = history(target, message_id)
    assert entered_states(events) == ["Decrypt", "Parse", "Archive"]
    retrier = _timeout_retrier("Archive")
    assert len(_attempts(events, "mailroom-local-archive")) == 1 + retrier["MaxAttempts"]
    assert set(_failures(events)) == {"Sandbox.Timedout"}
    assert events[-1]["executionFailedEventDetails"]["error"] == "Sandbox.Timedout"
    assert message_id not in [i["message_id"] for i in ops.inbox(target, "rita")]


def test_a_slow_call_within_its_timeout_is_not_a_timeout(
    stack: LocalStack, target: Target, mailbox: str, short_archive_timeout: float
) -> None:
    stack.runtime.fail("Archive", None, times=1, hang_seconds=short_archive_timeout / 4)
    message_id = _send(stack, mailbox, "slow but in time")

    assert final_status(target, message_id) == "delivered"
    assert _failures(history(target, message_id)) == []
