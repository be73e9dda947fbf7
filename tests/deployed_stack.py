"""A "deployed" mailroom stack on moto: the status table (as template.yaml makes it), and a CloudFormation
stack whose outputs name it. Used by the CLI tests and by tools/serve_deployed_stack.py (CI)."""

from __future__ import annotations

import json
from typing import Any, Final

STACK: Final = "mailroom-prod"
DELIVERED: Final = "0123456789abcdefghijklmnopqrstuv01234567"
FAILED: Final = "v" * 40
RECEIVED_AT: Final = "2026-11-27T10:00:00.000+00:00"


def create_status_table(ddb: Any, name: str) -> None:
    """The status table: by SES message id, with the ``by-status`` index (status, updated_at)."""
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "message_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
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


def populate(ddb: Any, cloudformation: Any) -> None:
    """Two emails (one delivered, one failed at Archive) and the stack ``mailroom-prod`` that names the tables."""
    create_status_table(ddb, "prod-status")
    ddb.create_table(
        TableName="prod-mailboxes",
        KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for message_id, status, extra in (
        (DELIVERED, "delivered", {"delivered_at": {"S": "2026-11-27T10:00:02.000+00:00"}}),
        (FAILED, "failed", {"step": {"S": "Archive"}, "error": {"S": "StorageUnavailableError"}}),
    ):
        times = {"received_at": {"S": RECEIVED_AT}, "updated_at": {"S": RECEIVED_AT}}
        item = {"message_id": {"S": message_id}, "status": {"S": status}, **times, **extra}
        ddb.put_item(TableName="prod-status", Item=item)
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "StatusTableName": {"Value": "prod-status"},
            "MailboxTableName": {"Value": "prod-mailboxes"},
            "RecipientDomain": {"Value": "in.example.com"},
            "StateMachineArn": {"Value": "arn:aws:states:eu-west-1:123456789012:stateMachine:prod"},
        },
    }
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
