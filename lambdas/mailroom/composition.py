"""The composition root: each function's settings, clients and adapters, built once per cold start.

A handler asks for its step's collaborators here (``for_decrypt()`` …) and calls the step; nothing
else wires adapters. A missing or invalid variable raises ``ConfigurationError`` on every call
until it is fixed (failures are not cached), so the email stays retryable. Tests and local mode
start over with ``reset``.

boto3 finds the endpoint itself (``AWS_ENDPOINT_URL`` in local mode), so nothing here knows where
it runs. SDK retries stay short: the state machine's Retry owns the long backoff. Adapters are
imported inside each builder: a handler's cold start imports only what its own step uses.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    tcp_keepalive=True,
)


_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _client(service: str) -> Any:
    # Locked: concurrent first calls (a handler's own threads) build one client, not several.
    client = _clients.get(service)
    if client is None:
        with _lock:
            client = _clients.get(service)
            if client is None:
                client = _clients[service] = boto3.session.Session().client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
    return client


def s3() -> S3Client:
    """The S3 client."""
    client: S3Client = _client("s3")
    return client


def kms() -> KMSClient:
    """The KMS client."""
    client: KMSClient = _client("kms")
    return client


def dynamodb() -> DynamoDBClient:
    """The DynamoDB client."""
    client: DynamoDBClient = _client("dynamodb")
    return client


def stepfunctions() -> SFNClient:
    """The Step Functions client."""
    client: SFNClient = _client("stepfunctions")
    return client


# ---------------------------------------------------------------- each function's collaborators


@functools.cache
def for_starter() -> dict[str, Any]:
    """The Starter: its settings, the state machine it starts, the status records it writes."""
    from mailroom.adapters.dynamodb import DynamoStatusStore
    from mailroom.adapters.stepfunctions import StepFunctionsWorkflow
    from mailroom.settings import StarterSettings

    config = StarterSettings.from_env()
    return {
        "settings": config,
        "workflow": StepFunctionsWorkflow(config.state_machine_arn, stepfunctions()),
        "status": DynamoStatusStore(config.status_table, dynamodb()),
    }


@functools.cache
def for_decrypt() -> dict[str, Any]:
    """``steps.decrypt.decrypt``'s keyword arguments."""
    from mailroom.adapters.kms import KmsKeyService
    from mailroom.adapters.s3 import S3BlobStore
    from mailroom.settings import DecryptSettings

    config = DecryptSettings.from_env()
    return {
        "store": S3BlobStore(s3()),
        "keys": KmsKeyService(kms()),
        "staging_bucket": config.staging_bucket,
        "account_id": config.account_id,
        "max_message_bytes": config.max_message_bytes,
        "incoming_bucket": config.incoming_bucket,
    }


@functools.cache
def for_parse() -> dict[str, Any]:
    """``steps.parse.parse``'s keyword arguments."""
    from mailroom.adapters.dynamodb import DynamoMailboxRegistry, DynamoStatusStore
    from mailroom.adapters.s3 import S3BlobStore
    from mailroom.settings import ParseSettings

    config = ParseSettings.from_env()
    return {
        "store": S3BlobStore(s3()),
        "registry": DynamoMailboxRegistry(config.mailbox_table, dynamodb()),
        "envelopes": DynamoStatusStore(config.status_table, dynamodb()),
        "staging_bucket": config.staging_bucket,
        "domain": config.recipient_domain,
    }


@functools.cache
def for_archive() -> dict[str, Any]:
    """``steps.archive.archive``'s keyword arguments."""
    from mailroom.adapters.s3 import S3BlobStore
    from mailroom.settings import ArchiveSettings

    config = ArchiveSettings.from_env()
    return {"store": S3BlobStore(s3()), "archive_bucket": config.archive_bucket}


@functools.cache
def for_inbox() -> dict[str, Any]:
    """``steps.inbox.deliver``'s keyword arguments (but ``now``)."""
    from mailroom.adapters.dynamodb import DynamoInbox, DynamoStatusStore
    from mailroom.adapters.s3 import S3BlobStore
    from mailroom.settings import InboxSettings

    config = InboxSettings.from_env()
    return {
        "store": S3BlobStore(s3()),
        "inbox": DynamoInbox(config.inbox_table, dynamodb()),
        "status": DynamoStatusStore(config.status_table, dynamodb()),
    }


@functools.cache
def for_recorder() -> dict[str, Any]:
    """``steps.record.record_failure``'s keyword arguments (but ``now``)."""
    from mailroom.adapters.dynamodb import DynamoStatusStore
    from mailroom.adapters.stepfunctions import StepFunctionsHistory
    from mailroom.settings import RecorderSettings

    config = RecorderSettings.from_env()
    return {
        "history": StepFunctionsHistory(stepfunctions()),
        "status": DynamoStatusStore(config.status_table, dynamodb()),
    }


@functools.cache
def for_watchdog() -> dict[str, Any]:
    """The Watchdog: its settings, the status records, the state machine, the incoming bucket."""
    from mailroom.adapters.dynamodb import DynamoStatusStore
    from mailroom.adapters.s3 import S3BlobStore
    from mailroom.adapters.stepfunctions import StepFunctionsWorkflow
    from mailroom.settings import WatchdogSettings

    config = WatchdogSettings.from_env()
    return {
        "settings": config,
        "status": DynamoStatusStore(config.status_table, dynamodb()),
        "executions": StepFunctionsWorkflow(config.state_machine_arn, stepfunctions()),
        "objects": S3BlobStore(s3()),
    }


_BUILDERS: Final = (for_starter, for_decrypt, for_parse, for_archive, for_inbox, for_recorder, for_watchdog)


def reset() -> None:
    """Forget every client, setting and adapter (tests, and local mode after its endpoint changes)."""
    with _lock:
        _clients.clear()
    for builder in _BUILDERS:
        builder.cache_clear()
