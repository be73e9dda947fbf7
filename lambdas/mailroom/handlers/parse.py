"""Parse state: plaintext MIME → staged files, resolved mailboxes and a manifest."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mailroom import composition
from mailroom.adapters.dynamodb import DynamoMailboxRegistry, DynamoStatusStore
from mailroom.adapters.s3 import S3BlobStore
from mailroom.models import Decrypted
from mailroom.observability import count, step
from mailroom.settings import ParseSettings
from mailroom.steps.parse import parse


@functools.cache
def settings() -> ParseSettings:
    """Read once per cold start."""
    return ParseSettings.from_env()


@step("Parse")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Parse the decrypted email and route it."""
    config = settings()
    result = parse(
        Decrypted.model_validate(event),
        store=S3BlobStore(composition.s3()),
        registry=DynamoMailboxRegistry(config.mailbox_table, composition.dynamodb()),
        envelopes=DynamoStatusStore(config.status_table, composition.dynamodb()),
        staging_bucket=config.staging_bucket,
        domain=config.recipient_domain,
    )
    count("Attachments", result.attachments)
    return result.model_dump(mode="json")
