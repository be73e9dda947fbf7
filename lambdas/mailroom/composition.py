"""The composition root: AWS clients built once per cold start (tests reset them with ``reset``).

boto3 finds the endpoint itself (``AWS_ENDPOINT_URL`` in local mode), so nothing here knows where
it runs. SDK retries stay short: the state machine's Retry owns the long backoff.
"""

from __future__ import annotations

import functools
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


@functools.cache
def _client(service: str) -> Any:
    return boto3.session.Session().client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


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
    _client.cache_clear()
