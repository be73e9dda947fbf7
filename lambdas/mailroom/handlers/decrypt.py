"""Decrypt state: SES's encrypted object → plaintext MIME in staging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mailroom import composition
from mailroom.models import IncomingObject
from mailroom.observability import count, step
from mailroom.steps.decrypt import decrypt


@step("Decrypt")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Decrypt the email the execution input names."""
    result = decrypt(IncomingObject.model_validate(event), **composition.for_decrypt())
    count("Bytes", result.mime.size, unit=MetricUnit.Bytes)
    return result.model_dump(mode="json")
