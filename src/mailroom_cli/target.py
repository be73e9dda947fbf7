"""Which mailroom the CLI talks to: a deployed stack (by its CloudFormation outputs) or the local one.

One seam builds every client (``Target.client``), so ``--endpoint-url`` / ``--profile`` /
``--region`` apply everywhere, in the AWS CLI's idiom.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from mailroom_cli.state import read_state


class TargetError(RuntimeError):
    """No mailroom to talk to (no running local stack, no stack named), or its outputs are incomplete."""


@dataclass
class Target:
    """Resource names plus how to reach them."""

    region: str
    names: dict[str, str]
    endpoint_url: str | None = None
    profile: str | None = None
    local: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (cached; built once even when the console's threads ask together)."""
        with self._lock:
            return self._client(service)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            extra: dict[str, Any] = {}
            if self.local:
                extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
            self._clients[service] = session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=Config(retries={"mode": "standard", "max_attempts": 5}),
                **extra,
            )
        return self._clients[service]

    def name(self, output: str) -> str:
        """A stack output (``InboxTableName``…); a clear error when the stack lacks it."""
        try:
            return self.names[output]
        except KeyError:
            raise TargetError(f"the stack has no output {output}") from None


def from_local(info: dict[str, Any]) -> Target:
    """The running local stack, from its state file."""
    tables, buckets = info.get("tables", {}), info.get("buckets", {})
    names = {
        "StateMachineArn": info.get("state_machine_arn"),
        "IncomingBucketName": buckets.get("incoming"),
        "IncomingPrefix": info.get("incoming_prefix"),
        "StagingBucketName": buckets.get("staging"),
        "ArchiveBucketName": buckets.get("archive"),
        "IncomingQueueUrl": info.get("queue_url"),
        "DeadLetterQueueUrl": info.get("dlq_url"),
        "MailboxTableName": tables.get("mailboxes"),
        "InboxTableName": tables.get("inbox"),
        "StatusTableName": tables.get("status"),
        "KmsKeyArn": info.get("kms_key_arn"),
        "ReceiptRuleName": info.get("receipt_rule_name"),
        "IncomingTopicArn": info.get("topic_arn"),
        "RecipientDomain": info.get("domain"),
    }
    return Target(
        region=str(info.get("region", "eu-west-1")),
        names={k: str(v) for k, v in names.items() if v},
        endpoint_url=str(info["endpoint_url"]),
        local=True,
        info=info,
    )


def from_stack(stack: str, *, profile: str | None, region: str | None, endpoint_url: str | None) -> Target:
    """A deployed stack: names from its CloudFormation outputs."""
    session = boto3.session.Session(profile_name=profile, region_name=region)
    cfn = session.client("cloudformation", endpoint_url=endpoint_url)
    stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target(
        region=session.region_name or "eu-west-1",
        names=outputs,
        endpoint_url=endpoint_url,
        profile=profile,
    )


def resolve(
    *, stack: str | None = None, profile: str | None = None, region: str | None = None, endpoint_url: str | None = None
) -> Target:
    """``--stack`` wins; otherwise the running local stack; otherwise an error saying what to do."""
    if stack:
        return from_stack(stack, profile=profile, region=region, endpoint_url=endpoint_url)
    info = read_state()
    if info is None:
        raise TargetError(
            "no local stack is running and no --stack was given: start one with `mailroom local up` "
            "(or `make run`), or name a deployed stack with --stack NAME"
        )
    target = from_local(info)
    if endpoint_url:
        target.endpoint_url = endpoint_url
    return target
