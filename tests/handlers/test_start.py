"""Starter: SQS batches of S3 notifications become one execution per email, named by its SES message id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mailroom.batch import BatchProcessingError
from mailroom.handlers import start
from moto_stack import INCOMING, STATUS_TABLE, Configure, FakeLambdaContext, Stack, emitted_metrics, load_event

PUT_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"


def body(event: dict[str, Any], index: int = 0) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(event["Records"][index]["body"])
    return parsed


def test_a_put_notification_starts_one_execution_named_by_the_message_id(
    stack: Stack, context: FakeLambdaContext
) -> None:
    response = start.handler(load_event("sqs_s3_put.json"), context)

    assert response == {"batchItemFailures": []}
    [execution] = stack.executions()
    assert execution["name"] == PUT_ID
    assert execution["input"] == load_event("state_decrypt_input.json")


def test_metrics_count_received_emails_and_skipped_events(
    stack: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    start.handler(load_event("sqs_s3_put.json"), context)
    start.handler(load_event("sqs_s3_test_event.json"), context)

    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["Received"], metrics["EventsSkipped"], metrics["Batches"]) == (1, 1, 2)


def test_the_status_record_is_received_with_the_execution_arn(stack: Stack, context: FakeLambdaContext) -> None:
    start.handler(load_event("sqs_s3_put.json"), context)

    [execution] = stack.executions()
    record = stack.status(PUT_ID)
    assert record is not None
    assert record["status"] == "received"
    assert record["received_at"] == "2026-11-27T08:15:04.112Z"
    assert record["execution_arn"] == execution["executionArn"]
    assert record["updated_at"].endswith("+00:00")
    # It is findable through the index the CLI's `emails --status received` uses.
    by_status = stack.dynamodb.query(
        TableName=STATUS_TABLE,
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "received"}},
    )["Items"]
    assert [item["message_id"]["S"] for item in by_status] == [PUT_ID]


def test_a_redelivered_message_starts_nothing_new_and_keeps_a_finished_status(
    stack: Stack, context: FakeLambdaContext
) -> None:
    event = load_event("sqs_s3_put.json")
    start.handler(event, context)
    first_arn = stack.executions()[0]["executionArn"]
    stack.dynamodb.update_item(
        TableName=STATUS_TABLE,
        Key={"message_id": {"S": PUT_ID}},
        UpdateExpression="SET #s = :s, updated_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "delivered"}, ":t": {"S": "2026-11-27T08:15:09.000+00:00"}},
    )

    response = start.handler(event, context)

    assert response == {"batchItemFailures": []}
    assert [e["executionArn"] for e in stack.executions()] == [first_arn]
    record = stack.status(PUT_ID)
    assert record is not None
    assert record["status"] == "delivered"
    assert record["updated_at"] == "2026-11-27T08:15:09.000+00:00"


def test_a_second_event_for_a_finished_execution_is_already_exists_and_not_a_failure(
    stack: Stack, context: FakeLambdaContext
) -> None:
    start.handler(load_event("sqs_s3_put.json"), context)
    [execution] = stack.executions()
    stack.sfn.stop_execution(executionArn=execution["executionArn"])
    # The same object written again: a new S3 event with another time, so another execution input.
    event = load_event("sqs_s3_put.json")
    notification = body(event)
    notification["Records"][0]["eventTime"] = "2026-11-27T08:16:30.001Z"
    event["Records"][0]["body"] = json.dumps(notification)

    response = start.handler(event, context)

    assert response == {"batchItemFailures": []}
    assert len(stack.executions()) == 1
    record = stack.status(PUT_ID)
    assert record is not None
    assert record["received_at"] == "2026-11-27T08:15:04.112Z"
    assert record["execution_arn"] == execution["executionArn"]


def test_a_multipart_upload_notification_starts_an_execution(stack: Stack, context: FakeLambdaContext) -> None:
    event = load_event("sqs_s3_multipart.json")

    response = start.handler(event, context)

    assert response == {"batchItemFailures": []}
    [execution] = stack.executions()
    assert execution["name"] == "8dj3u0e5lqp4h2rkg6iv9s7mb1nt3oc0f5a2e7k4"
    assert execution["input"] == {
        "message_id": "8dj3u0e5lqp4h2rkg6iv9s7mb1nt3oc0f5a2e7k4",
        "bucket": INCOMING,
        "key": "inbound/8dj3u0e5lqp4h2rkg6iv9s7mb1nt3oc0f5a2e7k4",
        "received_at": "2026-11-27T08:21:47.903Z",
        "size": 12583441,
    }


@pytest.mark.parametrize("name", ["sqs_s3_test_event.json", "sqs_s3_setup_notification.json"])
def test_s3_test_events_and_the_ses_setup_notification_are_skipped(
    stack: Stack, context: FakeLambdaContext, name: str
) -> None:
    response = start.handler(load_event(name), context)

    assert response == {"batchItemFailures": []}
    assert stack.executions() == []
    assert stack.dynamodb.scan(TableName=STATUS_TABLE)["Items"] == []


def test_a_url_encoded_key_is_decoded_before_it_names_anything(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(INCOMING_PREFIX="inbound/tenant:acme corp/")
    message_id = "r4vb7ts1m9c2hu0q3gp6kleo8n5ijd1a2f7c3s0t"

    response = start.handler(load_event("sqs_s3_encoded_key.json"), context)

    assert response == {"batchItemFailures": []}
    [execution] = stack.executions()
    assert execution["name"] == message_id
    assert execution["input"]["key"] == f"inbound/tenant:acme corp/{message_id}"
    assert execution["input"]["message_id"] == message_id


def test_a_key_outside_the_incoming_prefix_is_skipped(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(INCOMING_PREFIX="elsewhere/")

    response = start.handler(load_event("sqs_s3_put.json"), context)

    assert response == {"batchItemFailures": []}
    assert stack.executions() == []


def test_a_body_that_is_not_json_fails_only_its_own_message(stack: Stack, context: FakeLambdaContext) -> None:
    event = load_event("sqs_s3_batch_with_poison.json")

    response = start.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "9f0b4e8a-2d6c-4b17-a5e3-6c1d9f4b7e02"}]}
    assert sorted(e["name"] for e in stack.executions()) == [
        "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d",
        "k7e2c9u1t5pv3mg0ahq6ro8lb4nsdj2i1f9e7c5a",
    ]


def test_a_missing_status_table_fails_the_message_so_sqs_redelivers_it(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.dynamodb.delete_table(TableName=STATUS_TABLE)

    # A batch whose every message failed is raised whole (as Powertools does), which SQS also redelivers.
    with pytest.raises(BatchProcessingError) as raised:
        start.handler(load_event("sqs_s3_put.json"), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "DatabaseUnavailableError"
    # The redelivery finds the execution RUNNING with the same input: that start is idempotent.
    assert [e["name"] for e in stack.executions()] == [PUT_ID]


def test_a_missing_state_machine_arn_fails_every_message_with_configuration_error(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(STATE_MACHINE_ARN=None)

    with pytest.raises(BatchProcessingError) as raised:
        start.handler(load_event("sqs_s3_put.json"), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "ConfigurationError"
    assert "STATE_MACHINE_ARN" in str(exc)
