"""The moto account the handler tests run in, SES-shaped mail, and the events under ``tests/events``.

Names follow ``template.yaml`` (stage ``dev``); the event JSON files name the same incoming bucket.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from deployed_stack import create_status_table
from mailroom.adapters.dynamodb import DynamoStatusStore, from_item
from mailroom.envelope import Envelope, Verdicts
from mailroom.layout import staging_mime_key
from mailroom.steps.inbox import DEDUP_PREFIX

from mailroom_cli.local.ses_producer import KmsDataKeys, encrypt_for_ses

ACCOUNT: Final = "123456789012"  # moto's default account
REGION: Final = "eu-west-1"
INCOMING: Final = f"mailroom-dev-incoming-{ACCOUNT}-{REGION}"
STAGING: Final = f"mailroom-dev-staging-{ACCOUNT}-{REGION}"
ARCHIVE: Final = f"mailroom-dev-archive-{ACCOUNT}-{REGION}"
MAILBOX_TABLE: Final = "mailroom-dev-mailboxes"
INBOX_TABLE: Final = "mailroom-dev-inbox"
STATUS_TABLE: Final = "mailroom-dev-status"
STATE_MACHINE: Final = "mailroom-dev-inbound-email"
DOMAIN: Final = "in.mailroom.localhost"
PREFIX: Final = "inbound/"
RULE: Final = "mailroom-dev-inbound"
RECEIVED_AT: Final = "2026-11-27T08:15:04.112Z"

EVENTS: Final = Path(__file__).resolve().parents[1] / "events"

Configure = Callable[..., None]  # the `configure` fixture: NAME="value" sets a variable, NAME=None removes it

# What each function's environment holds in template.yaml (STATE_MACHINE_ARN is added once it exists).
ENVIRONMENT: Final = {
    "POWERTOOLS_SERVICE_NAME": "mailroom",
    "POWERTOOLS_METRICS_NAMESPACE": "Mailroom",
    "STATUS_TABLE": STATUS_TABLE,
    "INCOMING_PREFIX": PREFIX,
    "INCOMING_BUCKET": INCOMING,
    "STAGING_BUCKET": STAGING,
    "ACCOUNT_ID": ACCOUNT,
    "MAX_MESSAGE_BYTES": str(40 * 1024 * 1024),
    "MAILBOX_TABLE": MAILBOX_TABLE,
    "RECIPIENT_DOMAIN": DOMAIN,
    "ARCHIVE_BUCKET": ARCHIVE,
    "INBOX_TABLE": INBOX_TABLE,
}


def load_event(name: str) -> dict[str, Any]:
    """One event file from ``tests/events``."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def lambda_error(handler: Callable[[Any, Any], Any], event: Any, context: Any) -> tuple[str, str]:
    """``(errorType, errorMessage)`` as the Lambda runtime reports the handler's exception (what ASL matches)."""
    try:
        handler(event, context)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    raise AssertionError("the handler returned instead of raising")


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Each metric's sum over the EMF documents Powertools printed (one JSON object per line)."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                name, value = metric["Name"], document[metric["Name"]]
                totals[name] = totals.get(name, 0) + sum(value if isinstance(value, list) else [value])
    return totals


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def ses_received(
    mime: bytes,
    *,
    envelope_to: str | None,
    virus: str = "PASS",
    spam: str = "PASS",
    ses_id: str = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81",
) -> bytes:
    """``mime`` as SES stores it: SES's receipt headers on top; its ``Received`` names the recipient
    (``for addr;``) only when the message had exactly one, as SES does."""
    recipient = f"\r\n for {envelope_to};" if envelope_to else ""
    added = (
        "Return-Path: <scanner@corp.example>\r\n"
        "Received: from mail.corp.example (mail.corp.example [203.0.113.25])\r\n"
        f" by inbound-smtp.eu-west-1.amazonaws.com with SMTP id {ses_id}{recipient}\r\n"
        " Fri, 27 Nov 2026 08:15:03 +0000 (UTC)\r\n"
        f"X-SES-Spam-Verdict: {spam}\r\n"
        f"X-SES-Virus-Verdict: {virus}\r\n"
        "Received-SPF: pass (spfCheck: domain of corp.example designates 203.0.113.25 as permitted sender)"
        " client-ip=203.0.113.25; envelope-from=scanner@corp.example; helo=mail.corp.example;\r\n"
        "Authentication-Results: amazonses.com;\r\n"
        " spf=pass (spfCheck: domain of corp.example designates 203.0.113.25 as permitted sender)"
        " smtp.mailfrom=scanner@corp.example;\r\n"
        " dkim=pass header.i=@corp.example;\r\n"
        " dmarc=pass header.from=corp.example;\r\n"
    )
    return added.encode("ascii") + mime


