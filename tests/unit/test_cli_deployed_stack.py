"""The CLI against a "deployed" stack: names from CloudFormation outputs (moto), not the local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from mailroom_cli.main import app

REGION = "eu-west-1"
MID = "0123456789abcdefghijklmnopqrstuv01234567"
OTHER = "v" * 40


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(tmp_path))  # no local stack to fall back on
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="prod-status",
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "message_id", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "updated_at", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updated_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.create_table(
            TableName="prod-mailboxes",
            KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        now = "2026-11-27T10:00:00.000+00:00"
        for message_id, status, extra in (
            (MID, "delivered", {"delivered_at": {"S": "2026-11-27T10:00:02.000+00:00"}}),
            (OTHER, "failed", {"step": {"S": "Archive"}, "error": {"S": "StorageUnavailableError"}}),
        ):
            ddb.put_item(
                TableName="prod-status",
                Item={
                    "message_id": {"S": message_id},
                    "status": {"S": status},
                    "received_at": {"S": now},
                    "updated_at": {"S": now},
                    **extra,
                },
            )
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {
                "StatusTableName": {"Value": "prod-status"},
                "MailboxTableName": {"Value": "prod-mailboxes"},
                "RecipientDomain": {"Value": "in.example.com"},
                "StateMachineArn": {"Value": "arn:aws:states:eu-west-1:123456789012:stateMachine:prod"},
            },
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="mailroom-prod", TemplateBody=json.dumps(template)
        )
        yield


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, ["--stack", "mailroom-prod", "--region", REGION, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("deployed")
def test_emails_and_stats_read_the_stacks_status_table() -> None:
    rows = cli("emails", "--json")
    assert {(r["message_id"], r["status"]) for r in rows} == {(MID, "delivered"), (OTHER, "failed")}
    assert cli("emails", "--status", "failed", "--json") == [
        {
            "message_id": OTHER,
            "status": "failed",
            "step": "Archive",
            "error": "StorageUnavailableError",
            "reason": "storage_unavailable",
            "execution_arn": None,
            "received_at": "2026-11-27T10:00:00.000+00:00",
            "updated_at": "2026-11-27T10:00:00.000+00:00",
            "recipients": 0,
            "unroutable_recipients": 0,
            "routed_by": None,
        }
    ]
    stats = cli("stats", "--since", "3650d", "--json")
    assert stats["received"] == 2
    assert stats["delivered"] == 1
    assert stats["failed"] == {"Archive": {"StorageUnavailableError": 1}}
    assert stats["in_flight"] == 0
    assert stats["latency_ms"] == {"p50": 2000.0, "p95": 2000.0}


@pytest.mark.usefixtures("deployed")
def test_mailboxes_are_registered_in_the_stacks_table_and_checked_against_its_domain() -> None:
    assert cli("mailbox", "add", "Scans@in.example.com", "--user", "alice", "--json") == [
        {"address": "scans@in.example.com", "user": "alice", "tenant": "default"}
    ]
    assert cli("mailbox", "list", "--json") == [
        {"address": "scans@in.example.com", "user": "alice", "tenant": "default"}
    ]
    wrong = CliRunner().invoke(
        app, ["--stack", "mailroom-prod", "--region", REGION, "mailbox", "add", "x@elsewhere.example", "--user", "u"]
    )
    assert wrong.exit_code == 1
    assert "recipient domain in.example.com" in wrong.output
