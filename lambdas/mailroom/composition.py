"""The composition root: AWS clients built once per cold start (tests reset them with ``reset``).

boto3 finds the endpoint itself (``AWS_ENDPOINT_URL`` in local mode), so nothing here knows where
it runs. SDK retries stay short: the state machine's Retry owns the long backoff.
"""

from __future__ import annotations

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
    # Locked: concurrent first calls (local mode runs invocations on many threads) build one client, not several.
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


def reset() -> None:
    """Forget every client (tests, and local mode after its endpoint changes)."""
    with _lock:
        _clients.clear()
