"""Archive state: staged files → the archive bucket, each exactly once."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mailroom import composition
from mailroom.adapters.s3 import S3BlobStore
from mailroom.models import Parsed
from mailroom.observability import step
from mailroom.settings import ArchiveSettings
from mailroom.steps.archive import archive


@functools.cache
def settings() -> ArchiveSettings:
    """Read once per cold start."""
    return ArchiveSettings.from_env()


@step("Archive")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Archive the parsed email's files and manifest."""
    config = settings()
    result = archive(
        Parsed.model_validate(event), store=S3BlobStore(composition.s3()), archive_bucket=config.archive_bucket
    )
    return result.model_dump(mode="json")
