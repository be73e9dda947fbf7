"""Archive state: staged files → the archive bucket, each exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailroom import composition
from mailroom.models import Parsed
from mailroom.observability import step
from mailroom.steps.archive import archive


@step("Archive")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Archive the parsed email's files and manifest."""
    result = archive(Parsed.model_validate(event), **composition.for_archive())
    return result.model_dump(mode="json")
