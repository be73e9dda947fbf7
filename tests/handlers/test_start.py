"""Starter: SQS batches of SES receipt notifications become one execution per email, named by its SES
message id, with the envelope on the status record and never in the execution's input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mailroom.batch import BatchProcessingError
from mailroom.handlers import start
from moto_stack import DOMAIN, STATUS_TABLE, Configure, FakeLambdaContext, Stack, emitted_metrics, load_event

ONE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
SEVERAL_ID = "d6iitobk75ur44p8kdnnp7g2n800"  # 28 characters, as in AWS's notification examples


def body(event: dict[str, Any], index: int = 0) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(event["Records"][index]["body"])
    return parsed


def with_body(event: dict[str, Any], document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    event["Records"][index]["body"] = json.dumps(document)
    return event


def test_a_notification_starts_one_execution_whose_input_names_the_object_and_no_address(
    stack: Stack, context: FakeLambdaContext
) -> None:
    response = start.handler(load_event("sqs_ses_one_recipient.json"), context)

    assert response == {"batchItemFailures": []}
    [execution] = stack.executions()
    assert execution["name"] == ONE_ID
    assert execution["input"] == load_event("state_decrypt_input.json")
    assert "@" not in json.dumps(execution["input"])


def test_the_envelope_and_verdicts_go_onto_the_status_record(stack: Stack, context: FakeLambdaContext) -> None:
    start.handler(load_event("sqs_ses_several_recipients.json"), context)

    record = stack.status(SEVERAL_ID)
    assert record is not None
    assert record["recipients"] == [f"scans@{DOMAIN}", f"accounts@{DOMAIN}", f"nobody@{DOMAIN}"]
    assert record["verdicts"] == {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"}
    assert record["envelope_source"] == "ses"


def test_header_addresses_of_the_notification_are_not_recorded(stack: Stack, context: FakeLambdaContext) -> None:
    event = load_event("sqs_ses_one_recipient.json")
    document = body(event)
    document["mail"]["destination"] = [f"someone-else@{DOMAIN}"]
    document["mail"]["commonHeaders"]["to"] = [f"someone-else@{DOMAIN}"]

    start.handler(with_body(event, document), context)

    record = stack.status(ONE_ID)
    assert record is not None
    assert record["recipients"] == [f"scans@{DOMAIN}"]
    assert f"someone-else@{DOMAIN}" not in json.dumps(record)


def test_a_virus_verdict_of_fail_is_recorded_for_parse_to_refuse(stack: Stack, context: FakeLambdaContext) -> None:
    start.handler(load_event("sqs_ses_virus_fail.json"), context)

    record = stack.status("k7e2c9u1t5pv3mg0ahq6ro8lb4nsdj2i1f9e7c5a")
    assert record is not None
    assert record["verdicts"]["virus"] == "FAIL"


def test_the_sns_enveloped_form_is_read_like_the_raw_one(stack: Stack, context: FakeLambdaContext) -> None:
    response = start.handler(load_event("sqs_sns_enveloped.json"), context)

    assert response == {"batchItemFailures": []}
    [execution] = stack.executions()
    assert execution["input"] == load_event("state_decrypt_input.json")
    record = stack.status(ONE_ID)
    assert record is not None
    assert record["recipients"] == [f"scans@{DOMAIN}"]


def test_metrics_count_received_emails_and_skipped_messages(
    stack: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    start.handler(load_event("sqs_ses_one_recipient.json"), context)
    start.handler(load_event("sqs_s3_put.json"), context)  # an S3 event still queued at the changeover

    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["Received"], metrics["EventsSkipped"], metrics["Batches"]) == (1, 1, 2)


def test_the_status_record_is_received_with_the_execution_arn(stack: Stack, context: FakeLambdaContext) -> None:
    start.handler(load_event("sqs_ses_one_recipient.json"), context)

    [execution] = stack.executions()
    record = stack.status(ONE_ID)
    assert record is not None
    assert record["status"] == "received"
    assert record["received_at"] == "2026-11-27T08:15:04.112Z"
    assert record["execution_arn"] == execution["executionArn"]
    assert record["updated_at"].endswith("+00:00")
    by_status = stack.dynamodb.query(
        TableName=STATUS_TABLE,
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "received"}},
    )["Items"]
    assert [item["message_id"]["S"] for item in by_status] == [ONE_ID]


def test_a_redelivered_notification_starts_nothing_new_and_keeps_a_finished_status(
    stack: Stack, context: FakeLambdaContext
) -> None:
    event = load_event("sqs_ses_one_recipient.json")
    start.handler(event, context)
    first_arn = stack.executions()[0]["executionArn"]
    stack.dynamodb.update_item(
        TableName=STATUS_TABLE,
        Key={"message_id": {"S": ONE_ID}},
        UpdateExpression="SET #s = :s, updated_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "delivered"}, ":t": {"S": "2026-11-27T08:15:09.000+00:00"}},
    )

    response = start.handler(event, context)

    assert response == {"batchItemFailures": []}
    assert [e["executionArn"] for e in stack.executions()] == [first_arn]
    record = stack.status(ONE_ID)
    assert record is not None
    assert record["status"] == "delivered"
    assert record["updated_at"] == "2026-11-27T08:15:09.000+00:00"


def test_a_later_notification_for_the_same_email_changes_neither_execution_nor_envelope(
    stack: Stack, context: FakeLambdaContext
) -> None:
    start.handler(load_event("sqs_ses_one_recipient.json"), context)
    [execution] = stack.executions()
    stack.sfn.stop_execution(executionArn=execution["executionArn"])
    event = load_event("sqs_ses_one_recipient.json")
    document = body(event)
    document["receipt"]["recipients"] = [f"intruder@{DOMAIN}"]
    document["mail"]["timestamp"] = "2026-11-27T08:16:30.001Z"

    response = start.handler(with_body(event, document), context)

    assert response == {"batchItemFailures": []}
    assert len(stack.executions()) == 1
    record = stack.status(ONE_ID)
    assert record is not None
    assert record["received_at"] == "2026-11-27T08:15:04.112Z"
    assert record["recipients"] == [f"scans@{DOMAIN}"]
    assert record["execution_arn"] == execution["executionArn"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(notificationType="AMAZON_SES_SETUP_NOTIFICATION"), "setup"),
        (lambda d: d["receipt"]["action"].update(type="Lambda"), "action"),
        (lambda d: d["receipt"]["action"].update(bucketName="someone-elses-bucket"), "bucket"),
    ],
)
def test_setup_notifications_other_actions_and_other_buckets_are_skipped(
    stack: Stack, context: FakeLambdaContext, change: Any, reason: str
) -> None:
    event = load_event("sqs_ses_one_recipient.json")
    document = body(event)
    change(document)

    response = start.handler(with_body(event, document), context)

    assert response == {"batchItemFailures": []}, reason
    assert stack.executions() == []
    assert stack.dynamodb.scan(TableName=STATUS_TABLE)["Items"] == []


@pytest.mark.parametrize("name", ["sqs_s3_put.json", "sqs_s3_test_event.json"])
def test_retired_s3_events_are_skipped_not_poison(stack: Stack, context: FakeLambdaContext, name: str) -> None:
    response = start.handler(load_event(name), context)

    assert response == {"batchItemFailures": []}
    assert stack.executions() == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["receipt"].update(recipients=[]), "no recipient"),
        (lambda d: d["receipt"].pop("recipients"), "no recipients field"),
        (lambda d: d["receipt"].update(recipients=["x" * 400]), "not an address"),
        (lambda d: d["receipt"]["action"].update(objectKey="inbound/" + "a" * 40), "key names another email"),
        (lambda d: d["mail"].update(messageId="../../etc/passwd"), "not an SES id"),
        (lambda d: d.update(notificationType="Bounce"), "another notification"),
        (lambda d: d.pop("mail"), "no mail object"),
    ],
)
def test_a_notification_that_cannot_be_routed_is_poison_for_the_dlq(
    stack: Stack, context: FakeLambdaContext, change: Any, why: str
) -> None:
    event = load_event("sqs_ses_one_recipient.json")
    document = body(event)
    change(document)

    with pytest.raises(BatchProcessingError) as raised:
        start.handler(with_body(event, document), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "NotAnEmail", why
    assert stack.executions() == []


def test_an_incoming_prefix_other_than_the_notifications_is_poison(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(INCOMING_PREFIX="elsewhere/")

    with pytest.raises(BatchProcessingError):
        start.handler(load_event("sqs_ses_one_recipient.json"), context)

    assert stack.executions() == []


def test_a_body_that_is_not_json_fails_only_its_own_message(
    stack: Stack, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("sqs_ses_batch_with_poison.json")

    response = start.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "9f0b4e8a-2d6c-4b17-a5e3-6c1d9f4b7e02"}]}
    assert sorted(e["name"] for e in stack.executions()) == [
        "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d",
        "k7e2c9u1t5pv3mg0ahq6ro8lb4nsdj2i1f9e7c5a",
    ]
    logged = capsys.readouterr().out
    assert "scans@" not in logged  # the reason is logged, never the body or an address


def test_a_missing_status_table_fails_the_message_before_any_execution_starts(
    stack: Stack, context: FakeLambdaContext
) -> None:
    stack.dynamodb.delete_table(TableName=STATUS_TABLE)

    # A batch whose every message failed is raised whole (as Powertools does), which SQS also redelivers.
    with pytest.raises(BatchProcessingError) as raised:
        start.handler(load_event("sqs_ses_one_recipient.json"), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "DatabaseUnavailableError"
    # No execution without its envelope: Parse would find none to route by.
    assert stack.executions() == []


def test_a_missing_incoming_bucket_is_a_configuration_error_naming_it(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(INCOMING_BUCKET=None)

    with pytest.raises(BatchProcessingError) as raised:
        start.handler(load_event("sqs_ses_one_recipient.json"), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "ConfigurationError"
    assert "INCOMING_BUCKET" in str(exc)


def test_a_missing_state_machine_arn_fails_every_message_with_configuration_error(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    configure(STATE_MACHINE_ARN=None)

    with pytest.raises(BatchProcessingError) as raised:
        start.handler(load_event("sqs_ses_one_recipient.json"), context)

    [(_, exc, _)] = raised.value.child_exceptions
    assert type(exc).__name__ == "ConfigurationError"
    assert "STATE_MACHINE_ARN" in str(exc)
