"""Decrypt state: SES's encrypted object → plaintext MIME in staging."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mailroom import composition
from mailroom.adapters.kms import KmsKeyService
from mailroom.adapters.s3 import S3BlobStore
from mailroom.models import IncomingObject
from mailroom.observability import count, step
from mailroom.settings import DecryptSettings
from mailroom.steps.decrypt import decrypt


@functools.cache
def settings() -> DecryptSettings:
    """Read once per cold start."""
    return DecryptSettings.from_env()


@step("Decrypt")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Decrypt the email the execution input names."""
    config = settings()
    result = decrypt(
        IncomingObject.model_validate(event),
        store=S3BlobStore(composition.s3()),
        keys=KmsKeyService(composition.kms()),
        staging_bucket=config.staging_bucket,
        account_id=config.account_id,
        max_message_bytes=config.max_message_bytes,
        incoming_bucket=config.incoming_bucket,
    )
    count("Bytes", result.mime.size, unit=MetricUnit.Bytes)
    return result.model_dump(mode="json")