class FakeLambdaContext(LambdaContext):
    """A Lambda context with what Powertools reads from it (Powertools' own type, so handlers type-check)."""

    def __init__(self, function: str = "mailroom-dev-handler") -> None:
        self._function_name = function
        self._function_version = "$LATEST"
        self._memory_limit_in_mb = 1024
        self._invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        self._aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
        self._log_group_name = f"/aws/lambda/{function}"
        self._log_stream_name = "2026/11/27/[$LATEST]0a1b2c3d4e5f60718293a4b5c6d7e8f9"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        """Plenty."""
        return 60_000


Clients = tuple[Any, Any, Any, Any]


def make_clients() -> Clients:
    """S3, KMS, DynamoDB and Step Functions clients; any mock_aws context started later intercepts them."""
    session = boto3.session.Session(region_name=REGION)
    s3, kms, ddb, sfn = (session.client(name) for name in ("s3", "kms", "dynamodb", "stepfunctions"))
    return s3, kms, ddb, sfn


@dataclass(frozen=True)
class Stack:
    """Clients of the mocked account and the resources the handlers use."""

    s3: Any
    kms: Any
    dynamodb: Any
    sfn: Any
    state_machine_arn: str

    @functools.cached_property
    def key_arn(self) -> str:
        """The receipt rule's KMS key, made on first use (moto generates key material slowly)."""
        arn: str = self.kms.create_key(Description="mailroom SES key")["KeyMetadata"]["Arn"]
        return arn

    @classmethod
    def create(cls, clients: Clients) -> Stack:
        """Buckets (archive versioned), tables and a state machine as the template makes them (the key: on use)."""
        s3, kms, ddb, sfn = clients
        for bucket in (INCOMING, STAGING, ARCHIVE):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=ARCHIVE, VersioningConfiguration={"Status": "Enabled"})
        ddb.create_table(
            TableName=MAILBOX_TABLE,
            AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.create_table(
            TableName=INBOX_TABLE,
            AttributeDefinitions=[
                {"AttributeName": "user", "AttributeType": "S"},
                {"AttributeName": "message_id", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "user", "KeyType": "HASH"},
                {"AttributeName": "message_id", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        create_status_table(ddb, STATUS_TABLE)
        # moto does not run executions unless asked to: a Pass state is all StartExecution needs.
        definition = {"StartAt": "Decrypt", "States": {"Decrypt": {"Type": "Pass", "End": True}}}
        machine_arn = sfn.create_state_machine(
            name=STATE_MACHINE,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/mailroom-dev-state-machine",
        )["stateMachineArn"]
        return cls(s3=s3, kms=kms, dynamodb=ddb, sfn=sfn, state_machine_arn=machine_arn)

    # ------------------------------------------------------------------ inputs

    def put_ses_object(
        self,
        mime: bytes,
        message_id: str,
        *,
        key: str | None = None,
        account_id: str = ACCOUNT,
        rule_name: str = RULE,
        corrupt_at: int | None = None,
    ) -> dict[str, Any]:
        """Write ``mime`` to the incoming bucket as SES does; return the Starter's execution input for it.

        ``key`` defaults to the prefix plus ``message_id``; ``corrupt_at`` flips one ciphertext bit there.
        """
        encrypted = encrypt_for_ses(
            mime,
            key_service=KmsDataKeys(self.kms),
            kms_key_id=self.key_arn,
            message_id=message_id,
            rule_name=rule_name,
            account_id=account_id,
        )
        body = bytearray(encrypted.body.read())
        if corrupt_at is not None:
            body[corrupt_at] ^= 0x01
        key = key or PREFIX + message_id
        self.s3.put_object(Bucket=INCOMING, Key=key, Body=bytes(body), Metadata=encrypted.metadata)
        return {"message_id": key.rsplit("/", 1)[-1], "bucket": INCOMING, "key": key, "received_at": RECEIVED_AT}

    def record_envelope(
        self, message_id: str, recipients: Sequence[str], *, verdicts: dict[str, str] | None = None
    ) -> None:
        """What the Starter writes from SES's notification: the status record with the envelope."""
        DynamoStatusStore(STATUS_TABLE, self.dynamodb).mark_received(
            message_id,
            received_at=RECEIVED_AT,
            execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE}:{message_id}",
            envelope=Envelope(tuple(recipients), Verdicts.from_dict(verdicts) if verdicts is not None else None),
            now=RECEIVED_AT,
        )

    def stage_mime(
        self,
        mime: bytes,
        message_id: str,
        *,
        recipients: Sequence[str] | None = None,
        verdicts: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Put plaintext where Decrypt puts it; return Decrypt's output for it.

        ``recipients``: the envelope SES's notification gave (recorded as the Starter does); ``None``
        leaves the email without one.
        """
        if recipients is not None:
            self.record_envelope(message_id, recipients, verdicts=verdicts)
        key = staging_mime_key(message_id)
        self.s3.put_object(Bucket=STAGING, Key=key, Body=mime, ContentType="message/rfc822")
        return {
            "message_id": message_id,
            "received_at": RECEIVED_AT,
            "mime": {"bucket": STAGING, "key": key, "size": len(mime), "sha256": sha256(mime)},
        }

    def add_mailbox(self, address: str, user: str, tenant: str = "acme") -> None:
        """Register ``address`` for ``user``."""
        self.dynamodb.put_item(
            TableName=MAILBOX_TABLE,
            Item={"address": {"S": address}, "user": {"S": user}, "tenant": {"S": tenant}, "enabled": {"BOOL": True}},
        )

    # ------------------------------------------------------------------ what is there

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        """One object's bytes."""
        data: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def object_versions(self, bucket: str) -> list[tuple[str, str]]:
        """Every (key, version id) in a versioned bucket."""
        listing = self.s3.list_object_versions(Bucket=bucket)
        return sorted((v["Key"], v["VersionId"]) for v in listing.get("Versions", []))

    def status(self, message_id: str) -> dict[str, Any] | None:
        """The email's status record."""
        item = self.dynamodb.get_item(
            TableName=STATUS_TABLE, Key={"message_id": {"S": message_id}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def inbox(self, user: str, *, markers: bool = False) -> list[dict[str, Any]]:
        """Every inbox item of ``user`` (with ``markers``: the Message-ID dedup markers instead)."""
        items = self.dynamodb.query(
            TableName=INBOX_TABLE,
            KeyConditionExpression="#u = :u",
            ExpressionAttributeNames={"#u": "user"},
            ExpressionAttributeValues={":u": {"S": user}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i) for i in items if i["message_id"]["S"].startswith(DEDUP_PREFIX) == markers]

    def inbox_users(self) -> list[str]:
        """Every user with at least one inbox item."""
        items = self.dynamodb.scan(TableName=INBOX_TABLE)["Items"]
        return sorted({i["user"]["S"] for i in items if not i["message_id"]["S"].startswith(DEDUP_PREFIX)})

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the state machine, with its parsed input."""
        listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        found = []
        for execution in listed:
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            found.append({**execution, "input": json.loads(described["input"])})
        return found
