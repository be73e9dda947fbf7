"""A "deployed" mailroom stack on a moto server, for checking the operator CLI from outside (CI).

Starts moto on a free loopback port, creates a CloudFormation stack ``mailroom-prod`` whose outputs
name a status table with two emails (one delivered, one failed at Archive), prints the port on
stdout, and serves until its standard input closes. Runs in the dev venv (it needs moto); the CLI
under test runs in another venv, without moto.
"""

from __future__ import annotations

import json
import logging
import sys

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "check", "aws_secret_access_key": "check", "region_name": REGION}


def populate(endpoint: str) -> None:
    """The status table, a mailbox table and the stack whose outputs name them."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, **CREDENTIALS)
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
        (
            "0123456789abcdefghijklmnopqrstuv01234567",
            "delivered",
            {"delivered_at": {"S": "2026-11-27T10:00:02.000+00:00"}},
        ),
        ("v" * 40, "failed", {"step": {"S": "Archive"}, "error": {"S": "StorageUnavailableError"}}),
    ):
        item = {"message_id": {"S": message_id}, "status": {"S": status}, "received_at": {"S": now}}
        ddb.put_item(TableName="prod-status", Item={**item, "updated_at": {"S": now}, **extra})
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "StatusTableName": {"Value": "prod-status"},
            "MailboxTableName": {"Value": "prod-mailboxes"},
            "RecipientDomain": {"Value": "in.example.com"},
            "StateMachineArn": {"Value": "arn:aws:states:eu-west-1:123456789012:stateMachine:prod"},
        },
    }
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, **CREDENTIALS)
    cloudformation.create_stack(StackName="mailroom-prod", TemplateBody=json.dumps(template))


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    try:
        populate(f"http://127.0.0.1:{port}")
        print(port, flush=True)
        sys.stdin.read()  # until the caller closes our input
    finally:
        server.stop()


if __name__ == "__main__":
    main()
